"""The rules of Plane Strike exactly as the official Android app plays them.

The board is 8x8. One plane of 8 cells hides on it: a plus-shaped body (a centre and its four neighbours) and a
3-cell tail bar two cells behind the centre, pointing in one of four headings. Every legal placement is
enumerated once in ``PLACEMENTS`` (120 in all, 30 per heading), so the rest of the project can work with a
placement *index* and vectorise over the whole table.

Cells of an observation: 0 = untried, 1 = hit, -1 = miss (float32 8x8). Action index = row * 8 + col.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

BOARD_SIZE = 8
CELL_COUNT = BOARD_SIZE * BOARD_SIZE
PLANE_SIZE = 8

UNTRIED = 0.0
HIT = 1.0
MISS = -1.0


class Heading(IntEnum):
    """Where the nose points; the tail bar sits two cells behind the centre."""

    RIGHT = 0  # tail bar at column c-2
    UP = 1  # tail bar at row r+2
    LEFT = 2  # tail bar at column c+2
    DOWN = 3  # tail bar at row r-2


# (row, col) offset from the centre to the middle of the tail bar, and the direction along the bar.
_TAIL = {
    Heading.RIGHT: ((0, -2), (1, 0)),
    Heading.UP: ((2, 0), (0, 1)),
    Heading.LEFT: ((0, 2), (1, 0)),
    Heading.DOWN: ((-2, 0), (0, 1)),
}


def plane_cells(row: int, col: int, heading: Heading) -> list[tuple[int, int]] | None:
    """The 8 (row, col) cells of a plane centred at (row, col), or None if any cell falls off the board."""
    (tr, tc), (dr, dc) = _TAIL[Heading(heading)]
    body = [(row, col), (row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)]
    tail = [(row + tr + k * dr, col + tc + k * dc) for k in (-1, 0, 1)]
    cells = body + tail
    if all(0 <= r < BOARD_SIZE and 0 <= c < BOARD_SIZE for r, c in cells):
        return cells
    return None


@dataclass(frozen=True)
class PlacementTable:
    """Every legal placement once, in a fixed order (heading, then row, then column of the centre)."""

    headings: np.ndarray  # int8 [120]
    centres: np.ndarray  # int8 [120, 2] (row, col)
    cells: np.ndarray  # int64 [120, 8] action indices of the plane's cells
    masks: np.ndarray  # bool [120, 64] True where the plane is

    def __len__(self) -> int:
        return len(self.headings)

    def board(self, index: int) -> np.ndarray:
        """The plane of placement ``index`` drawn as an 8x8 bool array (for display and tests)."""
        return self.masks[index].reshape(BOARD_SIZE, BOARD_SIZE).copy()


def _enumerate_placements() -> PlacementTable:
    headings, centres, cells = [], [], []
    for heading in Heading:
        for row in range(BOARD_SIZE):
            for col in range(BOARD_SIZE):
                plane = plane_cells(row, col, heading)
                if plane is not None:
                    headings.append(int(heading))
                    centres.append((row, col))
                    cells.append([r * BOARD_SIZE + c for r, c in plane])
    cells_arr = np.array(cells, dtype=np.int64)
    masks = np.zeros((len(cells), CELL_COUNT), dtype=bool)
    np.put_along_axis(masks, cells_arr, True, axis=1)
    table = PlacementTable(
        headings=np.array(headings, dtype=np.int8),
        centres=np.array(centres, dtype=np.int8),
        cells=cells_arr,
        masks=masks,
    )
    for arr in (table.headings, table.centres, table.cells, table.masks):
        arr.setflags(write=False)
    return table


PLACEMENTS = _enumerate_placements()
PLACEMENT_COUNT = len(PLACEMENTS)  # 120


def check_action(action: object) -> int:
    """Validate an action index and return it as an int; raise ValueError naming the problem."""
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
        raise ValueError(f"action must be an integer cell index 0..63 (row*8 + col), got {action!r}")
    if not 0 <= int(action) < CELL_COUNT:
        raise ValueError(f"action {int(action)} is off the board: use a cell index 0..63 (row*8 + col)")
    return int(action)


def cell_name(action: int) -> str:
    """Human name of a cell, like the app's labels: row letter A-H, column number 1-8 (``C5``)."""
    row, col = divmod(action, BOARD_SIZE)
    return f"{'ABCDEFGH'[row]}{col + 1}"
