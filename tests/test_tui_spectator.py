"""Spectator mode for an audience: any two agents, panels that stay on one labelled board, a running tally, and a
presenter's pause and step; and the end of a game: both planes revealed, the summary, the record."""

from __future__ import annotations

import numpy as np
import pytest

from engine.match import Match, Outcome
from engine.records import read_records
from engine.solver import regret
from planestrike_tui.screens.help import HelpScreen
from tui_helpers import lose_row_by_row, make_app, wait_for_agents, wait_until

pytestmark = pytest.mark.asyncio

PAIR = ("hunter", "tflite")  # fast and deterministic: every run of a seed is the same game


def spectator_app(**config):
    config.setdefault("panels", PAIR)
    return make_app(spectate=PAIR, seed=21, **config)


async def paused(pilot):
    """The spectated game, stopped by the presenter before its first move."""
    game = pilot.app.game
    await pilot.press("space")
    assert game.paused
    await wait_for_agents(pilot)
    return game


async def step(pilot):
    """→ once: one move (the mover's answer may still be on its way)."""
    game = pilot.app.game
    before = sum(board.strikes for board in game.match.boards), game.match_number
    await pilot.press("right")
    await wait_until(pilot, lambda: (sum(b.strikes for b in game.match.boards), game.match_number) != before,
                     "the move")
    await wait_for_agents(pilot)


async def test_the_panels_stay_on_the_watched_board_and_say_so():
    app = spectator_app()
    async with app.run_test(size=(140, 45)) as pilot:
        game = await paused(pilot)
        assert game.seats == PAIR
        panels = game.panels
        assert panels["hunter"].role == "plays 1st" and panels["tflite"].role == "plays 2nd"
        target, own = game.query_one("#target"), game.query_one("#own")
        for _ in range(6):  # three rounds: the panels never leave the first player's board
            await step(pilot)
            assert game.position().seat == 0
            assert game.current_board().tolist() == game.match.boards[0].observation().tolist()
            assert "panels ▼" in target.border_title and "panels ▼" not in own.border_title
        await pilot.press("b")
        await wait_for_agents(pilot)
        assert game.position().seat == 1 and "panels ▼" in own.border_title
        assert set(game.current_thoughts()) == set(PAIR)


async def test_a_paused_game_does_not_move_until_stepped():
    app = spectator_app()
    async with app.run_test(size=(80, 24)) as pilot:
        game = await paused(pilot)
        await pilot.press("plus", "plus", "plus")  # the fastest clock: a move every 0.03 s, were it running
        await pilot.pause(1.0)
        assert sum(board.strikes for board in game.match.boards) == 0
        assert "paused" in str(game.query_one("#status").render())
        await step(pilot)
        assert sum(board.strikes for board in game.match.boards) == 1
        await pilot.press("space")  # and on again
        await wait_until(pilot, lambda: sum(b.strikes for b in game.match.boards) >= 4, "the clock to go on")


async def test_the_tally_counts_wins_strikes_and_strikes_lost_to_perfect_play():
    app = spectator_app()
    async with app.run_test(size=(140, 45)) as pilot:
        game = await paused(pilot)
        while not game.match.over:
            await step(pilot)
        match, moves = game.match, list(game.moves)
        tally = game.tally
        assert tally.games == 1
        winner = {Outcome.FIRST_WINS: 0, Outcome.SECOND_WINS: 1}.get(match.outcome)
        assert tally.wins == [int(winner == 0), int(winner == 1)] and tally.draws == int(winner is None)
        assert tally.strikes == [match.boards[0].strikes, match.boards[1].strikes]
        status = str(game.query_one("#status").render())
        assert f"Mean strikes  Hunter {match.boards[0].strikes:.2f}" in status
        # The strikes each lost, from the solver, replaying the game on a fresh match.
        replay = Match(match.boards[1].placement, match.boards[0].placement)
        lost = [0.0, 0.0]
        for seat, cell, _ in moves:
            lost[seat] += float(regret(replay.boards[seat].observation(), cell))
            replay.strike(cell)
        await step(pilot)  # paused: → starts the next game, and the finished one is scored
        assert game.match_number == 2 and tally.scored == 1
        assert tally.lost == pytest.approx(lost)
        assert "Mean lost to perfect play" in str(game.query_one("#status").render())


async def test_any_two_agents_can_be_chosen_and_the_same_agent_twice_is_refused():
    app = make_app(opponent="hunter", panels=("hunter",), seed=2)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        game.spectate("tflite", "tflite:float32")  # one model spelt two ways: one agent
        assert not game.spectating
        await pilot.press("S")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "AgentDialog", "the first player's dialog")
        app.screen.dismiss("tflite:int8")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "AgentDialog", "the second player's dialog")
        app.screen.dismiss("tflite")
        await wait_until(pilot, lambda: game.spectating, "spectator mode")
        assert game.seats == ("tflite:int8", "tflite")
        await wait_for_agents(pilot)
        await pilot.press("s")  # stop; s again replays the chosen pair
        assert not game.spectating and game.seats == (None, "hunter")
        await pilot.press("s")
        assert game.seats == ("tflite:int8", "tflite")


async def test_the_end_of_a_game_reveals_both_planes_sums_it_up_and_records_it():
    app = make_app(opponent="hunter", panels=("hunter",), seed=8)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        await lose_row_by_row(pilot)  # the hunter wins
        match = game.match
        target, own = game.query_one("#target"), game.query_one("#own")
        for widget, board in ((target, match.boards[0]), (own, match.boards[1])):
            assert widget.view.plane is not None and widget.view.plane_look == "board--reveal"
            never_hit = board.plane & (board.observation() == 0)
            for row, col in zip(*np.nonzero(never_hit)):
                assert widget._cell_style_and_symbol(int(row) * 8 + int(col))[1] == "○"
        status = str(game.query_one("#status").render())
        assert f"Hunter wins in {match.boards[1].strikes} strikes (You had {match.boards[0].hits}/8 hits)." in status
        assert "You lost " in status and "strikes to perfect play; Hunter " in status
        # The strip settles on the last position the panels answered instead of waiting for a next one.
        assert "waiting" not in str(game.query_one("#comparison").render())
        assert "hunter" in game.current_thoughts()
        await wait_until(pilot, lambda: read_records(), "the game's record")
        record = read_records()[-1]
        assert record.mode == "person" and record.players[0].spec is None and record.players[1].spec == "hunter"
        assert list(record.moves) == game.moves and record.outcome == match.outcome.value
        assert record.planes == (match.boards[1].placement, match.boards[0].placement)


async def test_help_opens_with_question_mark_and_f1():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            assert isinstance(app.screen, HelpScreen)
            assert "Help" in str(app.screen.query_one("#help-title").render())
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)
