"""One hidden plane and the strikes made against it: the state one player sees of the other's board."""

from __future__ import annotations

import numpy as np

from engine.rules import BOARD_SIZE, CELL_COUNT, HIT, MISS, PLACEMENT_COUNT, PLACEMENTS, PLANE_SIZE, UNTRIED, check_action, cell_name


class Game:
    """A board with a hidden plane. ``strike`` reveals one cell; the game ends when all 8 plane cells are hit.

    Its length is the number of strikes made, 8 to 64 (8 + misses).
    """

    def __init__(self, placement: int):
        if not 0 <= int(placement) < PLACEMENT_COUNT:
            raise ValueError(f"placement {placement} does not exist: use an index 0..{PLACEMENT_COUNT - 1}")
        self.placement = int(placement)
        self._plane = PLACEMENTS.masks[self.placement]
        self._cells = np.full(CELL_COUNT, UNTRIED, dtype=np.float32)
        self.strikes = 0
        self.hits = 0
        self.last_action: int | None = None

    @property
    def finished(self) -> bool:
        return self.hits == PLANE_SIZE

    @property
    def plane(self) -> np.ndarray:
        """The hidden plane as a bool 8x8 array (what the owner of the board sees)."""
        return self._plane.reshape(BOARD_SIZE, BOARD_SIZE)

    def observation(self) -> np.ndarray:
        """What the striking player sees: float32 8x8, 0 untried, 1 hit, -1 miss (a copy)."""
        return self._cells.reshape(BOARD_SIZE, BOARD_SIZE).copy()

    def is_tried(self, action: int) -> bool:
        return self._cells[check_action(action)] != UNTRIED

    def strike(self, action: int) -> bool:
        """Strike one cell; return True on a hit. Raises ValueError for a tried, off-board or post-game strike."""
        action = check_action(action)
        if self.finished:
            raise ValueError("the game is over: all 8 plane cells are already hit; start a new game")
        if self._cells[action] != UNTRIED:
            raise ValueError(f"cell {action} ({cell_name(action)}) was already struck: choose an untried cell")
        hit = bool(self._plane[action])
        self._cells[action] = HIT if hit else MISS
        self.strikes += 1
        self.hits += hit
        self.last_action = action
        return hit
