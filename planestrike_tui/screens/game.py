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
from engine.rules import BOARD_SIZE, PLANE_SIZE, cell_name
from planestrike_tui import placement_editor
from planestrike_tui.messages import (AgentFailed, AgentLoaded, PositionSolved, SolveFailed, ThoughtFailed, ThoughtReady,
                                      load_agent, think)
from planestrike_tui.regrets import Judge, RegretBook, board_key
from planestrike_tui.spectator_tally import SpectatorTally
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
CRAMPED_WIDTH = 80  # narrower than this, the status goes under the boards (planestrike.tcss: GameScreen.-cramped)
SOLVING_NOTICE_S = 0.25  # an optimal panel still without its answer after this long says "solving…"
SEATS = ("seat0", "seat1")  # the regret book's actors for the moves really played, by seat

LEGEND = """[b]Boards[/b]  [b]✕[/b] hit  [b]•[/b] miss  [on $warning]  [/] last strike  [b]○[/b] never hit  [b]★[/b] hint
[b]Panels[/b]  each agent on the board marked [b]panels ▼[/b]: a policy's
strike probabilities (sum 1), the hunter's hit probabilities
(sum 8), the optimal agent's expected strikes to finish. Log
colours; [b]1 2 3[/b] top cells, reversed: the choice. Under each:
its choice, what it costs against perfect play, [b]Σ[/b] the game's.
[b]v[/b] numbers  [b]f[/b] minus the reference  [b]g[/b] reference  [b]a[/b]/[b]x[/b] panels  [b]?[/b] help"""

ARROWS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


def model_hash(slot: AgentSlot | None) -> str | None:
    """The sha256 of the model file a slot's agent plays (a .tflite's bytes, a checkpoint's), if it has one."""
    agent = slot.agent if slot is not None else None
    info = getattr(agent, "info", None)
    return getattr(info, "sha256", None) or getattr(agent, "source_checkpoint_sha256", None)


class GameScreen(Screen):
    # The footer shows what a person needs to play (it must fit 80 columns with ^q Quit); every key is in the help
    # screen (? or F1), the legend and the palette.
    BINDINGS = [
        *(Binding(key, f"arrow('{key}')", key.capitalize(), show=False) for key in ARROWS),
        Binding("enter,space", "strike", "Strike"),
        Binding("space", "pause", "Pause"),  # spectator mode: the strike binding is off, so space reaches this
        Binding("n", "new_game", "New"),
        Binding("o", "choose_opponent", "Opponent"),
        Binding("p", "toggle_placement", "Place"),
        Binding("r", "turn_plane", "Turn"),
        Binding("h", "hint", "Hint"),
        Binding("v", "toggle_numbers", "Numbers", show=False),
        Binding("f", "toggle_difference", "Differences", show=False),
        Binding("g", "next_reference", "Reference", show=False),
        Binding("a", "add_panel", "Add panel", show=False),
        Binding("x", "remove_panel", "Remove panel", show=False),
        Binding("s", "toggle_spectator", "Spectate"),
        Binding("S", "choose_spectators", "Spectate…", show=False),
        Binding("b", "watch_other_board", "Board"),
        Binding("plus,equals_sign", "speed(1)", "Faster"),
        Binding("minus", "speed(-1)", "Slower"),
        Binding("t", "app.train", "Train", show=False),
        Binding("c", "app.convert", "Convert", show=False),
        Binding("l", "app.load_model", "Load model", show=False),
        Binding("d", "app.devices", "Phone", show=False),
        Binding("question_mark,f1", "help", "Help"),
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
        self.shown_binding_state: tuple[bool, bool, bool] | None = None  # what the footer was last refreshed for
        self.numbers = Numbers.OFF
        self.difference_view = False  # every panel but the reference shows its difference from the reference
        self.reference = self.default_reference()
        self.spectating = False
        self.delay_index = SPECTATOR_START
        self.autoplay: Timer | None = None
        self.move_due = False  # spectator: the timer has ticked and the next agent may move
        self.paused = False  # spectator: the presenter stopped the clock (space); right arrow steps one move
        self.chosen_pair: tuple[str, str] | None = None  # spectator: the players chosen with S or --spectate
        self.tally = SpectatorTally(("", ""))
        self.thoughts: dict[str, Thought] = {}  # spec -> its latest answer for the panels' position
        self.requested: dict[str, Position] = {}  # spec -> last position a worker was started for
        self.watched = 0  # spectator mode: the seat whose board the panels show (the board it strikes)
        self.move_thought: Thought | None = None  # spectator mode: the player to move's answer off the watched board
        self.move_requested: tuple[str, Position] | None = None
        self.last_shown: tuple[Position, np.ndarray] | None = None  # the panels' latest position and its board
        self.agreements: dict[str, Agreement] = {}  # spec -> against the reference, over this game
        self.recorded: dict[str, Position] = {}  # spec -> the last position counted in its agreement
        self.score = {"won": 0, "lost": 0, "drawn": 0}
        self.judge = Judge()  # exact solutions of the positions this game passes through (solved in workers)
        self.book = RegretBook()  # every panel's choices and every move played, for their regrets
        self.solving: set[bytes] = set()  # boards a worker is solving
        self.hint_wanted = False  # the person asked for a hint; shown once their board is solved
        self.hints: tuple[int, ...] = ()
        self.moves: list[tuple[int, int, bool]] = []  # (seat, cell, hit) of this game, for its record
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
                    yield AgentPanel(slot, role="opponent" if spec == self.roster.opponent else None)
        yield Footer(show_command_palette=False)  # ctrl+p is in the help screen: the footer keeps room for ^q Quit

    def on_mount(self) -> None:
        self.panels_changed()
        if self.roster.config.spectate:
            self.spectate(*self.roster.config.spectate)
        else:
            self.new_game()
        self.query_one("#target").focus()
        # Loading threads import JAX and TensorFlow and hold the GIL for long stretches: start them only once the
        # first frame is on screen, so the person sees the boards at once.
        self.call_after_refresh(self.start_loading_all)

    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 120  # 80 columns: room for a few more keys
        self.set_class(self.size.width < CRAMPED_WIDTH, "-cramped")
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
        self.post_message(load_agent(slot))

    def _think(self, slot: AgentSlot, position: Position, board: np.ndarray) -> None:  # in a thread
        self.post_message(think(slot, position, board))

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
        if not self.roster.is_current(slot) or self.match is None:
            return
        if thought.position != self.position():
            if thought.position == self.move_position() and slot.spec == self.seats[self.match.to_move]:
                self.move_thought = thought  # the player's move on the other board
                self.advance()
            return
        self.thoughts[slot.spec] = thought
        board = self.current_board()
        self.book.record(slot.spec, thought.position, board, thought.choice)
        self.request_solution(board)
        self.record_agreements()
        # Only this panel changed, unless it is the reference the difference view subtracts everywhere.
        self.draw_panels(None if self.difference_view and slot.spec == self.reference else slot.spec)
        self.update_comparison()
        self.advance()

    def position(self) -> Position:
        """The position the panels show. In a person's game that is always the opponent's, so the panels show what
        the agent is about to do while the person is still choosing; in spectator mode it is the watched board
        (``b`` switches), so the panels do not flip between the two boards every half-move."""
        if self.match.over and self.last_shown is not None and self.last_shown[0].game == self.match_number:
            return self.last_shown[0]  # the game is over: the panels and the strip settle on its last position
        seat = self.watched if self.spectating else 1
        return Position(self.match_number, seat, self.match.boards[seat].strikes)

    def move_position(self) -> Position:
        """The position the player to move strikes (the panels' position, or in spectator mode maybe the other)."""
        seat = self.match.to_move
        return Position(self.match_number, seat, self.match.boards[seat].strikes)

    def request_thoughts(self) -> None:
        if self.match is None or self.match.over:
            return
        position = self.position()
        board = self.match.boards[position.seat].observation()
        self.last_shown = (position, board)
        for spec, slot in self.roster.slots.items():
            if slot.state is SlotState.READY and self.requested.get(spec) != position:
                self.requested[spec] = position
                self.run_worker(partial(self._think, slot, position, board), thread=True, group=f"think-{spec}",
                                exit_on_error=False)
                if slot.kind == "optimal":
                    self.set_timer(SOLVING_NOTICE_S, partial(self.show_solving, spec, position))
        # A spectated player about to strike the board the panels do not show: its move, not drawn.
        move, player = self.move_position(), self.seats[self.match.to_move]
        slot = self.roster.get(player) if player else None
        if (move != position and slot is not None and slot.state is SlotState.READY
                and self.move_requested != (player, move)):
            self.move_requested = (player, move)
            board = self.match.boards[move.seat].observation()
            self.run_worker(partial(self._think, slot, move, board), thread=True, group=f"move-{player}",
                            exit_on_error=False)

    def show_solving(self, spec: str, position: Position) -> None:
        """An optimal panel whose answer for ``position`` has not come yet says so (it keeps its last picture)."""
        panel = self.panels.get(spec)
        if panel is not None and self.match is not None and position == self.position() and spec not in self.current_thoughts():
            panel.waiting = "solving…"
            panel.refresh_state()

    # ------------------------------------------------------------------------------------- regrets
    def request_solution(self, board: np.ndarray) -> None:
        """Have ``board`` solved in a worker, unless it is solved or being solved."""
        key = board_key(board)
        if key in self.solving or self.judge.values(board) is not None:
            return
        self.solving.add(key)
        self.run_worker(partial(self._solve, key, np.array(board)), thread=True, group="solve", exit_on_error=False)

    def _solve(self, key: bytes, board: np.ndarray) -> None:  # in a thread
        try:
            self.judge.solve(board)
        except BaseException as error:
            self.post_message(SolveFailed(key, one_line(error)))
        else:
            self.post_message(PositionSolved(key))

    @on(PositionSolved)
    def position_solved(self, message: PositionSolved) -> None:
        self.solving.discard(message.key)
        self.show_regrets()
        if self.hint_wanted:
            self.action_hint()
        self.render_status()

    @on(SolveFailed)
    def solve_failed(self, message: SolveFailed) -> None:  # no board the app reaches is unsolvable: say so if one is
        self.solving.discard(message.key)
        self.notify(f"Could not score a move: {message.message}", severity="warning")

    def show_regrets(self) -> None:
        """Every panel's subtitle: its choice's regret at the position shown and its total over the game."""
        position = self.position() if self.match else None
        for spec, panel in self.panels.items():
            panel.regret = self.book.tally(spec, self.judge, position)
            panel.refresh_state()

    def lost_to_perfect_play(self, seat: int) -> str:
        tally = self.book.tally(SEATS[seat], self.judge)
        return tally.text(decimals=2)
    def current_thoughts(self) -> dict[str, Thought]:
        """The answers for the current position, in panel order (not in the order the threads finished)."""
        position = self.position() if self.match else None
        answers = {spec: t for spec, t in self.thoughts.items() if t.position == position}
        return {spec: answers[spec] for spec in self.roster.slots if spec in answers}

    def current_board(self) -> np.ndarray:
        """The board of the panels' position (``position``)."""
        if self.match.over and self.last_shown is not None and self.last_shown[0].game == self.match_number:
            return self.last_shown[1]
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
            panel.regret = self.book.tally(spec, self.judge, thought.position) if thought else None
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

    def role_of(self, spec: str) -> str | None:
        """What a panel's agent does in this game: the opponent, a spectated player, or nothing (it watches)."""
        if self.spectating:
            return {self.seats[0]: "plays 1st", self.seats[1]: "plays 2nd"}.get(spec)
        return "opponent" if spec == self.seats[1] else None

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
            panel.role = self.role_of(spec)
        self.set_class(len(panels) >= MANY_PANELS, "-many-panels")
        self.draw_panels()
        self.update_comparison()

    # ------------------------------------------------------------------------------------------ the game
    def new_game(self) -> None:
        if self.spectating and self.match is not None and self.match.over:
            # Scored now, a few seconds after its end: its last positions have been solved by then.
            self.tally.score((self.book.tally(SEATS[0], self.judge).total, self.book.tally(SEATS[1], self.judge).total))
        self.match_number += 1
        first_plane, second_plane = (int(p) for p in draw_placements(self.rng, 2))
        self.person_plane = first_plane
        self.match = Match(first_plane, second_plane)
        self.placing = False
        self.move_due = False
        self.notice = ""
        self.agreements.clear()
        self.recorded.clear()
        self.book.clear()
        self.moves = []
        self.move_thought = self.move_requested = None
        self.hint_wanted, self.hints = False, ()
        self.render_boards()
        self.request_thoughts()
        self.request_person_solution()
        self.update_comparison()
        self.update_bindings()

    def advance(self) -> None:
        """Let the agent whose turn it is strike, once its thought about this position is in."""
        match = self.match
        if match is None or match.over or self.placing:
            return
        spec = self.seats[match.to_move]
        if spec is None:
            return
        if self.move_position() == self.position():
            thought = self.current_thoughts().get(spec)
        else:
            thought = self.move_thought if self.move_thought and self.move_thought.position == self.move_position() else None
        if thought is None or (self.spectating and not self.move_due):
            self.render_status()
            return
        self.move_due = False
        self.play(thought.choice)

    def play(self, action: int) -> None:
        seat = self.match.to_move
        board = self.match.boards[seat].observation()
        self.book.record(SEATS[seat], Position(self.match_number, seat, self.match.boards[seat].strikes), board, action)
        self.request_solution(board)
        self.hint_wanted, self.hints = False, ()
        hit = self.match.strike(action)
        self.moves.append((seat, int(action), bool(hit)))
        if self.match.over:
            self.finish()
        self.render_boards()
        self.update_comparison()
        self.request_thoughts()
        self.request_person_solution()
        self.advance()

    def request_person_solution(self) -> None:
        """Solve the person's board as soon as it is their turn: their move is scored (and a hint ready) at once."""
        match = self.match
        if match is not None and not match.over and not self.spectating and self.seats[match.to_move] is None:
            self.request_solution(match.boards[0].observation())

    def finish(self) -> None:
        outcome = self.match.outcome
        self.save_record()
        if not self.spectating:
            key = {Outcome.FIRST_WINS: "won", Outcome.SECOND_WINS: "lost", Outcome.DRAW: "drawn"}[outcome]
            self.score[key] += 1
        else:
            self.tally.finish(outcome, (self.match.boards[0].strikes, self.match.boards[1].strikes))
            if not self.paused:
                self.set_timer(SPECTATOR_REMATCH_S, self.spectator_rematch)
        self.update_bindings()

    def save_record(self) -> None:
        """Append the finished game to the records file (engine.records), in a worker: the file is rewritten."""
        match = self.match
        players = tuple((self.name_of(spec) if self.roster.get(spec or "") is None else self.roster.get(spec).title,
                         spec, model_hash(self.roster.get(spec or ""))) for spec in self.seats)
        fields = dict(seed=self.roster.config.seed, game=self.match_number,
                      mode="spectator" if self.spectating else "person",
                      planes=(match.boards[1].placement, match.boards[0].placement),  # boards[1] hides the first's
                      moves=tuple(self.moves), outcome=match.outcome.value)
        self.run_worker(partial(self._append_record, players, fields), thread=True, group="records",
                        exit_on_error=False)

    def _append_record(self, players: tuple, fields: dict) -> None:  # in a thread
        from engine.records import GameRecord, Player, append_record, now_utc

        try:
            record = GameRecord(players=tuple(Player(*player) for player in players), finished_at=now_utc(), **fields)
            append_record(record)
        except BaseException as error:  # a full disk or a locked file costs the record, never the game
            self.app.call_from_thread(self.notify, f"Game not recorded: {one_line(error)}", severity="warning")

    def spectator_rematch(self) -> None:
        if self.spectating and self.match.over and not self.paused:
            self.new_game()

    def outcome_text(self) -> str:
        """The winner, its strikes and how far the other side got: ``Hunter wins in 9 strikes (You had 5/8 hits).``"""
        outcome = self.match.outcome
        strikes = [board.strikes for board in self.match.boards]  # boards[seat] is the one that seat strikes
        names = [self.name_of(seat) for seat in self.seats]
        if outcome is Outcome.DRAW:
            return f"Draw: both planes fell in round {strikes[0]}."
        winner = 0 if outcome is Outcome.FIRST_WINS else 1
        loser_hits = self.match.boards[1 - winner].hits
        rest = f"{names[1 - winner]} had {loser_hits}/{PLANE_SIZE} hits"
        if self.seats[winner] is None:
            return f"You win in {strikes[winner]} strikes! ({rest})"
        return f"{names[winner]} wins in {strikes[winner]} strikes ({rest})."

    def summary_text(self) -> str:
        """What each side lost to perfect play over the game (in expected strikes; "…" while still solving)."""
        first, second = (self.lost_to_perfect_play(seat) for seat in (0, 1))
        if self.seats[0] is None:
            return f"You lost {first} strikes to perfect play; {self.name_of(self.seats[1])} {second}."
        return f"Lost to perfect play: {self.name_of(self.seats[0])} {first}, {self.name_of(self.seats[1])} {second}."

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
            plane_look="board--reveal" if over else "board--plane",
            hints=self.hints if self.person_can_strike() else (),
        ))
        own.show(BoardView(
            match.boards[1].observation(),
            plane=match.boards[1].plane,
            last=match.boards[1].last_action,
            plane_look="board--placing" if self.placing else "board--reveal" if over else "board--plane",
        ))
        target.cursor = None if (self.spectating or over or self.placing) else self.cursor
        # The board the panels show is marked: they show the agents' view of it.
        watched = self.watched if self.spectating else 1
        marks = [" · panels ▼" if watched == seat else "" for seat in (0, 1)]
        if self.spectating:
            target.border_title = f"{self.name_of(first)} strikes{marks[0]}"
            own.border_title = f"{self.name_of(second)} strikes{marks[1]}"
        else:
            target.border_title = f"{self.name_of(second)}'s board"
            own.border_title = f"Your board{marks[1]}"
        for widget, game in ((target, match.boards[0]), (own, match.boards[1])):
            widget.border_subtitle = f"{game.strikes} strike{'' if game.strikes == 1 else 's'} · {game.hits}/{PLANE_SIZE} hits"
        self.render_status()

    def render_status(self) -> None:
        match = self.match
        first, second = self.seats
        lines = [f"[b]{self.name_of(first)} vs {self.name_of(second)}[/b]"]
        if match.over:
            lines.append(f"[b $accent]{self.outcome_text()}[/]")
            lines.append(self.summary_text())
            if not self.spectating:
                lines.append("Press [b]n[/b] for a new game.")
            else:
                lines.append("Paused: → starts the next game." if self.paused else "Next game in a moment…")
        elif self.placing:
            lines.append("[b]Placing your plane[/b]: arrows move it, [b]r[/b] turns it, [b]enter[/b] confirms.")
        elif self.seats[match.to_move] is None:
            lines.append("Your turn: arrows + enter, or click a cell.")
            if match.boards[0].strikes == 0:
                lines.append("[dim]p: place your plane[/dim]")
        else:
            spec = self.seats[match.to_move]
            slot = self.roster.get(spec)
            if slot.state is SlotState.LOADING:
                lines.append(f"{self.name_of(spec)} is loading…")
            elif self.spectating and self.paused:  # its answer waits for the presenter's →
                lines.append(f"{self.name_of(spec)} to move.")
            else:
                lines.append(f"{self.name_of(spec)} is thinking…")
        if self.spectating:
            lines.extend(self.tally.lines((self.name_of(first), self.name_of(second))))
            clock = "[b]paused[/b]: → one move, space goes on" if self.paused else (
                f"one move every {SPECTATOR_DELAYS[self.delay_index]:g} s (+/-), space pauses")
            lines.append(f"Spectating · {clock}")
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
        if self.spectating:
            if key == "right" and self.paused:
                self.step()
            return
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
            self.notice = ""  # a refused move of the plane is history once it is placed
        elif self.can_place():
            self.placing = True
        self.render_boards()
        self.update_bindings()
        self.advance()

    def can_place(self) -> bool:
        match = self.match
        return not self.spectating and not match.over and match.boards[0].strikes == 0 and match.boards[1].strikes == 0

    def action_new_game(self) -> None:
        self.new_game()

    def action_hint(self) -> None:
        """Mark the optimal cells of the person's board (solved in a worker if it is not yet)."""
        if not self.person_can_strike():
            self.hint_wanted = False
            self.notify("A hint is for your turn.", timeout=2)
            return
        board = self.match.boards[0].observation()
        values = self.judge.values(board)
        if values is None:
            self.hint_wanted = True
            self.request_solution(board)
            self.notice = "Solving your board for a hint…"
        else:
            self.hint_wanted = False
            self.hints = values.optimal
            cells = ", ".join(cell_name(cell) for cell in self.hints)
            self.notice = f"Optimal: {cells} (then {values.best:.3f} strikes in all, on average)"
        self.render_boards()

    def action_help(self) -> None:
        from planestrike_tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

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
            self.query_one("#panels").mount(AgentPanel(slot, role="opponent"), before=0)
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
        self.book.forget(spec)

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
            panel.attach(slot, role=self.role_of(slot.spec))
        else:
            self.query_one("#panels").mount(AgentPanel(slot))
        self.start_loading(slot)
        self.panels_changed()
        self.render_status()
        return slot

    # ------------------------------------------------------------------------------------------ spectator
    def spectator_pair(self) -> tuple[str, str]:
        """The two agents ``s`` sets playing: the last pair chosen (S, --spectate), else the opponent against the
        hunter (or Flax, when the hunter is the opponent)."""
        if self.chosen_pair is not None:
            return self.chosen_pair
        opponent = self.roster.opponent
        challenger = FALLBACK_OPPONENT if opponent != FALLBACK_OPPONENT else "flax"
        return opponent, challenger

    def action_choose_spectators(self) -> None:
        """S: choose both agents of a spectated game (any specs), first the one that strikes first."""
        from planestrike_tui.screens.agent_dialog import AgentDialog

        def second_chosen(first: str, spec: str | None) -> None:
            if spec:
                self.spectate(first, spec)

        def first_chosen(spec: str | None) -> None:
            if spec:
                self.app.push_screen(AgentDialog.for_player(self.roster, "second", self.spectator_pair()[1]),
                                     partial(second_chosen, spec))

        self.app.push_screen(AgentDialog.for_player(self.roster, "first", self.spectator_pair()[0]), first_chosen)

    def spectate(self, first: str, second: str) -> None:
        """Watch ``first`` play ``second`` (specs; two different agents), from now on ``s``'s pair."""
        first, second = canonical(first), canonical(second)
        if first == second:
            self.notify("Spectator mode needs two different agents: one panel cannot play both seats.",
                        severity="warning")
            return
        if self.spectating:
            self.stop_spectating()
        self.chosen_pair = (first, second)
        self.action_toggle_spectator()

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
        self.paused = False
        self.seats = (first, second)
        if self.tally.players != self.seats:  # a new pair: a new tally
            self.tally = SpectatorTally(self.seats)
        self.autoplay = self.set_interval(SPECTATOR_DELAYS[self.delay_index], self.autoplay_tick)
        self.new_game()

    def stop_spectating(self) -> None:
        self.spectating = False
        self.paused = False
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
        self.update_bindings()

    def autoplay_tick(self) -> None:
        if self.paused:
            return
        self.move_due = True
        self.advance()

    def action_pause(self) -> None:
        """Spectator mode: stop or restart the clock (a presenter talking over a position)."""
        self.paused = not self.paused
        self.render_status()
        self.update_bindings()

    def step(self) -> None:
        """Spectator mode, paused: play one move now (or start the next game once this one is over)."""
        if self.match.over:
            self.new_game()
            return
        self.move_due = True
        self.advance()

    def action_watch_other_board(self) -> None:
        """Spectator mode: the panels show the other board (the other player's view)."""
        self.watched = 1 - self.watched
        self.last_shown = None
        self.requested.clear()
        self.agreements.clear()
        self.recorded.clear()
        self.book.clear_panels(SEATS)
        self.render_boards()
        self.request_thoughts()
        self.draw_panels()
        self.update_comparison()
        self.notify(f"Panels: {self.name_of(self.seats[self.watched])}'s view, the board it strikes", timeout=3)

    def action_speed(self, step: int) -> None:
        if not self.spectating:
            return
        self.delay_index = min(max(self.delay_index + step, 0), len(SPECTATOR_DELAYS) - 1)
        self.autoplay.stop()
        self.autoplay = self.set_interval(SPECTATOR_DELAYS[self.delay_index], self.autoplay_tick)
        self.render_status()

    def binding_state(self) -> tuple[bool, bool, bool]:
        """What ``check_action`` depends on."""
        return self.placing, self.spectating, self.match is not None and self.can_place()

    def update_bindings(self) -> None:
        """Refresh the footer only when the shown keys change: each refresh rebuilds the footer's widgets, and
        Textual keeps the old ones alive, so refreshing every game grew a spectator session's memory without end."""
        state = self.binding_state()
        if state != self.shown_binding_state:
            self.shown_binding_state = state
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the bindings that mean nothing in the current mode (the footer follows)."""
        if action == "turn_plane":
            return self.placing
        if action in ("speed", "pause", "watch_other_board"):
            return self.spectating
        if action == "toggle_placement":
            return self.placing or (self.match is not None and self.can_place())
        if action in ("strike", "hint"):
            return not self.spectating
        return True
