"""What a striker knows: the set of placements that agree with every hit and miss, as a 120-bit integer.

Bit ``p`` of a belief is set when placement ``p`` (an index into ``PLACEMENTS``) covers every hit on the board and
no miss. Python ints make these sets cheap: ``belief & COVERS[c]`` keeps the placements that cover cell ``c`` (what
a hit there would leave), ``belief & ~COVERS[c]`` the others (a miss), ``int.bit_count`` counts them.

The 8 symmetries of the square (rotations and reflections) map placements onto placements, so two beliefs that are
images of each other have the same optimal play. ``canonical`` picks one representative of the 8, which lets the
solver remember a belief once for all its images.
"""

from __future__ import annotations

import numpy as np

from engine.errors import BadBoard
from engine.rules import BOARD_SIZE, CELL_COUNT, HIT, MISS, PLACEMENT_COUNT, PLACEMENTS, PLANE_SIZE, UNTRIED, cell_name

ALL_PLACEMENTS = (1 << PLACEMENT_COUNT) - 1

# COVERS[c]: the placements that cover cell c.
COVERS: tuple[int, ...] = tuple(
    sum(1 << int(p) for p in np.flatnonzero(PLACEMENTS.masks[:, cell])) for cell in range(CELL_COUNT)
)


def placement_indices(placements: int) -> list[int]:
    """The placement indices in a belief, in increasing order."""
    return [p for p in range(PLACEMENT_COUNT) if placements >> p & 1]


def belief(board: np.ndarray) -> int:
    """The placements that agree with every hit and miss of ``board`` (8x8 or 64 cells: 0 untried, 1 hit, -1 miss).

    Raises ``BadBoard`` when a cell holds another value, or when no placement agrees with the board."""
    flat = np.asarray(board, dtype=np.float64).reshape(-1)
    if flat.size != CELL_COUNT:
        raise BadBoard(f"a board has {CELL_COUNT} cells, got {flat.size}")
    odd = np.flatnonzero(~np.isin(flat, (UNTRIED, HIT, MISS)))
    if odd.size:
        raise BadBoard(f"cell {cell_name(int(odd[0]))} holds {float(flat[odd[0]])!r}: a cell is 0 untried, 1 hit "
                       "or -1 miss")
    hits = np.flatnonzero(flat == HIT)
    misses = np.flatnonzero(flat == MISS)
    placements = ALL_PLACEMENTS
    for cell in hits:
        placements &= COVERS[cell]
    covering_hits = placements
    for cell in misses:
        placements &= ~COVERS[cell]
    if not placements:
        raise BadBoard(_why_impossible(hits, covering_hits))
    return placements


def _why_impossible(hits: np.ndarray, covering_hits: int) -> str:
    names = " ".join(cell_name(int(c)) for c in hits)
    if len(hits) > PLANE_SIZE:
        why = f"it has {len(hits)} hits ({names}) and the plane has only {PLANE_SIZE} cells"
    elif not covering_hits:
        why = f"no plane covers all of its hits ({names})"
    elif len(hits):
        count = covering_hits.bit_count()
        why = (f"the {count} plane{'s' if count > 1 else ''} covering all of its hits ({names}) "
               f"{'each cover' if count > 1 else 'covers'} one of its misses too")
    else:
        why = f"each of the {PLACEMENT_COUNT} placements covers one of its misses"
    return f"no placement of the plane agrees with this board: {why}; check the hits and misses"


# --- The 8 symmetries ------------------------------------------------------------------------------------------


def transform_cell(symmetry: int, cell: int) -> int:
    """Symmetry 0-7 of the square applied to a cell: ``symmetry & 3`` quarter turns, then a mirror if ``& 4``."""
    row, col = divmod(cell, BOARD_SIZE)
    for _ in range(symmetry & 3):
        row, col = col, BOARD_SIZE - 1 - row
    if symmetry & 4:
        col = BOARD_SIZE - 1 - col
    return row * BOARD_SIZE + col


def transform_board(symmetry: int, board: np.ndarray) -> np.ndarray:
    """``board`` (64 or 8x8) under one of the 8 symmetries, in the same shape."""
    flat = np.asarray(board).reshape(-1)
    out = np.empty_like(flat)
    for cell in range(CELL_COUNT):
        out[transform_cell(symmetry, cell)] = flat[cell]
    return out.reshape(np.shape(board))


def _placement_permutations() -> list[list[int]]:
    """For each symmetry, where it sends each placement (the plane's shape is symmetric, so it lands on one)."""
    index_of = {frozenset(map(int, PLACEMENTS.cells[p])): p for p in range(PLACEMENT_COUNT)}
    return [[index_of[frozenset(transform_cell(s, int(c)) for c in PLACEMENTS.cells[p])]
             for p in range(PLACEMENT_COUNT)] for s in range(8)]


PLACEMENT_PERMUTATIONS = _placement_permutations()
_CHUNKS = (PLACEMENT_COUNT + 7) // 8


def _byte_tables() -> list[list[list[int]]]:
    """For each non-identity symmetry and each byte of a belief, the image of all 256 values of that byte:
    permuting 120 bits then costs 15 table look-ups instead of 120 bit moves."""
    tables = []
    for permutation in PLACEMENT_PERMUTATIONS[1:]:
        per_byte = []
        for chunk in range(_CHUNKS):
            bit_images = [1 << permutation[chunk * 8 + bit] if chunk * 8 + bit < PLACEMENT_COUNT else 0
                          for bit in range(8)]
            images = [0] * 256
            for value in range(1, 256):
                lowest = (value & -value).bit_length() - 1
                images[value] = images[value & (value - 1)] | bit_images[lowest]
            per_byte.append(images)
        tables.append(per_byte)
    return tables


_BYTE_TABLES = _byte_tables()


def transform_belief(symmetry: int, placements: int) -> int:
    """A belief under one of the 8 symmetries."""
    if symmetry == 0:
        return placements
    image, chunk = 0, 0
    table = _BYTE_TABLES[symmetry - 1]
    while placements:
        image |= table[chunk][placements & 255]
        placements >>= 8
        chunk += 1
    return image


def canonical(placements: int) -> int:
    """The smallest of the 8 images of a belief: equal for every belief that is a rotation or mirror of it."""
    best = placements
    for table in _BYTE_TABLES:
        image, chunk, rest = 0, 0, placements
        while rest:
            image |= table[chunk][rest & 255]
            rest >>= 8
            chunk += 1
        best = min(best, image)
    return best
