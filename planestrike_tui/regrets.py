"""Every move's cost in strikes, for the app: exact solutions of the positions a game passes through, and the
running totals of each player's (and each panel's) regret.

A move's regret is the expected number of strikes it adds to the game against optimal play from the same position
(``engine.solver``): 0 for an optimal move; summed over a game it is the strikes lost to perfect play, in
expectation over the placements that agree with what was seen. Solving takes up to about a second for an unusual
position, so the screen calls ``Judge.solve`` in a worker and everything else here only reads what is solved: a
total whose positions are not all solved yet says so (``Tally.pending``) rather than waiting.

No Textual here: the screen owns the workers and the drawing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from engine.rules import CELL_COUNT, UNTRIED

# Every solve in this process goes through this lock: the solver's memo is not thread-safe, and the optimal agent's
# panel (planestrike_tui.roster) and the judge share the process's solver.
SOLVER_LOCK = threading.Lock()

SOLVED_POSITIONS_KEPT = 4096  # boards whose values are kept (about 0.6 KB each); the oldest are dropped first


@dataclass(frozen=True)
class Values:
    """One solved position: the expected total strikes of the game for every cell struck next (NaN for a cell
    already tried) and under optimal play (``best``)."""

    cells: np.ndarray  # float64 [64]
    best: float

    def regret(self, cell: int) -> float:
        return float(self.cells[cell]) - self.best

    @property
    def optimal(self) -> tuple[int, ...]:
        untried = ~np.isnan(self.cells)
        return tuple(int(c) for c in np.flatnonzero(untried & np.isclose(self.cells, self.best, rtol=0, atol=1e-9)))


def board_key(board: np.ndarray) -> bytes:
    """A position's identity: its 64 cells (hits, misses, untried) as bytes."""
    return np.asarray(board, dtype=np.int8).reshape(-1).tobytes()


class Judge:
    """Solved positions, kept by board. ``solve`` blocks (call it in a worker); the rest never does."""

    def __init__(self, solver=None) -> None:
        self._solver = solver  # None: the process's shared solver (engine.solver.default_solver)
        self._solved: OrderedDict[bytes, Values] = OrderedDict()
        self._lock = threading.Lock()  # guards _solved between the workers and the UI thread

    def values(self, board: np.ndarray) -> Values | None:
        with self._lock:
            return self._solved.get(board_key(board))

    def solve(self, board: np.ndarray) -> Values:
        """Solve ``board`` exactly (blocking; raises ``BadBoard`` for a board no placement agrees with)."""
        known = self.values(board)
        if known is not None:
            return known
        from engine.solver import solve

        with SOLVER_LOCK:
            solution = solve(board, self._solver)
        cells = np.full(CELL_COUNT, np.nan)
        for cell, expected in solution.cells.items():
            cells[cell] = float(expected)
        values = Values(cells, float(solution.value))
        with self._lock:
            self._solved[board_key(board)] = values
            while len(self._solved) > SOLVED_POSITIONS_KEPT:
                self._solved.popitem(last=False)
        return values


@dataclass
class Tally:
    """One player's (or panel's) regret over a game so far."""

    total: float = 0.0  # summed over the solved moves
    last: float | None = None  # the latest move's, if solved
    moves: int = 0
    pending: int = 0  # moves whose position is not solved yet

    def text(self, decimals: int = 3) -> str:
        total = f"{self.total:.{decimals}f}"
        return f"{total}+…" if self.pending else total


class RegretBook:
    """The moves of one game whose regret is counted, per actor (a panel's spec, or a seat for the moves really
    played): the board each move was made on and the cell chosen. One entry per actor and position: a panel
    asked twice about the same position counts once."""

    def __init__(self) -> None:
        self._moves: dict[str, dict[object, tuple[np.ndarray, int]]] = {}

    def clear(self) -> None:
        self._moves.clear()

    def forget(self, actor: str) -> None:
        self._moves.pop(actor, None)

    def clear_panels(self, keep: tuple[str, ...]) -> None:
        """Forget every actor but ``keep`` (the moves played, when the panels start watching another board)."""
        for actor in [actor for actor in self._moves if actor not in keep]:
            del self._moves[actor]

    def record(self, actor: str, position: object, board: np.ndarray, cell: int) -> None:
        """``actor`` chooses ``cell`` on ``board`` at ``position`` (any hashable naming the position). An untried
        cell only: striking a tried cell is no move (the app refuses it; a panel's broken choice is not scored)."""
        board = np.asarray(board).reshape(-1)
        if board[cell] != UNTRIED:
            return
        self._moves.setdefault(actor, {})[position] = (board.copy(), int(cell))

    def boards(self) -> list[np.ndarray]:
        """Every board a move was made on (for the screen to have solved)."""
        return [board for moves in self._moves.values() for board, _ in moves.values()]

    def tally(self, actor: str, judge: Judge, last_position: object | None = None) -> Tally:
        """``actor``'s total so far, and the regret of its move at ``last_position`` (by default its latest)."""
        moves = self._moves.get(actor, {})
        tally = Tally(moves=len(moves))
        if last_position is None and moves:
            last_position = next(reversed(moves))
        for position, (board, cell) in moves.items():
            values = judge.values(board)
            if values is None:
                tally.pending += 1
                continue
            regret = values.regret(cell)
            tally.total += regret
            if position == last_position:
                tally.last = regret
        return tally
