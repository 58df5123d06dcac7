"""Reference agents and the app's choice rule."""

import numpy as np
import pytest

from engine import PLACEMENTS, HunterAgent, RandomAgent, masked_argmax
from engine.rules import HIT, MISS


def board_with(hits=(), misses=()):
    board = np.zeros(64, dtype=np.float32)
    board[list(hits)] = HIT
    board[list(misses)] = MISS
    return board.reshape(8, 8)


def test_masked_argmax_never_picks_a_tried_cell_and_breaks_ties_to_the_lowest_index():
    board = board_with(misses=[0])
    probs = np.zeros(64, dtype=np.float32)
    probs[0] = 1.0  # the best cell is already tried
    probs[[5, 9]] = 0.5
    assert masked_argmax(probs[None], board[None]).tolist() == [5]
    assert masked_argmax(np.full((1, 64), np.nan), board[None]).tolist() == [1]  # NaN never wins


def test_hunter_first_strike_is_a_centre_cell_and_matches_counting_by_hand():
    hunter = HunterAgent()
    empty = board_with()
    probs = hunter.probabilities(empty)
    expected = PLACEMENTS.masks.sum(axis=0) / 120  # every placement is consistent
    assert np.allclose(probs, expected)
    assert hunter.choose(empty) in {27, 28, 35, 36}  # the 4 centre cells
    assert hunter.choose(empty) == int(np.argmax(expected))


def test_hunter_probabilities_are_shares_of_consistent_placements():
    hunter = HunterAgent()
    # A miss on D4 (27) and a hit on D5 (28): count by hand over the table.
    board = board_with(hits=[28], misses=[27])
    consistent = PLACEMENTS.masks[:, 28] & ~PLACEMENTS.masks[:, 27]
    expected = PLACEMENTS.masks[consistent].sum(axis=0) / consistent.sum()
    expected[[27, 28]] = 0.0  # tried cells
    assert np.allclose(hunter.probabilities(board), expected)


def test_hunter_finishes_a_plane_once_only_one_placement_remains():
    hunter = HunterAgent()
    target = 42
    others = np.flatnonzero(PLACEMENTS.masks[target])
    # Reveal 7 of the 8 plane cells plus misses everywhere else except one cell of the plane.
    board = np.full(64, MISS, dtype=np.float32)
    board[others[:7]] = HIT
    board[others[7]] = 0.0
    assert hunter.consistent(board.reshape(1, 8, 8)).sum() == 1
    assert hunter.choose(board.reshape(8, 8)) == others[7]


def test_random_agent_is_uniform_over_untried_cells_and_reproducible():
    board = board_with(misses=range(0, 60))  # 4 untried cells: 60..63
    picks = np.array([RandomAgent(seed=3).choose_batch(np.repeat(board[None], 4000, 0))]).ravel()
    assert set(picks.tolist()) == {60, 61, 62, 63}
    assert np.allclose(np.bincount(picks)[60:] / 4000, 0.25, atol=0.03)
    again = RandomAgent(seed=3).choose_batch(np.repeat(board[None], 4000, 0))
    assert (picks == again).all()
    assert np.allclose(RandomAgent(0).probabilities(board)[60:], 0.25)


def test_a_finished_board_cannot_be_played():
    with pytest.raises(ValueError, match="no untried cell"):
        HunterAgent().choose(np.full((8, 8), MISS, dtype=np.float32))
