"""The main screen: the two boards, one probability panel per agent, and the comparison strip.

The person is the first player of an ``engine.Match`` and the opponent agent the second; in spectator mode two
agents take the seats and a timer paces their moves. Every agent "thinks" (probabilities + choice) in a thread
worker whenever the board it is about to strike changes; the answers come back as messages tagged with the
position they answer, so a late answer for an old position is simply dropped. Rules, probabilities and models all
live outside the app: this screen only calls the engine and the roster's slots and draws what they return.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Static

from engine.match import Match, Outcome
from engine.placements import draw_placements
from engine.rules import BOARD_SIZE, PLANE_SIZE
from planestrike_tui import placement_editor
from planestrike_tui.messages import AgentFailed, AgentLoaded, ThoughtFailed, ThoughtReady
from planestrike_tui.roster import AgentSlot, Position, Roster, SlotState, Thought, one_line
from planestrike_tui.widgets.agent_panel import AgentPanel
from planestrike_tui.widgets.board import BoardView, BoardWidget
from planestrike_tui.widgets.comparison_strip import ComparisonStrip

# Seconds between spectator moves, slowest first; + and - step through them.
SPECTATOR_DELAYS = (2.0, 1.0, 0.5, 0.25, 0.1, 0.03)
SPECTATOR_START = 2
SPECTATOR_REMATCH_S = 3.0  # pause on a finished spectator game before the next one starts
FALLBACK_OPPONENT = "hunter"  # built into the engine: always loads
LIGHT_KINDS = ("hunter", "random", "tflite")  # ready in a fraction of a second: numpy, or LiteRT without TensorFlow

LEGEND = """[b]Boards[/b]  [b]✕[/b] hit  [b]•[/b] miss  [on $warning]  [/] last strike  coloured: a plane
[b]Panels[/b]  each agent's probability for every cell of the board
it is about to strike (log colours): [b]◆[/b] its choice, [dim]·[/dim] tried.
[b]v[/b] shows the numbers; the strip below compares Flax and LiteRT."""

ARROWS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


class GameScreen(Screen):
    BINDINGS = [
        *(Binding(key, f"arrow('{key}')", key.capitalize(), show=False) for key in ARROWS),
        Binding("enter,space", "strike", "Strike"),
        Binding("n", "new_game", "New game"),
        Binding("o", "choose_opponent", "Opponent"),
        Binding("p", "toggle_placement", "Place plane"),
        Binding("r", "turn_plane", "Turn plane"),
        Binding("v", "toggle_numbers", "Numbers"),
        Binding("s", "toggle_spectator", "Spectate"),
        Binding("plus,equals_sign", "speed(1)", "Faster"),
        Binding("minus", "speed(-1)", "Slower"),
        Binding("t", "app.train", "Train"),
        Binding("c", "app.convert", "Convert"),
        Binding("l", "app.load_model", "Load model"),
        Binding("d", "app.devices", "Phone"),
    ]

    def __init__(self, roster: Roster) -> None:
        super().__init__()
        self.roster = roster
        self.rng = np.random.default_rng(roster.config.seed)
        self.match_number = 0
        self.match: Match | None = None
        self.seats: tuple[str | None, str] = (None, roster.opponent)  # kind per seat; None is the person
        self.person_plane = 0
        self.cursor = 3 * BOARD_SIZE + 3  # D4: where the person's cursor starts on the board they strike
        self.placing = False
        self.show_numbers = False
        self.spectating = False
        self.delay_index = SPECTATOR_START
        self.autoplay: Timer | None = None
        self.move_due = False  # spectator: the timer has ticked and the next agent may move
        self.thoughts: dict[str, Thought] = {}
        self.requested: dict[str, Position] = {}  # kind -> last position a worker was started for
        self.score = {"won": 0, "lost": 0, "drawn": 0}
        self.notice = ""  # one line about the last event (a refused strike, a fallback)

    # ----------------------------------------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="main"):
            with Horizontal(id="boards"):
                yield BoardWidget(id="target")
                yield BoardWidget(id="own")
                with Vertical(id="side"):
                    yield Static(id="status")
                    yield Static(LEGEND, id="legend")
            with Horizontal(id="panels"):
                for kind, slot in self.roster.slots.items():
                    yield AgentPanel(slot, opponent=kind == self.roster.opponent)
            yield ComparisonStrip(id="comparison")
        yield Footer()

    def on_mount(self) -> None:
        self.new_game()
        self.query_one("#target").focus()
        # Loading threads import JAX and TensorFlow and hold the GIL for long stretches: start them only once the
        # first frame is on screen, so the person sees the boards at once.
        self.call_after_refresh(self.start_loading_all)

    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 120  # 80 columns: room for a few more keys

    def start_loading_all(self) -> None:
        # Light agents first, one after the other, before anything imports JAX: sharing the GIL with that import
        # would delay the hunter and LiteRT panels by most of a second. Then the rest, side by side.
        slots = list(self.roster.slots.values())
        light = sorted((slot for slot in slots if slot.kind in LIGHT_KINDS), key=lambda s: LIGHT_KINDS.index(s.kind))
        heavy = [slot for slot in slots if slot.kind not in LIGHT_KINDS]

        def load_light_then_heavy() -> None:  # in a thread
            for slot in light:
                self._load(slot)
            for slot in heavy:
                self.app.call_from_thread(self.start_loading, slot)

        self.run_worker(load_light_then_heavy, thread=True, group="load-light", exit_on_error=False)

    @property
    def panels(self) -> dict[str, AgentPanel]:
        return {panel.slot.kind: panel for panel in self.query(AgentPanel)}

    def name_of(self, kind: str | None) -> str:
        if kind is None:
            return "You"
        slot = self.roster.get(kind)
        return slot.title.split(" · ")[0] if slot else kind

    # ------------------------------------------------------------------------------------------- agents
    def start_loading(self, slot: AgentSlot) -> None:
        self.run_worker(partial(self._load, slot), thread=True, group=f"load-{slot.kind}", exit_on_error=False)

    def _load(self, slot: AgentSlot) -> None:  # in a thread
        try:
            agent = slot.load()
        except BaseException as error:  # any failure is this panel's problem, never the app's
            self.post_message(AgentFailed(slot, one_line(error)))
        else:
            self.post_message(AgentLoaded(slot, agent))

    def _think(self, slot: AgentSlot, position: Position, board: np.ndarray) -> None:  # in a thread
        try:
            thought = slot.think(position, board)
        except BaseException as error:
            self.post_message(ThoughtFailed(slot, one_line(error)))
        else:
            self.post_message(ThoughtReady(slot, thought))

    @on(AgentLoaded)
    def agent_loaded(self, message: AgentLoaded) -> None:
        if not self.roster.is_current(message.slot):
            message.agent.close()  # a model was replaced while this one loaded
            return
        message.slot.loaded(message.agent)
        self.panels[message.slot.kind].refresh_state()
        self.request_thoughts()

    @on(AgentFailed)
    @on(ThoughtFailed)
    def agent_failed(self, message: AgentFailed | ThoughtFailed) -> None:
        slot = message.slot
        if not self.roster.is_current(slot):
            return
        slot.close()
        slot.failed(message.message)
        self.thoughts.pop(slot.kind, None)
        self.panels[slot.kind].refresh_state()
        if slot.kind in self.seats:
            self.replace_failed_player(slot)
        self.update_comparison()

    def replace_failed_player(self, slot: AgentSlot) -> None:
        """An agent that cannot play leaves its seat: spectating stops; the opponent becomes the hunter."""
        name = self.name_of(slot.kind)
        if self.spectating:
            self.stop_spectating()
            self.notify(f"{name} can't play ({slot.error}); spectator mode stopped.", severity="warning")
            self.new_game()
            return
        if slot.kind == FALLBACK_OPPONENT:
            self.notify(f"{name} can't play: {slot.error}", severity="error")
            return
        self.notify(f"{name} can't play: {slot.error}\nPlaying against Hunter instead; press o to choose.",
                    severity="warning", timeout=8)
        self.set_opponent(FALLBACK_OPPONENT, new_game=False)

    @on(ThoughtReady)
    def thought_ready(self, message: ThoughtReady) -> None:
        slot, thought = message.slot, message.thought
        if not self.roster.is_current(slot) or self.match is None or thought.position != self.position():
            return
        self.thoughts[slot.kind] = thought
        self.panels[slot.kind].show_thought(self.match.boards[thought.position.seat].observation(), thought)
        self.update_comparison()
        self.advance()

    def position(self) -> Position:
        """The position the next agent will strike. In a person's game that is always the opponent's, so the
        panels show what the agent is about to do while the person is still choosing."""
        seat = self.match.to_move if self.spectating else 1
        return Position(self.match_number, seat, self.match.boards[seat].strikes)

    def request_thoughts(self) -> None:
        if self.match is None or self.match.over:
            return
        position = self.position()
        board = self.match.boards[position.seat].observation()
        for kind, slot in self.roster.slots.items():
            if slot.state is SlotState.READY and self.requested.get(kind) != position:
                self.requested[kind] = position
                self.run_worker(partial(self._think, slot, position, board), thread=True, group=f"think-{kind}",
                                exit_on_error=False)

    def current_thoughts(self) -> dict[str, Thought]:
        """The answers for the current position, in panel order (not in the order the threads finished)."""
        position = self.position() if self.match else None
        answers = {kind: t for kind, t in self.thoughts.items() if t.position == position}
        return {kind: answers[kind] for kind in self.roster.slots if kind in answers}

    def update_comparison(self) -> None:
        self.query_one(ComparisonStrip).update_thoughts(self.current_thoughts())

    # ------------------------------------------------------------------------------------------ the game
    def new_game(self) -> None:
        self.match_number += 1
        first_plane, second_plane = (int(p) for p in draw_placements(self.rng, 2))
        self.person_plane = first_plane
        self.match = Match(first_plane, second_plane)
        self.placing = False
        self.move_due = False
        self.notice = ""
        self.render_boards()
        self.request_thoughts()
        self.update_comparison()
        self.refresh_bindings()

    def advance(self) -> None:
        """Let the agent whose turn it is strike, once its thought about this position is in."""
        match = self.match
        if match is None or match.over or self.placing:
            return
        kind = self.seats[match.to_move]
        if kind is None:
            return
        thought = self.current_thoughts().get(kind)
        if thought is None or (self.spectating and not self.move_due):
            self.render_status()
            return
        self.move_due = False
        self.play(thought.choice)

    def play(self, action: int) -> None:
        self.match.strike(action)
        if self.match.over:
            self.finish()
        self.render_boards()
        self.update_comparison()
        self.request_thoughts()
        self.advance()

    def finish(self) -> None:
        outcome = self.match.outcome
        if not self.spectating:
            key = {Outcome.FIRST_WINS: "won", Outcome.SECOND_WINS: "lost", Outcome.DRAW: "drawn"}[outcome]
            self.score[key] += 1
        else:
            self.set_timer(SPECTATOR_REMATCH_S, self.spectator_rematch)
        self.refresh_bindings()

    def spectator_rematch(self) -> None:
        if self.spectating and self.match.over:
            self.new_game()

    def outcome_text(self) -> str:
        outcome = self.match.outcome
        if outcome is Outcome.DRAW:
            return "Draw: both planes fell in the same round."
        winner = self.seats[0] if outcome is Outcome.FIRST_WINS else self.seats[1]
        strikes = self.match.boards[0 if outcome is Outcome.FIRST_WINS else 1].strikes
        if winner is None:
            return f"You win in {strikes} strikes!"
        return f"{self.name_of(winner)} wins in {strikes} strikes."

    # ------------------------------------------------------------------------------------------- drawing
    def render_boards(self) -> None:
        match = self.match
        over = match.over
        target, own = self.query_one("#target", BoardWidget), self.query_one("#own", BoardWidget)
        first, second = self.seats
        # boards[0] hides the second seat's plane and is struck by the first seat; boards[1] the reverse.
        show_all = self.spectating or over
        target.show(BoardView(
            match.boards[0].observation(),
            plane=match.boards[0].plane if show_all else None,
            last=match.boards[0].last_action,
            plane_look="board--plane" if self.spectating else "board--reveal",
        ))
        own.show(BoardView(
            match.boards[1].observation(),
            plane=match.boards[1].plane,
            last=match.boards[1].last_action,
            plane_look="board--placing" if self.placing else "board--plane",
        ))
        target.cursor = None if (self.spectating or over or self.placing) else self.cursor
        if self.spectating:
            target.border_title = f"{self.name_of(second)}'s board · {self.name_of(first)} strikes"
            own.border_title = f"{self.name_of(first)}'s board · {self.name_of(second)} strikes"
        else:
            target.border_title = f"{self.name_of(second)}'s board"
            own.border_title = "Your board"
        for widget, game in ((target, match.boards[0]), (own, match.boards[1])):
            widget.border_subtitle = f"{game.strikes} strike{'' if game.strikes == 1 else 's'} · {game.hits}/{PLANE_SIZE} hits"
        self.render_status()

    def render_status(self) -> None:
        match = self.match
        first, second = self.seats
        lines = [f"[b]{self.name_of(first)} vs {self.name_of(second)}[/b]"]
        if match.over:
            lines.append(f"[b $accent]{self.outcome_text()}[/]")
            lines.append("Press [b]n[/b] for a new game." if not self.spectating else "Next game in a moment…")
        elif self.placing:
            lines.append("[b]Placing your plane[/b]: arrows move it, [b]r[/b] turns it, [b]enter[/b] confirms.")
        elif self.seats[match.to_move] is None:
            lines.append("Your turn: strike with arrows + enter, or click a cell.")
            if match.boards[0].strikes == 0:
                lines.append("[dim]p: move your plane first[/dim]")
        else:
            kind = self.seats[match.to_move]
            slot = self.roster.get(kind)
            state = "loading" if slot.state is SlotState.LOADING else "thinking"
            lines.append(f"{self.name_of(kind)} is {state}…")
        if self.spectating:
            lines.append(f"Spectating · one move every {SPECTATOR_DELAYS[self.delay_index]:g} s (+/-)")
        else:
            s = self.score
            lines.append(f"Score  won {s['won']} · lost {s['lost']} · drawn {s['drawn']}")
        if self.notice:
            lines.append(f"[$warning]{self.notice}[/]")
        self.query_one("#status", Static).update("\n".join(lines))
        self.sub_title = f"{self.name_of(first)} vs {self.name_of(second)}"

    # ------------------------------------------------------------------------------------------- actions
    def person_can_strike(self) -> bool:
        match = self.match
        return (match is not None and not match.over and not self.spectating and not self.placing
                and self.seats[match.to_move] is None)

    def strike(self, action: int) -> None:
        if not self.person_can_strike():
            return
        if self.match.boards[0].is_tried(action):
            self.notice = "That cell was already struck: choose another."
            self.app.bell()
            self.render_status()
            return
        self.notice = ""
        self.play(action)

    def action_strike(self) -> None:
        if self.placing:
            self.action_toggle_placement()
            return
        self.strike(self.cursor)

    @on(BoardWidget.CellClicked, "#target")
    def cell_clicked(self, message: BoardWidget.CellClicked) -> None:
        if self.person_can_strike():
            self.cursor = message.board.cursor = message.action
            self.strike(message.action)

    def action_arrow(self, key: str) -> None:
        d_row, d_col = ARROWS[key]
        if self.placing:
            moved = placement_editor.moved(self.person_plane, d_row, d_col)
            self.place(moved, "The plane can't go further that way.")
            return
        if not self.person_can_strike():
            return
        row, col = divmod(self.cursor, BOARD_SIZE)
        row, col = min(max(row + d_row, 0), BOARD_SIZE - 1), min(max(col + d_col, 0), BOARD_SIZE - 1)
        self.cursor = self.query_one("#target", BoardWidget).cursor = row * BOARD_SIZE + col

    def action_turn_plane(self) -> None:
        if self.placing:
            self.place(placement_editor.turned(self.person_plane), "No room to turn the plane here: move it first.")

    def place(self, placement: int | None, refusal: str) -> None:
        """Put the person's plane at ``placement`` (before the first strike: the match restarts on it)."""
        if placement is None:
            self.notice = refusal
            self.app.bell()
        else:
            self.notice = ""
            self.person_plane = placement
            self.match = Match(placement, self.match.boards[0].placement)
        self.render_boards()

    def action_toggle_placement(self) -> None:
        if self.placing:
            self.placing = False
        elif self.can_place():
            self.placing = True
        self.render_boards()
        self.refresh_bindings()
        self.advance()

    def can_place(self) -> bool:
        match = self.match
        return not self.spectating and not match.over and match.boards[0].strikes == 0 and match.boards[1].strikes == 0

    def action_new_game(self) -> None:
        self.new_game()

    def action_toggle_numbers(self) -> None:
        self.show_numbers = not self.show_numbers
        for panel in self.query(AgentPanel):
            panel.heatmap.show_numbers = self.show_numbers

    def action_choose_opponent(self) -> None:
        from planestrike_tui.screens.opponent_dialog import OpponentDialog

        self.app.push_screen(OpponentDialog(self.roster, self.seats[1]), self.opponent_chosen)

    def opponent_chosen(self, spec: str | None) -> None:
        if spec:
            self.set_opponent(spec)

    def set_opponent(self, spec: str, new_game: bool = True) -> None:
        """Make ``spec`` the opponent (adding a panel for a kind not loaded yet) and, by default, start afresh."""
        if self.spectating:
            self.stop_spectating()
        had_slot = spec.partition(":")[0] in self.roster.slots
        kind = self.roster.add(spec)
        self.roster.opponent = kind
        self.seats = (None, kind)
        slot = self.roster.get(kind)
        if not had_slot:
            panel = AgentPanel(slot, opponent=True)
            self.query_one("#panels").mount(panel)
            self.start_loading(slot)
        elif self.panels[kind].slot is not slot:  # a different device or model for a kind already shown
            self.panels[kind].attach(slot, opponent=True)
            self.start_loading(slot)
        for panel_kind, panel in self.panels.items():
            panel.attach(panel.slot, opponent=panel_kind == kind)
        if new_game:
            self.new_game()
        else:
            self.render_boards()
            self.advance()

    def reload(self, spec: str) -> None:
        """Load another model for a kind (``flax:DIR``, ``tflite:FILE``); its panel shows loading until ready."""
        slot = self.roster.replace(spec)
        self.thoughts.pop(slot.kind, None)
        self.requested.pop(slot.kind, None)
        if slot.kind in self.panels:
            self.panels[slot.kind].attach(slot, opponent=slot.kind == self.seats[1])
        else:
            self.query_one("#panels").mount(AgentPanel(slot, opponent=False))
        self.start_loading(slot)
        self.update_comparison()
        self.render_status()

    # ------------------------------------------------------------------------------------------ spectator
    def spectator_pair(self) -> tuple[str, str]:
        opponent = self.roster.opponent
        challenger = FALLBACK_OPPONENT if opponent != FALLBACK_OPPONENT else "flax"
        return opponent, challenger

    def action_toggle_spectator(self) -> None:
        if self.spectating:
            self.stop_spectating()
            self.seats = (None, self.roster.opponent)
            self.new_game()
            return
        first, second = self.spectator_pair()
        for kind in (first, second):
            slot = self.roster.get(kind)
            if slot is None or slot.state is SlotState.FAILED:
                self.notify(f"{self.name_of(kind)} is not available for spectator mode.", severity="warning")
                return
        self.spectating = True
        self.seats = (first, second)
        self.autoplay = self.set_interval(SPECTATOR_DELAYS[self.delay_index], self.autoplay_tick)
        self.new_game()

    def stop_spectating(self) -> None:
        self.spectating = False
        self.seats = (None, self.roster.opponent)
        if self.autoplay is not None:
            self.autoplay.stop()
            self.autoplay = None
        self.refresh_bindings()

    def autoplay_tick(self) -> None:
        self.move_due = True
        self.advance()

    def action_speed(self, step: int) -> None:
        if not self.spectating:
            return
        self.delay_index = min(max(self.delay_index + step, 0), len(SPECTATOR_DELAYS) - 1)
        self.autoplay.stop()
        self.autoplay = self.set_interval(SPECTATOR_DELAYS[self.delay_index], self.autoplay_tick)
        self.render_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the bindings that mean nothing in the current mode (the footer follows)."""
        if action == "turn_plane":
            return self.placing
        if action == "speed":
            return self.spectating
        if action == "toggle_placement":
            return self.placing or (self.match is not None and self.can_place())
        if action == "strike":
            return not self.spectating
        return True
