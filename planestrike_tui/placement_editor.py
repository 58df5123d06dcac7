"""Moving and turning the person's plane before a game: lookups in the engine's table of the 120 placements.

A move or turn that would put a cell off the board has no placement in the table, so it returns None and the
plane stays where it is. No rules of its own: legality is whatever ``engine.rules.PLACEMENTS`` enumerates.
"""

from __future__ import annotations

from engine.rules import PLACEMENTS, Heading

_INDEX = {
    (int(heading), int(row), int(col)): index
    for index, (heading, (row, col)) in enumerate(zip(PLACEMENTS.headings, PLACEMENTS.centres))
}


def placement_index(row: int, col: int, heading: int) -> int | None:
    return _INDEX.get((int(heading), row, col))


def moved(index: int, d_row: int, d_col: int) -> int | None:
    row, col = (int(v) for v in PLACEMENTS.centres[index])
    return placement_index(row + d_row, col + d_col, int(PLACEMENTS.headings[index]))


def turned(index: int) -> int | None:
    """The plane turned a quarter anticlockwise about its centre (right -> up -> left -> down)."""
    row, col = (int(v) for v in PLACEMENTS.centres[index])
    return placement_index(row, col, (int(PLACEMENTS.headings[index]) + 1) % len(Heading))
