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
from planestrike_tui.roster import MAX_PANELS, AgentSlot, canonical_spec as canonical, Position, Roster, SlotState, Thought, one_line
from planestrike_tui.widgets.agent_panel import AgentPanel
from planestrike_tui.widgets.board import BoardView, BoardWidget
from planestrike_tui.widgets.comparison_strip import (Agreement, ComparisonStrip, Row, as_strike_distributions,
                                                      relation, versus)
from planestrike_tui.widgets.heatmap import Numbers

# Seconds between spectator moves, slowest first; + and - step through them.
SPECTATOR_DELAYS = (2.0, 1.0, 0.5, 0.25, 0.1, 0.03)
SPECTATOR_START = 2
SPECTATOR_REMATCH_S = 3.0  # pause on a finished spectator game before the next one starts
FALLBACK_OPPONENT = "hunter"  # built into the engine: always loads
# Ready in a fraction of a second (numpy, or LiteRT without TensorFlow): loaded first, one after the other.
LIGHT_KINDS = ("hunter", "random", "optimal", "tflite", "app")
MANY_PANELS = 4  # from this many panels on, they take the compact size (docs/app.md: the layouts)

LEGEND = """[b]Boards[/b]  [b]✕[/b] hit  [b]•[/b] miss  [on $warning]  [/] last strike  coloured: a plane
[b]Panels[/b]  each agent on the board it is about to strike:
a policy's strike probabilities (they sum to 1), the hunter's
hit probabilities (they sum to 8). Log colours over the whole
range; [b]1 2 3[/b] its top cells, reversed: its choice, [dim]·[/dim] tried.
[b]v[/b] numbers (log10 p, rank, %)  [b]f[/b] log10 p minus the reference's
(red: higher, blue: lower)  [b]g[/b] next reference  [b]a[/b]/[b]x[/b] add/remove"""

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
        Binding("f", "toggle_difference", "Differences"),
        Binding("g", "next_reference", "Reference", show=False),
        Binding("a", "add_panel", "Add panel", show=False),  # in the legend and the palette: the footer is full
        Binding("x", "remove_panel", "Remove panel", show=False),
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
        self.seats: tuple[str | None, str] = (None, roster.opponent)  # spec per seat; None is the person
        self.person_plane = 0
        self.cursor = 3 * BOARD_SIZE + 3  # D4: where the person's cursor starts on the board they strike
        self.placing = False
        self.numbers = Numbers.OFF
        self.difference_view = False  # every panel but the reference shows its difference from the reference
        self.reference = self.default_reference()
        self.spectating = False
        self.delay_index = SPECTATOR_START
        self.autoplay: Timer | None = None
        self.move_due = False  # spectator: the timer has ticked and the next agent may move
        self.thoughts: dict[str, Thought] = {}  # spec -> its latest answer
        self.requested: dict[str, Position] = {}  # spec -> last position a worker was started for
        self.agreements: dict[str, Agreement] = {}  # spec -> against the reference, over this game
        self.recorded: dict[str, Position] = {}  # spec -> the last position counted in its agreement
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
            yield ComparisonStrip(id="comparison")
            with Horizontal(id="panels"):
                for spec, slot in self.roster.slots.items():
                    yield AgentPanel(slot, opponent=spec == self.roster.opponent)
        yield Footer()

    def on_mount(self) -> None:
        self.panels_changed()
        self.new_game()
        self.query_one("#target").focus()
        # Loading threads import JAX and TensorFlow and hold the GIL for long stretches: start them only once the
        # first frame is on screen, so the person sees the boards at once.
        self.call_after_refresh(self.start_loading_all)

    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 120  # 80 columns: room for a few more keys
        self.update_comparison()  # the strip's compact form follows the width

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
        """Spec -> panel, in the order shown."""
        return {panel.slot.spec: panel for panel in self.query(AgentPanel)}

    def name_of(self, spec: str | None) -> str:
        if spec is None:
            return "You"
        slot = self.roster.get(spec)
        return slot.short_title if slot else spec

    # ------------------------------------------------------------------------------------------- agents
    def start_loading(self, slot: AgentSlot) -> None:
        self.run_worker(partial(self._load, slot), thread=True, group=f"load-{slot.spec}", exit_on_error=False)

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
        self.panels[message.slot.spec].refresh_state()
        self.request_thoughts()

    @on(AgentFailed)
    @on(ThoughtFailed)
    def agent_failed(self, message: AgentFailed | ThoughtFailed) -> None:
        slot = message.slot
        if not self.roster.is_current(slot):
            return
        slot.close()
        slot.failed(message.message)
        self.thoughts.pop(slot.spec, None)
        self.panels[slot.spec].refresh_state()
        if slot.spec in self.seats:
            self.replace_failed_player(slot)
        self.update_comparison()

    def replace_failed_player(self, slot: AgentSlot) -> None:
        """An agent that cannot play leaves its seat: spectating stops; the opponent becomes the hunter."""
        name = self.name_of(slot.spec)
        if self.spectating:
            self.stop_spectating()
            self.notify(f"{name} can't play ({slot.error}); spectator mode stopped.", severity="warning")
            self.new_game()
            return
        if slot.spec == FALLBACK_OPPONENT:
            self.notify(f"{name} can't play: {slot.error}", severity="error")
            return
        slot.pinned = True  # its panel stays, saying why, until the person removes it (x)
        self.notify(f"{name} can't play: {slot.error}\nPlaying against Hunter instead; press o to choose.",
                    severity="warning", timeout=8)
        self.set_opponent(FALLBACK_OPPONENT, new_game=False)

    @on(ThoughtReady)
    def thought_ready(self, message: ThoughtReady) -> None:
        slot, thought = message.slot, message.thought
        if not self.roster.is_current(slot) or self.match is None or thought.position != self.position():
            return
        self.thoughts[slot.spec] = thought
        self.record_agreements()
        # Only this panel changed, unless it is the reference the difference view subtracts everywhere.
        self.draw_panels(None if self.difference_view and slot.spec == self.reference else slot.spec)
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
        for spec, slot in self.roster.slots.items():
            if slot.state is SlotState.READY and self.requested.get(spec) != position:
                self.requested[spec] = position
                self.run_worker(partial(self._think, slot, position, board), thread=True, group=f"think-{spec}",
                                exit_on_error=False)

    def current_thoughts(self) -> dict[str, Thought]:
        """The answers for the current position, in panel order (not in the order the threads finished)."""
        position = self.position() if self.match else None
        answers = {spec: t for spec, t in self.thoughts.items() if t.position == position}
        return {spec: answers[spec] for spec in self.roster.slots if spec in answers}

    def current_board(self) -> np.ndarray:
        return self.match.boards[self.position().seat].observation()

    # ---------------------------------------------------------------------------------- panels and strip
    def default_reference(self) -> str | None:
        """The panel the others are compared with: the first Flax panel (the source of every conversion), else
        the first panel."""
        slot = self.roster.first_of("flax") or next(iter(self.roster.slots.values()), None)
        return slot.spec if slot else None

    def record_agreements(self) -> None:
        """Count this position, once per panel, in each panel's agreement with the reference over the game."""
        thoughts = self.current_thoughts()
        reference = thoughts.get(self.reference)
        if reference is None:
            return
        board = self.current_board()
        for spec, thought in thoughts.items():
            if spec != self.reference and self.recorded.get(spec) != thought.position:
                self.recorded[spec] = thought.position
                result = versus(thought, reference, board, normalise=self.mixes_scales(spec))
                self.agreements.setdefault(spec, Agreement()).record(result, thought.position.strikes + 1)

    def mixes_scales(self, spec: str) -> bool:
        """Whether ``spec`` and the reference give different kinds of numbers (hit probabilities against strike
        probabilities): they are then compared as strike distributions (``engine.policy_distance``)."""
        slot, reference = self.roster.get(spec), self.roster.get(self.reference)
        return bool(slot and reference) and slot.gives_hit_probabilities != reference.gives_hit_probabilities

    def draw_panels(self, only: str | None = None) -> None:
        """Every panel (or just ``only``'s) with an answer for this position: its probabilities, or in the
        difference view its difference from the reference's answer."""
        if self.match is None:
            return
        thoughts = self.current_thoughts()
        board = self.current_board()
        reference = thoughts.get(self.reference)
        reference_slot = self.roster.get(self.reference) if self.reference else None
        for spec, panel in self.panels.items():
            if only is not None and spec != only:
                continue
            panel.reference = spec == self.reference and (self.difference_view or len(self.roster.slots) > 1)
            thought = thoughts.get(spec)
            if thought is None:
                panel.refresh_state()
            elif self.difference_view and reference is not None and spec != self.reference:
                if self.mixes_scales(spec):
                    thought, reference_now = as_strike_distributions(thought, reference, board)
                else:
                    reference_now = reference
                panel.show_difference(board, thought, reference_now, reference_slot.short_title)
            else:
                panel.show_thought(board, thought)

    def update_comparison(self) -> None:
        if self.match is None:
            return
        thoughts = self.current_thoughts()
        reference_slot = self.roster.get(self.reference) if self.reference else None
        rows = []
        if reference_slot is not None:
            reference = thoughts.get(self.reference)
            board = self.current_board()
            for spec, slot in self.roster.slots.items():
                if spec == self.reference or slot.state is SlotState.FAILED:
                    continue
                thought = thoughts.get(spec)
                result = (versus(thought, reference, board, normalise=self.mixes_scales(spec))
                          if thought and reference else None)
                rows.append(Row(slot, result, self.agreements.get(spec, Agreement()),
                                relation(slot, reference_slot)))
        latencies = {self.roster.slots[spec].short_title: t.latency_s for spec, t in thoughts.items()}
        self.query_one(ComparisonStrip).show_rows(reference_slot, rows, latencies, compact=self.size.width < 120)

    def panels_changed(self) -> None:
        """After a panel came or went: the reference still exists, the opponent's panel is first, the layout
        class follows the count."""
        if self.reference not in self.roster.slots:
            self.reference = self.default_reference()
            self.agreements.clear()
            self.recorded.clear()
            self.record_agreements()
        container = self.query_one("#panels")
        panels = self.panels
        opponent = panels.get(self.roster.opponent)
        if opponent is not None and container.children and container.children[0] is not opponent:
            container.move_child(opponent, before=0)
        for spec, panel in panels.items():
            panel.opponent = spec == self.seats[1] or (self.spectating and spec in self.seats)
        self.set_class(len(panels) >= MANY_PANELS, "-many-panels")
        self.draw_panels()
        self.update_comparison()

    # ------------------------------------------------------------------------------------------ the game
    def new_game(self) -> None:
        self.match_number += 1
        first_plane, second_plane = (int(p) for p in draw_placements(self.rng, 2))
        self.person_plane = first_plane
        self.match = Match(first_plane, second_plane)
        self.placing = False
        self.move_due = False
        self.notice = ""
        self.agreements.clear()
        self.recorded.clear()
        self.render_boards()
        self.request_thoughts()
        self.update_comparison()
        self.refresh_bindings()

    def advance(self) -> None:
        """Let the agent whose turn it is strike, once its thought about this position is in."""
        match = self.match
        if match is None or match.over or self.placing:
            return
        spec = self.seats[match.to_move]
        if spec is None:
            return
        thought = self.current_thoughts().get(spec)
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
            lines.append("Your turn: arrows + enter, or click a cell.")
            if match.boards[0].strikes == 0:
                lines.append("[dim]p: place your plane[/dim]")
        else:
            spec = self.seats[match.to_move]
            slot = self.roster.get(spec)
            state = "loading" if slot.state is SlotState.LOADING else "thinking"
            lines.append(f"{self.name_of(spec)} is {state}…")
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
        """Cycle what the cells write: nothing, log10 p, rank, percent."""
        self.numbers = self.numbers.next()
        for panel in self.query(AgentPanel):
            panel.heatmap.numbers = self.numbers
        if self.numbers is not Numbers.OFF:
            self.notify(f"Numbers: {self.numbers.value}", timeout=2)

    def action_toggle_difference(self) -> None:
        """Show every panel but the reference as its signed difference from the reference, or go back."""
        if self.reference is None or len(self.roster.slots) < 2:
            self.notify("The difference view needs two panels: add one with a.", severity="warning")
            return
        self.difference_view = not self.difference_view
        self.draw_panels()
        if self.difference_view:
            self.notify(f"log10 p minus {self.roster.slots[self.reference].title}'s: red higher, blue lower, "
                        "full colour a decade or more; ◆ the panel's choice, ◇ the reference's. g: another reference.",
                        timeout=5)

    def action_next_reference(self) -> None:
        """Compare with the next panel instead (the strip and the difference view follow)."""
        specs = list(self.roster.slots)
        if not specs:
            return
        index = specs.index(self.reference) if self.reference in specs else -1
        self.set_reference(specs[(index + 1) % len(specs)])

    def set_reference(self, spec: str) -> None:
        self.reference = spec
        self.agreements.clear()  # counted against another panel: start again from this position
        self.recorded.clear()
        self.record_agreements()
        self.draw_panels()
        self.update_comparison()
        self.notify(f"Reference: {self.roster.slots[spec].title}", timeout=2)

    def action_choose_opponent(self) -> None:
        from planestrike_tui.screens.agent_dialog import AgentDialog

        self.app.push_screen(AgentDialog.for_opponent(self.roster, self.seats[1]), self.opponent_chosen)

    def opponent_chosen(self, spec: str | None) -> None:
        if spec:
            self.set_opponent(spec)

    def set_opponent(self, spec: str, new_game: bool = True) -> None:
        """Make ``spec`` the opponent (adding its panel, first, if it has none; the previous opponent's panel
        goes if it was shown only as the opponent) and, by default, start afresh."""
        if self.spectating:
            self.stop_spectating()
        slot, removed = self.roster.set_opponent(spec)
        self.seats = (None, slot.spec)
        if removed is not None:
            self.unmount_panel(removed.spec)
        if slot.spec not in self.panels:
            self.query_one("#panels").mount(AgentPanel(slot, opponent=True), before=0)
            self.start_loading(slot)
        self.panels_changed()
        if new_game:
            self.new_game()
        else:
            self.render_boards()
            self.advance()

    def add_panel(self, spec: str) -> AgentSlot | None:
        """A panel for ``spec`` after the others (or the existing one, pinned). Refused beyond MAX_PANELS."""
        existing = self.roster.get(spec) or self.roster.get(canonical(spec))
        if existing is not None:
            existing.pinned = True
            self.notify(f"{existing.title} already has a panel.", timeout=3)
            return existing
        if len(self.roster.slots) >= MAX_PANELS:
            self.notify(f"At most {MAX_PANELS} panels: remove one first (x).", severity="warning")
            return None
        slot = self.roster.add(spec)
        self.query_one("#panels").mount(AgentPanel(slot))
        self.start_loading(slot)
        self.call_after_refresh(self.panels_changed)  # once mounted
        self.render_status()
        return slot

    def action_add_panel(self) -> None:
        from planestrike_tui.screens.agent_dialog import AgentDialog

        if len(self.roster.slots) >= MAX_PANELS:
            self.notify(f"At most {MAX_PANELS} panels: remove one first (x).", severity="warning")
            return
        self.app.push_screen(AgentDialog.for_panel(self.roster), self.panel_chosen)

    def panel_chosen(self, spec: str | None) -> None:
        if spec:
            self.add_panel(spec)

    def remove_panel(self, spec: str) -> None:
        """Remove a panel and close its agent. The opponent's (and, while spectating, both players') stay: they
        are playing."""
        if spec in self.seats:
            self.notify("That agent is playing: choose another opponent first (o).", severity="warning")
            return
        self.roster.remove(spec)
        self.unmount_panel(spec)
        self.call_after_refresh(self.panels_changed)
        if self.difference_view and len(self.roster.slots) < 2:
            self.difference_view = False

    def unmount_panel(self, spec: str) -> None:
        panel = self.panels.get(spec)
        if panel is not None:
            panel.remove()
        for table in (self.thoughts, self.requested, self.agreements, self.recorded):
            table.pop(spec, None)

    def action_remove_panel(self) -> None:
        from planestrike_tui.screens.agent_dialog import PanelChoiceDialog

        removable = [slot for spec, slot in self.roster.slots.items() if spec not in self.seats]
        if not removable:
            self.notify("Only the opponent's panel is left.", severity="warning")
            return
        self.app.push_screen(PanelChoiceDialog(removable), self.panel_to_remove)

    def panel_to_remove(self, spec: str | None) -> None:
        if spec:
            self.remove_panel(spec)

    def reload(self, spec: str, *, replacing: str | None = None) -> AgentSlot | None:
        """Load ``spec`` into the panel ``replacing`` (another model for it), or into its own panel if it has
        one, or add a panel for it; the panel shows loading until the agent is ready."""
        key = canonical(spec)
        if key in self.roster.slots:
            replacing = key  # that panel reloads its own model (a file rewritten by a conversion)
        elif replacing not in self.roster.slots:
            return self.add_panel(spec)
        panel = self.panels.get(replacing)
        slot = self.roster.replace(replacing, spec)
        self.seats = tuple(slot.spec if seat == replacing else seat for seat in self.seats)
        if self.reference == replacing:
            self.reference = slot.spec
        for table in (self.thoughts, self.requested, self.agreements, self.recorded):
            table.pop(replacing, None)
        if panel is not None:
            panel.attach(slot, opponent=slot.spec in self.seats)
        else:
            self.query_one("#panels").mount(AgentPanel(slot))
        self.start_loading(slot)
        self.panels_changed()
        self.render_status()
        return slot

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
        for spec in (first, second):
            slot = self.roster.get(spec)
            if slot is not None and slot.state is SlotState.FAILED:
                self.notify(f"{self.name_of(spec)} is not available for spectator mode.", severity="warning")
                return
            if slot is None:  # a player needs its panel: shown while it plays, like an opponent's
                slot = self.roster.add(spec, pinned=False)
                self.query_one("#panels").mount(AgentPanel(slot))
                self.start_loading(slot)
        self.call_after_refresh(self.panels_changed)
        self.spectating = True
        self.seats = (first, second)
        self.autoplay = self.set_interval(SPECTATOR_DELAYS[self.delay_index], self.autoplay_tick)
        self.new_game()

    def stop_spectating(self) -> None:
        self.spectating = False
        self.seats = (None, self.roster.opponent)
        added = [spec for spec, slot in self.roster.slots.items() if not slot.pinned and spec != self.roster.opponent]
        for spec in added:  # a player's panel added for spectating goes
            self.roster.remove(spec)
            self.unmount_panel(spec)
        if added:
            self.call_after_refresh(self.panels_changed)
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
