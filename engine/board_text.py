"""A board written as text: 64 characters row by row (A1 to A8, then B1...), ``.`` untried, ``x`` hit, ``o`` miss.

Whitespace is ignored, so a board can be written as one word or as 8 lines of 8; ``X`` and ``O`` are accepted too.
"""

from __future__ import annotations

import numpy as np

from engine.errors import BadBoard
from engine.rules import BOARD_SIZE, CELL_COUNT, HIT, MISS, UNTRIED, cell_name

_VALUES = {".": UNTRIED, "x": HIT, "o": MISS}
_SYMBOLS = {UNTRIED: ".", HIT: "x", MISS: "o"}
FORMAT_HELP = "64 characters row by row (A1 to H8), '.' untried, 'x' hit, 'o' miss; spaces and newlines are ignored"
EMPTY_BOARD = "." * CELL_COUNT


def parse_board(text: str) -> np.ndarray:
    """The float32 8x8 board ``text`` describes. Raises ``BadBoard`` naming the first problem."""
    cells = "".join(text.split())
    for index, char in enumerate(cells[:CELL_COUNT]):
        if char.lower() not in _VALUES:
            raise BadBoard(f"has {char!r} at cell {cell_name(index)} (character {index + 1}): "
                           "write '.' untried, 'x' hit, 'o' miss")
    if len(cells) != CELL_COUNT:
        raise BadBoard(f"has {len(cells)} cells, a board has {CELL_COUNT}: write {FORMAT_HELP}")
    board = np.array([_VALUES[char.lower()] for char in cells], dtype=np.float32)
    return board.reshape(BOARD_SIZE, BOARD_SIZE)


def format_board(board: np.ndarray, separator: str = "") -> str:
    """The text of a board; ``separator`` goes between rows (``" "`` or ``"\\n"`` for people)."""
    flat = np.asarray(board, dtype=np.float32).reshape(-1)
    rows = ["".join(_SYMBOLS[float(v)] for v in flat[r * BOARD_SIZE:(r + 1) * BOARD_SIZE]) for r in range(BOARD_SIZE)]
    return separator.join(rows)
