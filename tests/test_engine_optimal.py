"""Exact optimal play: the solver, its table, the optimal agent and regret, checked against independent counts."""

import collections
import functools
import random
from fractions import Fraction

import numpy as np
import pytest

from engine import PLACEMENTS, HunterAgent
from engine.agents import Agent, OptimalAgent
from engine.beliefs import (
    ALL_PLACEMENTS,
    COVERS,
    belief,
    canonical,
    placement_indices,
    transform_belief,
    transform_board,
    transform_cell,
)
from engine.errors import BadBoard, PlanestrikeError
from engine.evaluation import evaluate
from engine.miss_bounds import miss_bounds
from engine.optimal_table import MIN_PLACEMENTS, build_table, game_beliefs, load_table
from engine.regret import measure_regret
from engine.rules import HIT, MISS, cell_name
from engine.solver import Solver, default_solver, optimal_cells, regret, solve, value
from engine.specs import parse_agent_spec

# The exact first-strike values (expected total strikes, then optimal play), times 120.
FIRST_STRIKES = {"D4": 1446, "C4": 1449, "C3": 1454, "B4": 1462, "B3": 1475, "B2": 1493, "A4": 1514, "A3": 1518,
                 "A2": 1528, "A1": 1549}


def cell(name: str) -> int:
    return "ABCDEFGH".index(name[0]) * 8 + int(name[1]) - 1


def board_with(hits=(), misses=()):
    board = np.zeros(64, dtype=np.float32)
    board[list(hits)] = HIT
    board[list(misses)] = MISS
    return board.reshape(8, 8)


@functools.cache
def exhaustive_misses(placements: frozenset) -> int:
    """T by trying every informative cell at every step: no bound, no symmetry, nothing shared with the solver but
    the placement table (cached on the set, so a belief met twice is not explored twice)."""
    if len(placements) == 1:
        return 0
    totals = []
    for c in range(64):
        hit = frozenset(p for p in placements if PLACEMENTS.masks[p, c])
        if 0 < len(hit) < len(placements):
            miss = placements - hit
            totals.append(len(miss) + exhaustive_misses(hit) + exhaustive_misses(miss))
    return min(totals)


def as_belief(placements) -> int:
    return sum(1 << p for p in placements)


def random_positions(count: int, seed: int, strikes=(1, 6), hit_first=False):
    """Boards met in games: a random placement struck on random cells (a hit first if ``hit_first``)."""
    rng = random.Random(seed)
    boards = []
    for _ in range(count):
        placement = rng.randrange(120)
        board = np.zeros(64, dtype=np.float32)
        cells = rng.sample(range(64), rng.randint(*strikes))
        if hit_first:
            cells.insert(0, int(rng.choice(PLACEMENTS.cells[placement])))
        for c in cells:
            board[c] = HIT if PLACEMENTS.masks[placement, c] else MISS
        boards.append(board.reshape(8, 8))
    return boards


# --- The solver -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [3, 4, 5, 6, 7, 8])
def test_solver_matches_exhaustive_search_on_random_sets_of_placements(size):
    rng = random.Random(size)
    solver = Solver()
    for _ in range(25):
        placements = rng.sample(range(120), size)
        assert solver.misses(as_belief(placements)) == exhaustive_misses(frozenset(placements)), placements


@pytest.mark.parametrize("seed", range(4))
def test_solver_matches_exhaustive_search_on_placements_sharing_cells(seed):
    """Subsets of the placements through one cell: hits there are informative, as after a real hit."""
    rng = random.Random(seed)
    solver = Solver()
    for _ in range(12):
        through = placement_indices(COVERS[rng.randrange(64)])
        placements = rng.sample(through, min(len(through), rng.randint(3, 12)))
        assert solver.misses(as_belief(placements)) == exhaustive_misses(frozenset(placements)), placements


def test_solver_matches_exhaustive_search_on_positions_after_a_hit():
    solver = Solver()
    for board in random_positions(12, seed=5, strikes=(0, 3), hit_first=True):
        placements = belief(board)
        if placements.bit_count() <= 20:
            assert solver.misses(placements) == exhaustive_misses(frozenset(placement_indices(placements)))


def test_the_empty_board_is_worth_12_05_strikes_exactly():
    assert Solver().misses(ALL_PLACEMENTS) == 486
    assert value(np.zeros((8, 8), np.float32), Solver()) == Fraction(241, 20)


def test_every_first_strike_has_its_exact_value():
    solution = solve(np.zeros((8, 8), np.float32), Solver())  # from scratch, not the table
    for name, times_120 in FIRST_STRIKES.items():
        for symmetry in range(8):  # the other cells, by symmetry
            image = transform_cell(symmetry, cell(name))
            assert solution.cells[image] == Fraction(times_120, 120), cell_name(image)
    assert len(solution.cells) == 64 and solution.value == Fraction(1446, 120)
    assert solution.optimal == tuple(sorted(cell(n) for n in ("D4", "D5", "E4", "E5")))


def test_the_lower_bound_never_exceeds_the_optimum():
    bounds = miss_bounds()
    solver = Solver()
    for board in random_positions(40, seed=1, strikes=(0, 8)):
        placements = belief(board)
        n = placements.bit_count()
        if n < 2:
            continue
        outcomes = [placements & cover for cover in COVERS]
        core = sum(1 << c for c, o in enumerate(outcomes) if o == placements)
        widest = max(o.bit_count() for o in outcomes if o != placements)
        k = min(8 - core.bit_count(), bounds.hit_limits[core])
        assert bounds.floor[widest][k][n] <= solver.misses(placements)


def test_a_position_is_worth_the_same_under_every_symmetry_of_the_square():
    for board in random_positions(4, seed=2, strikes=(1, 4), hit_first=True):
        reference = solve(board, Solver())
        for symmetry in range(1, 8):
            image = transform_board(symmetry, board)
            solution = solve(image, Solver())  # a fresh solver: nothing remembered from the original
            assert solution.value == reference.value
            moved = {transform_cell(symmetry, c): v for c, v in reference.cells.items()}
            assert solution.cells == dict(sorted(moved.items()))
            assert belief(image) == transform_belief(symmetry, belief(board))


def test_optimal_cells_agree_with_the_full_solution():
    solver = Solver(load_table())
    for board in random_positions(12, seed=3, strikes=(1, 7)):
        assert optimal_cells(board, solver) == solve(board, Solver(load_table())).optimal


def test_sure_hits_are_optimal_and_sure_misses_cost_one_strike():
    plane = [int(c) for c in PLACEMENTS.cells[42]]
    others = [c for c in range(64) if c not in plane]
    board = board_with(hits=plane[:3], misses=others[:50])
    solution = solve(board)
    assert solution.placements == 1
    assert set(solution.optimal) == set(solution.sure_hits) == set(plane[3:])
    assert solution.value == 8 + 50  # every remaining strike hits
    assert all(solution.cells[c] == solution.value + 1 for c in solution.sure_misses)
    assert regret(board, plane[5]) == 0 and regret(board, others[55]) == 1


def test_a_finished_board_has_no_optimal_cell():
    plane = [int(c) for c in PLACEMENTS.cells[7]]
    solution = solve(board_with(hits=plane, misses=[c for c in range(64) if c not in plane][:4]))
    assert solution.optimal == () and solution.value == 12


def test_regret_is_a_move_value_minus_the_position_value():
    board = board_with(hits=[cell("D4")], misses=[cell("E5")])
    solution = solve(board)
    for c, expected in solution.cells.items():
        assert regret(board, c) == expected - solution.value
    with pytest.raises(ValueError, match="already struck"):
        regret(board, cell("D4"))


@pytest.mark.parametrize("board, fragment", [
    (board_with(hits=range(9)), "9 hits"),
    (board_with(hits=[cell("A1"), cell("H8")]), "no plane covers all of its hits (A1 H8)"),
    (board_with(misses=range(64)), "each of the 120 placements covers one of its misses"),
    (board_with(hits=[cell("A1")], misses=[cell("A2"), cell("B1")]), "each cover one of its misses too"),
])
def test_a_board_no_placement_agrees_with_is_refused_in_one_line(board, fragment):
    with pytest.raises(BadBoard, match="no placement of the plane agrees with this board") as error:
        solve(board)
    assert fragment in str(error.value) and "\n" not in str(error.value)
    assert isinstance(error.value, PlanestrikeError)


def test_a_board_with_another_value_is_refused():
    board = np.zeros((8, 8), np.float32)
    board[2, 3] = 0.5
    with pytest.raises(BadBoard, match="cell C4 holds 0.5"):
        solve(board)


# --- The table ----------------------------------------------------------------------------------------------------


def test_the_shipped_table_is_what_the_solver_computes_from_scratch():
    """Regenerating the table (python -m engine.solver --write-table) would change nothing: same beliefs, same T."""
    assert build_table(Solver()) == load_table()


def test_the_table_holds_every_move_of_the_empty_board_and_of_every_first_strike():
    table = load_table()
    positions = [ALL_PLACEMENTS] + [ALL_PLACEMENTS & side for c in range(64) for side in (COVERS[c], ~COVERS[c])]
    for placements in positions:
        for c in range(64):
            hit = placements & COVERS[c]
            for part in (hit, placements ^ hit):
                if hit and hit != placements and part.bit_count() >= MIN_PLACEMENTS:
                    assert canonical(part) in table


# --- The optimal agent --------------------------------------------------------------------------------------------


def test_the_optimal_agent_averages_12_05_strikes_exactly():
    agent = parse_agent_spec("optimal")
    assert isinstance(agent, OptimalAgent) and agent.deterministic
    report = evaluate(agent, exact=True)
    assert report.mean_strikes == 12.05 and f"{report.mean_strikes:.4f}" == "12.0500"
    lengths = measure_regret(agent).lengths()
    assert Fraction(int(lengths.sum()), 120) == Fraction(241, 20)
    # The optimal game lengths over the 120 placements (measured with an independent solver).
    assert sorted(collections.Counter(lengths.tolist()).items()) == [
        (8, 1), (9, 6), (10, 17), (11, 29), (12, 24), (13, 18), (14, 10), (15, 9), (16, 4), (17, 2)]


def test_the_optimal_tree_has_119_decision_states_and_120_leaves():
    solver = default_solver()
    states = list(game_beliefs(lambda placements, board: min(solver.optimal_informative(placements))))
    assert len(states) == len(set(states)) == 119
    several = [s for s in states if len({s & COVERS[c] for c in solver.optimal_informative(s)}) > 1]
    assert len(several) == 91  # positions with more than one optimal split
    leaves = set()
    for placement in range(120):  # follow each game to the belief where only its placement is left
        placements = ALL_PLACEMENTS
        while placements.bit_count() > 1:
            c = min(solver.optimal_informative(placements))
            placements &= COVERS[c] if PLACEMENTS.masks[placement, c] else ~COVERS[c]
        leaves.add(placements)
    assert leaves == {1 << p for p in range(120)}


def test_the_optimal_agent_strikes_the_lowest_optimal_cell_and_reports_its_values():
    agent = OptimalAgent()
    empty = np.zeros((8, 8), np.float32)
    probs = agent.probabilities(empty)
    assert probs.dtype == np.float32 and probs.shape == (64,) and probs.sum() == pytest.approx(1.0)
    assert set(np.flatnonzero(probs)) == {cell(n) for n in ("D4", "D5", "E4", "E5")}
    assert agent.choose(empty) == cell("D4")
    board = board_with(hits=[cell("D4")], misses=[cell("D5")])
    values = agent.cell_values(board)
    assert values.dtype == np.float64 and np.isnan(values[[cell("D4"), cell("D5")]]).all()
    best = agent.value(board)
    optimal = np.flatnonzero(agent.probabilities(board))
    assert np.allclose(values[optimal], best) and np.nanmin(values) == pytest.approx(best)
    assert agent.choose(board) == optimal.min()


def test_the_optimal_agent_finishes_a_plane_it_has_found():
    plane = [int(c) for c in PLACEMENTS.cells[100]]
    board = board_with(hits=plane[:2], misses=[c for c in range(64) if c not in plane])
    assert OptimalAgent().choose(board) == min(plane[2:])


# --- Regret -------------------------------------------------------------------------------------------------------


class ReadingOrderAgent(Agent):
    """Strikes the first untried cell, A1, A2, ... H8: a poor player who reaches unusual positions."""

    name = "reading order"

    def probabilities_batch(self, boards):
        flat = np.asarray(boards).reshape(len(boards), 64)
        return np.where(flat == 0, 1.0 - np.arange(64) / 64, 0.0).astype(np.float32)


class ColumnOrderAgent(ReadingOrderAgent):
    """A1, B1, ... H1, A2...: the same poor play, transposed (a different path through the beliefs)."""

    name = "column order"

    def probabilities_batch(self, boards):
        flat = np.asarray(boards).reshape(len(boards), 64)
        rank = np.array([(c % 8) * 8 + c // 8 for c in range(64)])
        return np.where(flat == 0, 1.0 - rank / 64, 0.0).astype(np.float32)


@pytest.mark.parametrize("agent", [HunterAgent(), ReadingOrderAgent(), ColumnOrderAgent(), OptimalAgent()],
                         ids=lambda agent: agent.name)
def test_regrets_along_the_games_add_up_to_the_exact_extra_strikes(agent):
    report = measure_regret(agent)
    mean = Fraction(int(report.lengths().sum()), 120)
    assert report.mean_strikes == mean
    assert report.optimum == Fraction(241, 20)
    assert report.regret_mean == sum(game.extra for game in report.games) / 120 == mean - report.optimum
    assert sum((m.share for m in report.mistakes), Fraction(0)) == report.regret_mean
    assert all(game.extra >= 0 for game in report.games)


def test_the_hunter_loses_exactly_one_fortieth_of_a_strike_in_three_positions():
    report = measure_regret(HunterAgent())
    assert report.mean_strikes == Fraction(483, 40) and report.regret_mean == Fraction(1, 40)
    assert len(report.mistakes) == 3 and all(m.share == Fraction(1, 120) for m in report.mistakes)
    assert all(m.cell not in m.optimal for m in report.mistakes)


def test_regret_needs_a_deterministic_agent():
    with pytest.raises(PlanestrikeError, match="deterministic"):
        measure_regret(parse_agent_spec("random"))
