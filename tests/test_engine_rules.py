"""The rules: the placement table, the game, and the distributions hidden boards are drawn from."""

import numpy as np
import pytest
from scipy import stats

from engine import PLACEMENTS, Game, Heading, draw_placements, placement_probabilities
from engine.rules import BOARD_SIZE, plane_cells


def test_there_are_exactly_120_placements_30_per_heading():
    assert PLACEMENTS.masks.shape == (120, 64)
    assert PLACEMENTS.cells.shape == (120, 8)
    assert (PLACEMENTS.masks.sum(axis=1) == 8).all()
    assert np.bincount(PLACEMENTS.headings, minlength=4).tolist() == [30, 30, 30, 30]
    assert len({m.tobytes() for m in PLACEMENTS.masks}) == 120  # each placement once


def test_plane_shape_is_a_plus_body_with_a_tail_bar_two_cells_behind():
    # Heading right, centre C4 (row 2, col 3): nose at col 4, tail bar at col 1, rows 1-3.
    cells = set(plane_cells(2, 3, Heading.RIGHT))
    assert cells == {(2, 3), (1, 3), (3, 3), (2, 2), (2, 4), (1, 1), (2, 1), (3, 1)}
    cells = set(plane_cells(2, 3, Heading.UP))  # tail bar two rows below the centre
    assert cells == {(2, 3), (1, 3), (3, 3), (2, 2), (2, 4), (4, 2), (4, 3), (4, 4)}
    assert plane_cells(0, 3, Heading.RIGHT) is None  # wing off the top edge


def _symmetries(board):
    for k in range(4):
        rotated = np.rot90(board, k)
        yield rotated
        yield rotated.T


def test_placement_set_is_closed_under_the_8_symmetries_of_the_square():
    boards = {m.tobytes() for m in PLACEMENTS.masks}
    for mask in PLACEMENTS.masks:
        for image in _symmetries(mask.reshape(BOARD_SIZE, BOARD_SIZE)):
            assert np.ascontiguousarray(image).reshape(-1).tobytes() in boards


def test_uniform_draw_passes_a_chi_square_test():
    draws = draw_placements(np.random.default_rng(1234), 120_000, "uniform")
    counts = np.bincount(draws, minlength=120)
    assert stats.chisquare(counts).pvalue > 0.001


def test_legacy_distribution_reaches_115_placements_with_up_weighted_1_in_100():
    probs = placement_probabilities("legacy")
    assert probs.sum() == pytest.approx(1.0)
    assert (probs > 0).sum() == 115
    up = PLACEMENTS.headings == Heading.UP
    never = up & (PLACEMENTS.centres[:, 1] == 6)
    assert sorted(PLACEMENTS.centres[never, 0].tolist()) == [1, 2, 3, 4, 5]
    assert np.allclose(probs[up & ~never], 1 / 100)
    assert np.allclose(probs[~up], 1 / 120)
    draws = draw_placements(np.random.default_rng(7), 60_000, "legacy")
    counts = np.bincount(draws, minlength=120)
    assert counts[never].sum() == 0
    assert stats.chisquare(counts[probs > 0], 60_000 * probs[probs > 0]).pvalue > 0.001


def test_unknown_distribution_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="uniform, legacy"):
        placement_probabilities("biased")


def test_same_seed_draws_the_same_boards():
    a = draw_placements(np.random.default_rng(99), 50)
    b = draw_placements(np.random.default_rng(99), 50)
    assert (a == b).all()
    assert not (a == draw_placements(np.random.default_rng(100), 50)).all()


def test_a_game_ends_when_all_8_plane_cells_are_hit():
    game = Game(17)
    misses = [a for a in range(64) if not PLACEMENTS.masks[17, a]][:5]
    for action in misses:
        assert game.strike(action) is False
    for action in PLACEMENTS.cells[17]:
        assert not game.finished
        assert game.strike(int(action)) is True
    assert game.finished and game.strikes == 13 and game.hits == 8
    board = game.observation()
    assert board.dtype == np.float32 and board.shape == (8, 8)
    assert (board == 1).sum() == 8 and (board == -1).sum() == 5 and (board == 0).sum() == 51


@pytest.mark.parametrize("action, message", [(64, "off the board"), (-1, "off the board"), (2.5, "integer"), (True, "integer")])
def test_bad_actions_raise_a_clear_value_error(action, message):
    with pytest.raises(ValueError, match=message):
        Game(0).strike(action)


def test_striking_a_tried_cell_raises():
    game = Game(0)
    game.strike(0)
    with pytest.raises(ValueError, match="already struck"):
        game.strike(0)
