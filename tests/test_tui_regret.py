"""Every move's cost in strikes, in the app: the optimal panel, each panel's regret, the person's score at the end of
a game, the hint key, and solving off the UI thread. The expected figures come from the engine's solver, called
here independently of the app's judge."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine import agents as engine_agents
from engine.solver import optimal_cells, regret, solve
from tui_helpers import make_app, panel_of, slot_of, wait_for_agents, wait_until

pytestmark = pytest.mark.asyncio


def untried_in_order(board: np.ndarray, start: int = 0) -> int:
    """The first untried cell from ``start`` on, row by row: a poor player's strategy, on purpose."""
    flat = np.asarray(board).reshape(-1)
    return next(cell for cell in range(start, 64) if flat[cell] == 0)


async def test_the_optimal_panel_shows_expected_strikes_to_finish_and_marks_the_optimal_cells():
    app = make_app(opponent="hunter", panels=("hunter", "optimal"), seed=4)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        for cell in (27, 0):
            game.strike(cell)
            await wait_for_agents(pilot)
        board = game.current_board()
        solution = solve(board)
        heatmap = panel_of(app, "optimal").heatmap
        made = int(np.count_nonzero(board))
        for cell, expected in solution.cells.items():
            assert heatmap.to_finish[cell] == pytest.approx(float(expected) - made)
        assert all(np.isnan(heatmap.to_finish[c]) for c in np.flatnonzero(board.reshape(-1)))
        hot = tuple(int(c) for c in np.flatnonzero(heatmap.heat >= 1.0))
        assert hot == solution.optimal
        worse = [c for c in solution.cells if c not in solution.optimal]
        assert all(heatmap.heat[c] < 1.0 for c in worse)
        choice = solution.optimal[0]  # deterministic: the lowest index among the optimal cells
        assert heatmap.choice == choice
        subtitle = panel_of(app, "optimal").border_subtitle
        assert f"{float(solution.cells[choice]) - made:.2f}" in subtitle and "to finish" in subtitle


async def test_every_panel_is_scored_against_perfect_play_move_by_move_and_over_the_game():
    app = make_app(opponent="hunter", panels=("hunter", "random"), seed=11)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        expected_total = 0.0
        for _ in range(4):
            board = game.current_board().copy()
            choice = game.current_thoughts()[slot_of(app, "random").spec].choice
            expected_last = float(regret(board, choice))
            expected_total += expected_last
            game.strike(untried_in_order(game.match.boards[0].observation()))
            await wait_for_agents(pilot)
        # The random panel's last counted move is the one before the current (unscored until it answers): look at
        # the tally the screen keeps, then at what the subtitle writes of it.
        tally = game.book.tally(slot_of(app, "random").spec, game.judge)
        board = game.current_board()
        now = game.current_thoughts()[slot_of(app, "random").spec].choice
        assert tally.moves == 5 and tally.pending == 0
        assert tally.total == pytest.approx(expected_total + float(regret(board, now)))
        subtitle = panel_of(app, "random").border_subtitle
        assert f"{float(regret(board, now)):+.3f}" in subtitle and f"game {tally.total:.3f}" in subtitle
        hunter = panel_of(app, "hunter").border_subtitle  # the hunter picks the likeliest hit: often optimal
        assert f"{float(regret(board, game.current_thoughts()['hunter'].choice)):+.3f}" in hunter


async def test_the_end_of_a_game_says_what_each_side_lost_to_perfect_play():
    app = make_app(opponent="hunter", panels=("hunter",), seed=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        mine = theirs = 0.0
        while not game.match.over:
            theirs_board = game.match.boards[1].observation()
            hunter_choice = game.current_thoughts()["hunter"].choice
            board = game.match.boards[0].observation()
            cell = untried_in_order(board)
            mine += float(regret(board, cell))
            game.strike(cell)
            theirs += float(regret(theirs_board, hunter_choice))
            await wait_for_agents(pilot)
        status = str(game.query_one("#status").render())
        assert mine > 1.0  # row by row is a poor strategy: the summary has something to say
        assert f"You lost {mine:.2f} strikes to perfect play; Hunter {theirs:.2f}." in status


async def test_the_hint_marks_the_optimal_cells_of_the_persons_board():
    app = make_app(opponent="hunter", panels=("hunter",), seed=5)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        game.strike(27)
        await wait_for_agents(pilot)
        await pilot.press("h")
        await wait_until(pilot, lambda: game.hints, "the hint")
        board = game.match.boards[0].observation()
        assert game.hints == optimal_cells(board)
        target = game.query_one("#target")
        assert target.view.hints == game.hints
        assert "Optimal:" in game.notice
        game.strike(game.hints[0])  # a strike clears the hint
        assert game.hints == () and target.view.hints == ()


async def test_solving_runs_in_a_worker_and_the_optimal_panel_says_solving(monkeypatch):
    """Hold the optimal agent's solve: its panel says "solving…" while the person plays on and the other panels
    answer; released, it shows the position's values."""
    release = threading.Event()
    real = engine_agents.OptimalAgent.cell_values

    def held(self, board):
        if np.count_nonzero(board):  # the first (empty) board loads the agent: let it through
            assert release.wait(30), "the test never released the solver"
        return real(self, board)

    monkeypatch.setattr(engine_agents.OptimalAgent, "cell_values", held)
    app = make_app(opponent="hunter", panels=("hunter", "optimal"), seed=6)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        game.strike(27)
        optimal = panel_of(app, "optimal")
        await wait_until(pilot, lambda: "solving…" in str(optimal.border_subtitle), "the solving notice")
        # Meanwhile the game goes on: the hunter answered and the person strikes again.
        await wait_until(pilot, lambda: "hunter" in game.current_thoughts(), "the hunter's answer")
        game.strike(28)
        await wait_until(pilot, lambda: game.match.boards[0].strikes == 2, "the second strike")
        release.set()
        await wait_for_agents(pilot)
        assert "solving…" not in str(optimal.border_subtitle)
        assert optimal.heatmap.to_finish is not None
