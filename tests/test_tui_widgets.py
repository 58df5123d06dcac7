"""The widgets' pure helpers: the heatmap's colour scale and number format, the board's cell geometry."""

import numpy as np

from planestrike_tui.widgets.board import cell_size
from planestrike_tui.widgets.heatmap import heat, percent


def test_heat_keeps_a_peaked_policys_runners_up_apart():
    board = np.zeros(64, np.float32)
    probabilities = np.full(64, 1e-9)
    probabilities[10], probabilities[20], probabilities[30], probabilities[40] = 0.99, 1e-2, 1e-4, 1e-16
    h = heat(probabilities, board)
    assert h[10] == 1.0
    assert 1.0 > h[20] > h[30] > h[0] > h[40] == 0.0  # every level apart, down to the smallest untried cell


def test_heat_ignores_tried_cells_and_handles_flat_and_empty_boards():
    board = np.zeros(64, np.float32)
    board[5], board[6] = 1.0, -1.0
    probabilities = np.full(64, 1 / 64)
    probabilities[5] = 0.9  # a net may favour a tried cell: it must not set the scale
    h = heat(probabilities, board)
    assert h[5] == h[6] == 0.0
    assert (np.delete(h, [5, 6]) == 1.0).all()
    assert not heat(np.zeros(64), np.zeros(64)).any()
    assert not heat(np.full(64, np.nan), np.zeros(64)).any()


def test_percent_fits_the_cell():
    assert percent(0.125, 5) == "12.5"
    assert percent(1.0, 5) == "100"
    assert percent(0.03125, 5) == "3.1"
    assert percent(0.125, 3) == "12"
    assert percent(1.0, 3) == "100"


def test_cell_size_follows_the_widget_size():
    assert cell_size(26, 9) == (3, 1)  # 80x24
    assert cell_size(34, 17) == (4, 2)  # large terminals
    assert cell_size(24, 8, labels=False) == (3, 1)
