"""Bayes-optimal play, solved exactly: the expected game length of every position and of every move from it.

A position is summed up by its belief S, the set of placements that agree with every hit and miss (see
``engine.beliefs``); under uniform placements each member of S is equally likely. Cells covered by every member
are sure hits, cells covered by none sure misses; only the others tell the striker something. Let T(S) be the
misses summed over the placements of S when play is optimal. A strike on an informative cell c splits S into the
placements that cover c (a hit: no miss for them) and the rest (a miss for each of them), so

    T(S) = min over informative c of |S minus cover(c)| + T(S and cover(c)) + T(S minus cover(c)),  T = 0 if |S| = 1.

A game is 8 hits plus its misses, so from a board with ``m`` misses the expected total length is
``8 + m + T(S) / |S|``: 8 + 486/120 = 12.05 exactly for the empty board.

``Solver`` computes T by a depth-first branch-and-bound over that recursion: moves are tried most promising first
and a move is dropped as soon as a lower bound (``engine.miss_bounds``) shows it cannot beat the best found so
far; results are memoised on S reduced by the 8 symmetries of the square, as exact values or as proven lower
bounds. The shipped table (``engine.optimal_table``) starts the memo with the answers for the empty board, every
position after one strike and the optimal and hunter games.

The functions at the end are the public API: boards in, exact ``Fraction`` values out.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from engine.beliefs import ALL_PLACEMENTS, COVERS, belief, transform_belief, transform_cell
from engine.miss_bounds import NEVER, miss_bounds
from engine.rules import CELL_COUNT, HIT, MISS, PLANE_SIZE, UNTRIED, cell_name, check_action

# Beliefs smaller than this are memoised as they are, without looking for their symmetric images: re-solving an
# image costs less than finding it.
_CANONICAL_MIN_PLACEMENTS = 7
# The memo grows with every new position; past this many entries it starts again (from the table).
_MEMO_LIMIT = 2_000_000
_CELLS = tuple(range(CELL_COUNT))
# The images of each cell's cover (and of its complement) under the 7 symmetries other than the identity: the
# image of ``belief & COVERS[c]`` is the image of ``belief`` and these, bit by bit.
_COVER_IMAGES = tuple(tuple(COVERS[transform_cell(s, c)] for s in range(1, 8)) for c in range(CELL_COUNT))
_UNCOVER_IMAGES = tuple(tuple(ALL_PLACEMENTS ^ cover for cover in images) for images in _COVER_IMAGES)
_NO_IMAGES = (ALL_PLACEMENTS,) * 7  # the images of "every placement": combined with a belief's, they give its own


class Solver:
    """Exact T(S), with a memo shared by every question asked of this solver.

    ``table``: exact T of canonical beliefs to start from (``engine.optimal_table.load_table()``), or None to
    solve everything from scratch. Safe to share between threads (a race only repeats work).
    """

    def __init__(self, table: Mapping[int, int] | None = None):
        self._table = dict(table or {})
        self._exact: dict[int, int] = dict(self._table)  # belief (as is, or canonical) -> T
        self._lower: dict[int, int] = {}  # belief -> a proven lower bound on T, when T itself is not known
        self._moves: dict[int, dict[int, int]] = {}  # belief -> {informative cell: misses summed if struck next}
        self._optimal: dict[int, tuple[int, ...]] = {}  # belief -> its optimal informative cells
        bounds = miss_bounds()
        self._bounds, self._hit_limits, self._width_caps = bounds.floor, bounds.hit_limits, bounds.width_caps
        self.expansions = 0  # beliefs expanded so far (for benchmarks)

    # --- The search ------------------------------------------------------------------------------------------

    def misses(self, placements: int) -> int:
        """T(S): misses summed over the placements of ``placements`` under optimal play."""
        return self._bounded(placements, NEVER)

    def _bounded(self, placements: int, beta: int) -> int:
        """T(S) if it is below ``beta``, else a proven lower bound on it that is at least ``beta``."""
        if not placements:
            raise ValueError("an empty belief has no optimal play: no placement agrees with the board")
        self._trim()
        images = tuple(transform_belief(symmetry, placements) for symmetry in range(1, 8))
        core = sum(1 << cell for cell in _CELLS if COVERS[cell] & placements == placements)
        return self._search(placements, placements.bit_count(), beta, COVERS, _CELLS, PLANE_SIZE, core, _NO_IMAGES,
                            images)

    def _search(self, placements: int, n: int, beta: int, covers, cells, hits_left: int, core: int, parent_images,
                side_images) -> int:
        """T(placements) if it is below ``beta``; otherwise some proven lower bound on it that is >= ``beta``.

        ``covers`` and ``cells``: a superset of the informative cells, with their covers (restricted to any superset
        of ``placements``); ``hits_left``: no placement has more cells than this left to hit; ``core``: cells known
        to be hits on every placement (a 64-bit mask; maybe not all of them). The 7 other images of
        ``placements`` under the symmetries are ``parent_images`` and ``side_images`` combined bit by bit (the
        parent's images and those of the cover, or of its complement, that made this belief): computed only when
        needed, in 7 operations instead of 105 table look-ups.
        """
        if n <= 2:
            return n - 1
        exact, lower = self._exact, self._lower
        known = exact.get(placements)
        if known is not None:
            return known
        floor = lower.get(placements, 0)
        if floor >= beta:
            return floor
        key = placements
        images = None
        if n >= _CANONICAL_MIN_PLACEMENTS:
            images = list(map(int.__and__, parent_images, side_images))
            key = min(placements, *images)
            if key != placements:
                known = exact.get(key)
                if known is not None:
                    exact[placements] = known
                    return known
                image_floor = lower.get(key, 0)
                if image_floor > floor:
                    floor = image_floor
                    if floor >= beta:
                        lower[placements] = floor
                        return floor
        self.expansions += 1

        # The informative splits, once each (two cells covering the same placements are one move here), each with
        # one cell that makes it. Built with map/dict, which loop in C: this is the hottest code of the solver.
        outcomes = list(map(placements.__and__, covers))
        sure_hits = outcomes.count(placements)
        if sure_hits:  # one cell fewer left to hit on every placement, for each
            hits_left -= sure_hits
            core |= sum(1 << cell for outcome, cell in zip(outcomes, cells) if outcome == placements)
        cell_of = dict(zip(outcomes, cells))
        cell_of.pop(0, None)
        cell_of.pop(placements, None)
        split_covers, split_cells = list(cell_of), list(cell_of.values())
        sizes = list(map(int.bit_count, split_covers))
        widest = max(sizes)
        if n == 3:  # 2 if one strike can isolate a pair (one miss, then one more), else 3
            return 2 if widest == 2 else 3

        informative_hits = min(hits_left, self._hit_limits[core])
        after_miss = self._bounds[widest][informative_hits]
        after_hit = self._bounds[min(widest, self._width_caps[informative_hits - 1])][informative_hits - 1]
        # Most promising first: the lowest bound, then the likeliest hit (what the hunter would strike).
        order = sorted(zip([n - size + after_hit[size] + after_miss[n - size] for size in sizes],
                           [-size for size in sizes], split_covers, split_cells))
        floor = max(floor, order[0][0])
        if floor >= beta:
            lower[key] = lower[placements] = floor
            return floor

        search, bounds_by_width = self._search, self._bounds
        best = beta
        found = False
        refuted = NEVER  # the smallest lower bound proven for a move that could not beat ``best``
        for move_floor, negative_size, hit, cell in order:
            if move_floor >= best:
                refuted = min(refuted, move_floor)
                break  # sorted: every later move is bounded at least as high
            hit_size = -negative_size
            miss_size = n - hit_size
            miss = placements ^ hit
            # The miss part's own widest cell (covers can only shrink) gives it a tighter floor than ``after_miss``.
            widest_miss = min(max(map(int.bit_count, map(miss.__and__, split_covers))), miss_size - 1)
            miss_floor = max(bounds_by_width[widest_miss][informative_hits][miss_size], lower.get(miss, 0))
            if hit_size > 2:
                hit_misses = search(hit, hit_size, best - miss_size - miss_floor, split_covers, split_cells, hits_left,
                                    core | 1 << cell, images, _COVER_IMAGES[cell])
            else:
                hit_misses = hit_size - 1
            if miss_size + hit_misses + miss_floor >= best:
                refuted = min(refuted, miss_size + hit_misses + miss_floor)
                continue
            if miss_size > 2:
                miss_misses = search(miss, miss_size, best - miss_size - hit_misses, split_covers, split_cells,
                                     hits_left, core, images, _UNCOVER_IMAGES[cell])
            else:
                miss_misses = miss_size - 1
            total = miss_size + hit_misses + miss_misses
            if total < best:
                best, found = total, True
            else:
                refuted = min(refuted, total)
        if found:  # every other move was bounded at or above ``best`` while ``best`` was at least this low
            exact[key] = exact[placements] = best
            return best
        floor = max(floor, refuted)
        lower[key] = lower[placements] = floor
        return floor

    def _trim(self) -> None:
        """Start the memo again when it has grown past ``_MEMO_LIMIT`` (a long session of unusual positions)."""
        if len(self._lower) > _MEMO_LIMIT:
            self._lower.clear()
        if len(self._exact) > _MEMO_LIMIT:
            self._exact = dict(self._table)
        if len(self._moves) + len(self._optimal) > _MEMO_LIMIT // 100:
            self._moves.clear()
            self._optimal.clear()

    # --- Moves -----------------------------------------------------------------------------------------------

    def move_misses(self, placements: int) -> dict[int, int]:
        """For every informative cell: misses summed over ``placements`` if it is struck next, then optimal play."""
        known = self._moves.get(placements)
        if known is not None:
            return known
        n = placements.bit_count()
        moves = {}
        for cell in range(CELL_COUNT):
            hit = placements & COVERS[cell]
            if hit and hit != placements:
                moves[cell] = self._split_misses(placements, hit, n)
        self._moves[placements] = moves
        return moves

    def _split_misses(self, placements: int, hit: int, n: int) -> int:
        miss = placements ^ hit
        return (n - hit.bit_count()) + self.misses(hit) + self.misses(miss)

    def move_regret(self, placements: int, cell: int) -> Fraction:
        """Expected extra strikes of striking ``cell`` next (then playing optimally) over optimal play."""
        n = placements.bit_count()
        hit = placements & COVERS[cell]
        if hit == placements:
            return Fraction(0)  # a sure hit: no miss, nothing learnt, nothing lost
        if not hit:
            return Fraction(1)  # a sure miss: one strike wasted
        moves = self._moves.get(placements)
        total = moves[cell] if moves is not None else self._split_misses(placements, hit, n)
        return Fraction(total - self.misses(placements), n)

    def optimal_informative(self, placements: int) -> tuple[int, ...]:
        """The informative cells achieving T(S), without computing the exact value of the others."""
        known = self._optimal.get(placements)
        if known is not None:
            return known
        moves = self._moves.get(placements)
        if moves is not None:
            best = min(moves.values(), default=None)
            return tuple(cell for cell, total in moves.items() if total == best)
        n = placements.bit_count()
        target = self.misses(placements)
        optimal = []
        for cell in range(CELL_COUNT):
            hit = placements & COVERS[cell]
            if not hit or hit == placements:
                continue
            miss = placements ^ hit
            miss_size = n - hit.bit_count()
            room = target + 1 - miss_size  # the move is optimal iff its two parts sum to at most target - miss_size
            hit_misses = self._bounded(hit, room)
            if hit_misses >= room:
                continue
            if miss_size + hit_misses + self._bounded(miss, room - hit_misses) <= target:
                optimal.append(cell)
        self._optimal[placements] = tuple(optimal)
        return self._optimal[placements]


# --- The public API: boards in, exact expected strikes out ------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """Optimal play from one board, in expected total strikes of the game (strikes made so far included).

    ``cells`` holds every untried cell: its expected total if it is struck next and play is optimal afterwards. A
    sure hit (a cell every agreeing placement covers) costs no miss and is always optimal; a sure miss costs one
    strike more than the position. ``optimal`` lists the untried cells that reach ``value``, lowest index first.
    """

    value: Fraction
    cells: dict[int, Fraction]
    optimal: tuple[int, ...]
    placements: int  # how many placements agree with the board
    sure_hits: tuple[int, ...]
    sure_misses: tuple[int, ...]

    @property
    def informative(self) -> tuple[int, ...]:
        """Untried cells whose outcome is not yet known."""
        known = set(self.sure_hits) | set(self.sure_misses)
        return tuple(cell for cell in self.cells if cell not in known)


_default: Solver | None = None


def default_solver() -> Solver:
    """The process's shared solver, started from the shipped table (loaded on first use)."""
    global _default
    if _default is None:
        from engine.optimal_table import load_table

        _default = Solver(load_table())
    return _default


def _position(board: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The board as 64 cells, its belief (raises ``BadBoard``) and its misses so far."""
    flat = np.asarray(board, dtype=np.float64).reshape(-1)
    placements = belief(flat)
    return flat, placements, int(np.count_nonzero(flat == MISS))


def _sure_cells(flat: np.ndarray, placements: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    hits, misses = [], []
    for cell in np.flatnonzero(flat == UNTRIED):
        covered = placements & COVERS[cell]
        if covered == placements:
            hits.append(int(cell))
        elif not covered:
            misses.append(int(cell))
    return tuple(hits), tuple(misses)


def solve(board: np.ndarray, solver: Solver | None = None) -> Solution:
    """Optimal play from ``board`` (8x8 or 64 cells: 0 untried, 1 hit, -1 miss). Raises ``BadBoard`` for a board
    that no placement agrees with. A finished board (all 8 plane cells hit) has no untried cell worth striking:
    ``optimal`` is empty and every untried cell is a sure miss."""
    solver = solver or default_solver()
    flat, placements, misses = _position(board)
    n = placements.bit_count()
    base = PLANE_SIZE + misses  # strikes of a game with no further miss
    expected = base + Fraction(solver.misses(placements), n)
    sure_hits, sure_misses = _sure_cells(flat, placements)
    cells = {cell: base + Fraction(total, n) for cell, total in solver.move_misses(placements).items()}
    cells.update({cell: expected for cell in sure_hits})
    cells.update({cell: expected + 1 for cell in sure_misses})
    cells = dict(sorted(cells.items()))
    finished = int(np.count_nonzero(flat == HIT)) == PLANE_SIZE
    optimal = () if finished else tuple(cell for cell, v in cells.items() if v == expected)
    return Solution(expected, cells, optimal, n, sure_hits, sure_misses)


def value(board: np.ndarray, solver: Solver | None = None) -> Fraction:
    """Expected total strikes of the game from ``board`` under optimal play."""
    solver = solver or default_solver()
    _, placements, misses = _position(board)
    return PLANE_SIZE + misses + Fraction(solver.misses(placements), placements.bit_count())


def optimal_cells(board: np.ndarray, solver: Solver | None = None) -> tuple[int, ...]:
    """The untried cells that keep play optimal (sure hits included), lowest index first; faster than ``solve``
    because the other cells are only proven worse, not valued. Empty for a finished board."""
    solver = solver or default_solver()
    flat, placements, _ = _position(board)
    if int(np.count_nonzero(flat == HIT)) == PLANE_SIZE:
        return ()
    sure_hits, _ = _sure_cells(flat, placements)
    return tuple(sorted(set(sure_hits) | set(solver.optimal_informative(placements))))


def regret(board: np.ndarray, cell: int, solver: Solver | None = None) -> Fraction:
    """Expected extra strikes of striking ``cell`` next instead of an optimal cell (0 when it is optimal).
    Raises ``ValueError`` for a cell already struck."""
    solver = solver or default_solver()
    cell = check_action(cell)
    flat, placements, _ = _position(board)
    if flat[cell] != UNTRIED:
        raise ValueError(f"cell {cell} ({cell_name(cell)}) was already struck: choose an untried cell")
    return solver.move_regret(placements, cell)


def main(argv: list[str]) -> int:
    """``python -m engine.solver --write-table``: regenerate the shipped table (engine/optimal_table.py)."""
    from engine.optimal_table import TABLE_PATH, write_table

    if argv != ["--write-table"]:
        print("usage: python -m engine.solver --write-table   (regenerates engine/optimal_table.json)", file=sys.stderr)
        return 2
    count = write_table()
    print(f"wrote {TABLE_PATH} ({count} beliefs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
