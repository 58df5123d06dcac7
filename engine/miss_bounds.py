"""Lower bounds on T(S), the misses of optimal play, for the solver's branch-and-bound (``engine.solver``).

A bound here is the optimum of a *relaxed* game that every real strategy can also play, so it can never exceed
the real optimum. The relaxed game forgets which placements are left and keeps three numbers:

- n, how many placements are left;
- M, the most placements one cell covers now (a subset of them never has a cell covering more);
- k, the most *informative* hits a placement can still take (a hit that every placement left would also take
  teaches nothing and is not a move).

A strike hits any h <= M of the n placements and costs n - h misses; the hit part continues with k - 1, the rest
with k. Two facts about the plane make the relaxed game close to the real one:

- ``hit_limits``: each informative hit on a placement shrinks "the placements that contain every hit so far", and
  however the plane's cells are ordered that set shrinks at most 6 times from an empty board (then the last
  cells follow), not 8;
- ``width_caps``: once anything is hit, no cell covers more than 14 of the placements left (fewer as hits add
  up), whereas a cell of the empty board covers up to 32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.beliefs import ALL_PLACEMENTS, COVERS
from engine.rules import PLACEMENT_COUNT, PLACEMENTS, PLANE_SIZE

NEVER = 1 << 30  # a number of misses no game reaches: "impossible" in the bound tables, "no bound" in searches


@dataclass(frozen=True)
class MissBounds:
    """``floor[M][k][n]``: the relaxed game's optimum; ``hit_limits[core]``: k for a 64-bit mask of known hits."""

    floor: list[list[list[int]]]
    hit_limits: dict[int, int]
    width_caps: tuple[int, ...]  # width_caps[k]: the widest cell once something is hit, with k informative hits left


def miss_bounds() -> MissBounds:
    """Build the tables (about 0.15 s)."""
    hit_limits, width_caps = _hit_structure()
    return MissBounds(_relaxed_optimum(width_caps), hit_limits, width_caps)


def _hit_structure() -> tuple[dict[int, int], tuple[int, ...]]:
    """``hit_limits`` for every set of cells some placement contains, and ``width_caps`` derived from them."""
    limits: dict[int, int] = {}
    containing_of: dict[int, int] = {}  # core -> the placements that contain it
    for placement in range(PLACEMENT_COUNT):
        cells = [int(c) for c in PLACEMENTS.cells[placement]]
        # Over the 256 subsets of this plane's cells: the cells as a mask, who contains them, and the longest
        # shrinking chain after them (plain loops: this runs 30,000 times at start-up).
        masks = [0] * 256
        containing = [ALL_PLACEMENTS] * 256
        for subset in range(1, 256):
            lowest = (subset & -subset).bit_length() - 1
            masks[subset] = masks[subset & (subset - 1)] | 1 << cells[lowest]
            containing[subset] = containing[subset & (subset - 1)] & COVERS[cells[lowest]]
        longest = [0] * 256
        for subset in range(254, -1, -1):
            here, best = containing[subset], 0
            for bit in (1, 2, 4, 8, 16, 32, 64, 128):
                if not subset & bit:
                    after = subset | bit
                    chain = longest[after] + (containing[after] != here)
                    if chain > best:  # noqa: PLR1730 (faster than max() here)
                        best = chain
            longest[subset] = best
        for subset in range(256):
            core = masks[subset]
            if longest[subset] >= limits.get(core, 0):
                limits[core] = longest[subset]
            containing_of[core] = containing[subset]

    # The widest informative cell among the placements containing each non-empty core, all cores at once.
    cores = [core for core in containing_of if core]
    as_bytes = b"".join(containing_of[core].to_bytes(16, "little") for core in cores)
    members = np.unpackbits(np.frombuffer(as_bytes, dtype=np.uint8).reshape(len(cores), 16), axis=1,
                            bitorder="little")[:, :PLACEMENT_COUNT].astype(np.float32)
    covered = members @ PLACEMENTS.masks.astype(np.float32)  # [cores, 64]
    sizes = members.sum(axis=1, keepdims=True)
    widest = np.where(covered < sizes, covered, 0).max(axis=1).astype(int)
    caps = [0] * (PLANE_SIZE + 1)
    for core, width in zip(cores, widest.tolist()):
        for k in range(limits[core], PLANE_SIZE + 1):  # a budget of k covers every core that allows at most k
            caps[k] = max(caps[k], width)
    return limits, tuple(caps)


def _relaxed_optimum(width_caps: tuple[int, ...]) -> list[list[list[int]]]:
    """The relaxed game solved for every n <= 120, k <= 8 and M <= 120 at once with numpy (about 0.05 s)."""
    size = PLACEMENT_COUNT + 1
    never = np.int64(NEVER)
    floor = np.full((PLANE_SIZE + 1, size, size), never, dtype=np.int64)  # [k, n, M]
    floor[:, 0, :] = 0
    floor[:, 1, :] = 0
    widths = np.arange(size)
    for k in range(1, PLANE_SIZE + 1):
        hit_widths = np.minimum(widths, width_caps[k - 1])  # the hit part has a hit: its cells are narrower
        for n in range(2, size):
            h = np.arange(1, n)
            costs = (n - h)[:, None] + floor[k - 1][h][:, hit_widths] + floor[k, n - h, :]  # [h, M]
            best_up_to = np.minimum.accumulate(costs, axis=0)  # the best split hitting at most h
            usable = np.clip(np.minimum(widths, n - 1), 1, None) - 1
            floor[k, n, :] = np.where(widths >= 1, best_up_to[usable, widths], never)
    return [[floor[k, :, m].tolist() for k in range(PLANE_SIZE + 1)] for m in range(size)]

