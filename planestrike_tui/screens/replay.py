"""Replaying a recorded game (``planestrike replay``): both boards at any move, stepped back and forth, with one
panel per agent showing what it makes of the position about to be struck.

The record (``engine.records.GameRecord``) holds the planes and every strike, so any move N is rebuilt exactly by
replaying the first N strikes. The panels are recomputed, not read from the record: each agent thinks about the
board in a thread worker (the roster's ``AgentSlot.think``, as on the game screen), and answers for a position
that is no longer shown are kept for when the person steps back, not drawn. At the end (move M of M) both planes
are revealed and the panels show the position of the last strike, so one can see whether each agent would have
struck the same cell.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from engine.match import Match
from engine.records import GameRecord
from engine.rules import PLANE_SIZE, cell_name
from planestrike_tui.messages import (AgentFailed, AgentLoaded, PositionSolved, SolveFailed, ThoughtFailed, ThoughtReady,
                                      load_agent, think)
from planestrike_tui.regrets import Judge, board_key
from planestrike_tui.roster import AgentSlot, Position, Roster, SlotState, Thought, one_line
from planestrike_tui.widgets.agent_panel import AgentPanel
from planestrike_tui.widgets.board import BoardView, BoardWidget

MANY_PANELS = 4  # from this many panels on, they take the compact size (as on the game screen)
LIGHT_KINDS = ("hunter", "random", "optimal", "tflite", "app")  # ready in a fraction of a second: loaded first


class ReplayScreen(Screen):
    # The game screen's sizes and colours (planestrike.tcss scopes them to GameScreen), for this screen.
    SCOPED_CSS = False
    DEFAULT_CSS = """
    ReplayScreen {
        #main { height: 1fr; scrollbar-size-vertical: 1; }
        #boards { height: auto; padding: 0 1; }
        BoardWidget {
            width: 28; height: 11; margin-right: 1;
            border: round $primary 60%; border-title-color: $text; border-title-style: bold;
            border-subtitle-color: $text-muted;
            & > .board--label { color: $text-muted; }
            & > .board--water { background: $primary 12%; }
            & > .board--water-alt { background: $primary 20%; }
            & > .board--plane { background: $secondary 70%; }
            & > .board--reveal { background: $secondary 35%; }
            & > .board--placing { background: $accent; }
            & > .board--hit { background: $error; color: $text; text-style: bold; }
            & > .board--miss { color: $text-muted; }
            & > .board--last { background: $warning; color: $background; text-style: bold; }
            & > .board--hint { background: $success 60%; color: $text; text-style: bold; }
            & > .board--cursor { background: $foreground 85%; color: $background; text-style: bold; }
        }
        #side { width: 1fr; min-width: 20; height: auto; }
        #status { height: auto; padding: 0 1; border: round $panel-lighten-2; }
        #panels {
            layout: grid; grid-size: 3; grid-columns: auto; grid-rows: auto; grid-gutter: 0 1;
            height: auto; padding: 0 1;
        }
        AgentPanel {
            width: auto; height: auto;
            border: round $panel-lighten-2; border-title-color: $text; border-title-style: bold;
            border-subtitle-color: $text-muted;
            &.-failed { border: round $error 60%; }
            &.-failed .panel-message { color: $error; }
            &.-loading .panel-message { color: $text-muted; text-style: italic; }
            &.-loading Heatmap, &.-failed Heatmap { display: none; }
            .panel-message { width: 24; height: auto; min-height: 8; padding: 0 1; }
            &.-ready .panel-message { display: none; }
        }
        Heatmap {
            width: 24; height: 8;
            & > .heatmap--cold { background: $primary 8%; }
            & > .heatmap--hot { background: $error; }
            & > .heatmap--lower { background: $primary; }
            & > .heatmap--higher { background: $error; }
            & > .heatmap--tried { background: $surface; color: $text-disabled; }
            & > .heatmap--choice { text-style: bold reverse; }
            & > .heatmap--optimal { text-style: bold underline; }
            & > .heatmap--label { color: $text-muted; }
        }
    }
    ReplayScreen.-narrow #panels { padding: 0; }
    ReplayScreen.-narrow.-many-panels #panels { grid-gutter: 0 0; }
    ReplayScreen.-wide.-tall {
        BoardWidget { width: 36; height: 19; }
        Heatmap { width: 42; height: 17; }
        AgentPanel .panel-message { width: 42; min-height: 17; }
        #boards { padding: 1 1 0 1; }
    }
    ReplayScreen.-wide.-tall.-many-panels {
        BoardWidget { width: 28; height: 11; }
        Heatmap { width: 34; height: 9; }
        AgentPanel .panel-message { width: 34; min-height: 9; }
    }
    ReplayScreen.-wide.-short {
        Heatmap { width: 34; height: 9; }
        AgentPanel .panel-message { width: 34; min-height: 9; }
    }
    """

    # Priority: the scrolling container under the boards binds home/end (and arrows) to scrolling.
    BINDINGS = [
        Binding("left", "step(-1)", "Back", key_display="←", priority=True),
        Binding("right", "step(1)", "Forward", key_display="→", priority=True),
        Binding("h", "step(-1)", "Back", show=False),  # vi keys, for a presenter's clicker mapped to them
        Binding("l", "step(1)", "Forward", show=False),
        Binding("home", "jump(0)", "Start", priority=True),
        Binding("end", "jump(-1)", "End", priority=True),
        Binding("ctrl+s", "app.save_screenshot", "Screenshot"),
    ]

    def __init__(self, record: GameRecord, roster: Roster, *, move: int | None = None, label: str = "") -> None:
        super().__init__()
        self.record = record
        self.roster = roster
        self.label = label  # which record this is, for the status: "game 3 of 12 in games.jsonl"
        self.move = len(record.moves) if move is None else move
        self.thoughts: dict[tuple[str, Position], Thought] = {}  # every answer so far: stepping back is instant
        self.requested: set[tuple[str, Position]] = set()
        self.names = player_names(record)
        self.judge = Judge()  # every position of the game, solved once, for each move's regret
        self.boards_before = [_board_before(record, number) for number in range(len(record.moves))]
        self.unsolved: set[bytes] = {board_key(board) for board in self.boards_before}

    # ----------------------------------------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="main"):
            with Horizontal(id="boards"):
                yield BoardWidget(id="first-target")  # boards[0]: the second player's plane, struck by the first
                yield BoardWidget(id="second-target")
                with Vertical(id="side"):
                    yield Static(id="status")
            with Horizontal(id="panels"):
                for slot in self.roster.slots.values():
                    yield AgentPanel(slot)
        yield Footer()

    def on_mount(self) -> None:
        # Which record this is goes in the header; the status keeps to the position (the footer has the keys).
        record = self.record
        self.sub_title = " · ".join(part for part in (self.label, f"seed {record.seed}",
                                                      record.finished_at.replace("T", " ").rstrip("Z") + " UTC") if part)
        self.set_class(len(self.roster.slots) >= MANY_PANELS, "-many-panels")
        self.show_move()
        self.call_after_refresh(self.start_loading)
        self.run_worker(self._solve_game, thread=True, group="solve", exit_on_error=False)

    @property
    def panels(self) -> dict[str, AgentPanel]:
        return {panel.slot.spec: panel for panel in self.query(AgentPanel)}

    # ------------------------------------------------------------------------------------------- agents
    def start_loading(self) -> None:
        slots = list(self.roster.slots.values())
        light = sorted((slot for slot in slots if slot.kind in LIGHT_KINDS), key=lambda s: LIGHT_KINDS.index(s.kind))
        heavy = [slot for slot in slots if slot.kind not in LIGHT_KINDS]

        def load_light_then_heavy() -> None:  # in a thread: light agents first, before anything imports JAX
            for slot in light:
                self._load(slot)
            for slot in heavy:
                self.app.call_from_thread(self._start_loading, slot)

        self.run_worker(load_light_then_heavy, thread=True, group="load-light", exit_on_error=False)

    def _start_loading(self, slot: AgentSlot) -> None:
        self.run_worker(partial(self._load, slot), thread=True, group=f"load-{slot.spec}", exit_on_error=False)

    def _load(self, slot: AgentSlot) -> None:  # in a thread
        self.post_message(load_agent(slot))

    def _think(self, slot: AgentSlot, position: Position, board: np.ndarray) -> None:  # in a thread
        self.post_message(think(slot, position, board))

    @on(AgentLoaded)
    def agent_loaded(self, message: AgentLoaded) -> None:
        if not self.roster.is_current(message.slot):
            message.agent.close()
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
        self.panels[slot.spec].refresh_state()

    @on(ThoughtReady)
    def thought_ready(self, message: ThoughtReady) -> None:
        self.thoughts[(message.slot.spec, message.thought.position)] = message.thought
        if message.thought.position == self.panel_position():
            self.draw_panel(message.slot.spec)

    def _solve_game(self) -> None:  # in a thread: the moves from the one shown outwards, so it is scored first
        start = min(self.move, max(len(self.boards_before) - 1, 0))
        order = sorted(range(len(self.boards_before)), key=lambda number: (abs(number - start), number))
        for number in order:
            board = self.boards_before[number]
            try:
                self.judge.solve(board)
            except BaseException as error:  # a recorded position is always solvable: say so if one is not
                self.post_message(SolveFailed(board_key(board), one_line(error)))
            else:
                self.post_message(PositionSolved(board_key(board)))

    @on(PositionSolved)
    @on(SolveFailed)
    def position_solved(self, message: PositionSolved | SolveFailed) -> None:
        self.unsolved.discard(message.key)
        if isinstance(message, SolveFailed):
            self.notify(f"Could not score a move: {message.message}", severity="warning")
        self.render_status()

    def regret_of(self, number: int) -> float | None:
        """Move ``number``'s (0-based) cost in expected strikes against perfect play; None until solved."""
        values = self.judge.values(self.boards_before[number])
        return None if values is None else values.regret(self.record.moves[number][1])

    def lost_so_far(self, seat: int) -> str:
        """What ``seat`` lost to perfect play over the moves shown so far (``0.14+…`` while some are unsolved)."""
        regrets = [self.regret_of(n) for n in range(self.move) if self.record.moves[n][0] == seat]
        total = sum(r for r in regrets if r is not None)
        return f"{total:.2f}{'+…' if None in regrets else ''}"

    # ------------------------------------------------------------------------------------------ positions
    def panel_position(self) -> Position:
        """The position the panels answer: the board about to be struck by the next move, or at the end the
        board of the last move, before it was struck."""
        index = self.move if self.move < len(self.record.moves) else len(self.record.moves) - 1
        seat = self.record.moves[index][0]
        strikes = sum(1 for player, _, _ in self.record.moves[:index] if player == seat)
        return Position(0, seat, strikes)

    def panel_board(self) -> np.ndarray:
        position = self.panel_position()
        match = self.record.match_after(self.move if self.move < len(self.record.moves) else self.move - 1)
        return match.boards[position.seat].observation()

    def request_thoughts(self) -> None:
        position, board = self.panel_position(), self.panel_board()
        for spec, slot in self.roster.slots.items():
            key = (spec, position)
            if slot.state is SlotState.READY and key not in self.requested:
                self.requested.add(key)
                self.run_worker(partial(self._think, slot, position, board), thread=True, group=f"think-{spec}",
                                exit_on_error=False)

    def current_thoughts(self) -> dict[str, Thought]:
        """The answers for the position shown, by spec, in panel order."""
        position = self.panel_position()
        return {spec: self.thoughts[(spec, position)] for spec in self.roster.slots if (spec, position) in self.thoughts}

    def settled(self) -> bool:
        """Every panel has loaded (or failed) and every ready one has answered the position shown."""
        slots = self.roster.slots
        if any(slot.state is SlotState.LOADING for slot in slots.values()):
            return False
        ready = {spec for spec, slot in slots.items() if slot.state is SlotState.READY}
        scored = all(board_key(board) not in self.unsolved for board in self.boards_before[:self.move])
        return ready <= set(self.current_thoughts()) and scored

    # ------------------------------------------------------------------------------------------- actions
    def action_step(self, step: int) -> None:
        self.go_to(self.move + step)

    def action_jump(self, move: int) -> None:
        self.go_to(len(self.record.moves) if move < 0 else move)

    def go_to(self, move: int) -> None:
        move = min(max(move, 0), len(self.record.moves))
        if move != self.move:
            self.move = move
            self.show_move()

    # ------------------------------------------------------------------------------------------- drawing
    def show_move(self) -> None:
        self.render_boards()
        self.render_status()
        self.draw_panels()
        self.request_thoughts()

    def draw_panels(self) -> None:
        for spec in self.panels:
            self.draw_panel(spec)

    def draw_panel(self, spec: str) -> None:
        panel = self.panels.get(spec)
        if panel is None:
            return
        thought = self.current_thoughts().get(spec)
        if thought is not None:
            panel.show_thought(self.panel_board(), thought)
        else:
            panel.heatmap.clear()
            panel.refresh_state()

    def render_boards(self) -> None:
        record, match = self.record, self.record.match_after(self.move)
        over = self.move == len(record.moves)
        first, second = self.names
        first_target = self.query_one("#first-target", BoardWidget)
        second_target = self.query_one("#second-target", BoardWidget)
        # boards[0] hides the second player's plane: in a person's game that is the agent's, hidden from the
        # person until the end; a spectator saw both planes all along.
        hidden_until_end = record.mode == "person"
        first_target.show(BoardView(
            match.boards[0].observation(),
            plane=match.boards[0].plane if (over or not hidden_until_end) else None,
            last=match.boards[0].last_action,
            plane_look="board--reveal" if hidden_until_end else "board--plane",
        ))
        second_target.show(BoardView(match.boards[1].observation(), plane=match.boards[1].plane,
                                     last=match.boards[1].last_action))
        # Titles as on the game screen (whose board, or who strikes it), and the board the panels look at.
        marks = [" · panels ▼" if self.panel_position().seat == seat else "" for seat in (0, 1)]
        if record.mode == "person":
            titles = (f"{second}'s board", "Your board")
        else:
            titles = (f"{first} strikes", f"{second} strikes")
        first_target.border_title = _markup(titles[0] + marks[0])
        second_target.border_title = _markup(titles[1] + marks[1])
        for widget, game in ((first_target, match.boards[0]), (second_target, match.boards[1])):
            widget.border_subtitle = (f"{game.strikes} strike{'' if game.strikes == 1 else 's'} · "
                                      f"{game.hits}/{PLANE_SIZE} hits")

    def move_line(self) -> str:
        """``move 12 of 30: You struck D4 (hit), regret +0.071``: the move that led to the position shown."""
        total = len(self.record.moves)
        if self.move == 0:
            return f"move 0 of {total}: before the first strike"
        player, cell, hit = self.record.moves[self.move - 1]
        name = self.names[player]
        regret = self.regret_of(self.move - 1)
        cost = "regret …" if regret is None else f"regret {regret:+.3f}"
        return f"move {self.move} of {total}: {name} struck {cell_name(cell)} ({'hit' if hit else 'miss'}), {cost}"

    def summary_line(self) -> str:
        """What each side lost to perfect play up to the move shown, in expected strikes (the game screen's
        end-of-game summary, at the end)."""
        (one, two), (lost_one, lost_two) = self.names, (self.lost_so_far(0), self.lost_so_far(1))
        so_far = "" if self.move == len(self.record.moves) else " so far"
        if self.record.players[0].is_person:
            return f"You lost {lost_one} strikes to perfect play{so_far}; {two} {lost_two}."
        return f"Lost to perfect play{so_far}: {one} {lost_one}, {two} {lost_two}."

    def render_status(self) -> None:
        record = self.record
        lines = [f"[b]{_markup(self.names[0])} vs {_markup(self.names[1])}[/b]",
                 _markup(self.move_line())]
        if self.move < len(record.moves):
            player, cell, hit = record.moves[self.move]
            lines.append(f"[dim]next: {_markup(self.names[player])} {_strikes(record.players[player])} "
                         f"{cell_name(cell)} ({'hit' if hit else 'miss'})[/dim]")
        else:
            lines.append(f"[b $accent]{_markup(outcome_text(record, self.record.match_after(self.move)))}[/]")
        lines.append(_markup(self.summary_line()))
        self.query_one("#status", Static).update("\n".join(lines))


def outcome_text(record: GameRecord, final: Match) -> str:
    """As the game screen says it: ``Hunter wins in 9 strikes (You had 5/8 hits).``, or the draw."""
    if record.outcome == "draw":
        return f"Draw: both planes fell in round {final.boards[0].strikes}."
    seat = 0 if record.outcome == "first" else 1
    names = player_names(record)
    strikes, rest = final.boards[seat].strikes, f"{names[1 - seat]} had {final.boards[1 - seat].hits}/{PLANE_SIZE} hits"
    if record.players[seat].is_person:
        return f"You win in {strikes} strikes! ({rest})"
    return f"{names[seat]} wins in {strikes} strikes ({rest})."


def player_names(record: GameRecord) -> tuple[str, str]:
    """The players' names, told apart when they are the same agent (hunter against hunter)."""
    first, second = (player.name for player in record.players)
    return (f"{first} (1st)", f"{second} (2nd)") if first == second else (first, second)


def _board_before(record: GameRecord, number: int) -> np.ndarray:
    """The board move ``number`` (0-based) was struck on, as its player saw it."""
    return record.match_after(number).boards[record.moves[number][0]].observation()


def _strikes(player) -> str:
    return "strike" if player.is_person else "strikes"


def _markup(text: str) -> str:
    """Text from the record (names, specs) drawn as it is, never as markup."""
    from textual.markup import escape

    return escape(text)


def replay_app(record: GameRecord, panels: tuple[str, ...], *, move: int | None = None, label: str = ""):
    """The app that shows ``record``: the game app's stylesheet, keys (ctrl+q, ctrl+s) and agent roster, with the
    replay screen in place of the game. ``panels`` are the agent specs that get a panel, in order."""
    from textual.app import App

    from planestrike_tui.app import PlanestrikeApp
    from planestrike_tui.roster import RosterConfig

    class ReplayApp(PlanestrikeApp):
        TITLE = "Plane Strike replay"

        def get_default_screen(self) -> Screen:
            return ReplayScreen(record, self.roster, move=move, label=label)

        def get_system_commands(self, screen: Screen):
            yield from App.get_system_commands(self, screen)  # the game's commands mean nothing here

        @property
        def replay(self) -> ReplayScreen:
            return self.screen_stack[0]

    # The roster wants an opponent: the first panel is it (nobody plays here, it only orders the panels).
    return ReplayApp(RosterConfig(opponent=panels[0], panels=panels, seed=record.seed))


async def capture(record: GameRecord, panels: tuple[str, ...], *, move: int | None, label: str,
                  size: tuple[int, int], timeout_s: float) -> tuple[str, list[str], list[tuple[str, str]]]:
    """The replay at ``move`` as an SVG, taken in a headless app of ``size`` once every panel has drawn its answer
    and the moves up to ``move`` are scored (or after ``timeout_s``); also the titles of the panels that had not
    answered by then, and the (title, error) of those that failed."""
    import asyncio
    import time

    app = replay_app(record, panels, move=move, label=label)
    async with app.run_test(size=size, notifications=False) as pilot:
        screen = app.replay
        deadline = time.monotonic() + timeout_s
        while not screen.settled() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for worker in list(app.workers):  # a late answer still being drawn
            remaining = deadline - time.monotonic()
            if worker.is_running and remaining > 0:
                try:
                    await asyncio.wait_for(worker.wait(), remaining)
                except Exception:  # timed out or failed: the panel says so, the screenshot is still taken
                    pass
        await pilot.pause()  # let the last messages be handled and the screen refresh
        unfinished = [slot.title for spec, slot in app.roster.slots.items()
                      if slot.state is SlotState.LOADING
                      or (slot.state is SlotState.READY and spec not in screen.current_thoughts())]
        failed = [(slot.title, slot.error or "failed") for slot in app.roster.slots.values()
                  if slot.state is SlotState.FAILED]
        return app.export_screenshot(), unfinished, failed
