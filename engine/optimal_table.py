"""The solver's shipped table: exact T (optimal misses summed over the placements) of the beliefs that matter most.

It holds T for the empty board, for every position after one strike, for every position of the optimal agent's
and the hunter's games, and for both outcomes of every move from each of those (beliefs of fewer than
``MIN_PLACEMENTS`` placements are left out: they solve in microseconds). With it, the moves of all these
positions are known at once; without it the solver finds the same numbers, only later. Regenerate it after
any change to the rules or the solver's search with

    python -m engine.solver --write-table

The file is JSON, keyed by the canonical belief (``engine.beliefs.canonical``) in hex: bit p is placement p of
``engine.rules.PLACEMENTS``. ``placements_sha256`` names the placement table it was solved for; a table for
other placements is ignored rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from engine.beliefs import ALL_PLACEMENTS, COVERS, canonical
from engine.files import write_atomically
from engine.rules import CELL_COUNT, HIT, MISS, PLACEMENT_COUNT, PLACEMENTS

TABLE_PATH = Path(__file__).resolve().parent / "optimal_table.json"
FORMAT = 1
MIN_PLACEMENTS = 10


def placements_digest() -> str:
    """Names the placement table a saved table was solved for."""
    return hashlib.sha256(PLACEMENTS.cells.astype(np.int64).tobytes()).hexdigest()


def load_table(path: Path = TABLE_PATH) -> dict[int, int]:
    """Canonical belief -> exact T, from ``path``; empty (the solver starts from scratch) if the file is missing,
    unreadable or solved for other placements."""
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT or data.get("placements_sha256") != placements_digest():
            return {}
        return {int(key, 16): int(misses) for key, misses in data["misses"].items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def table_positions(solver) -> Iterator[int]:
    """The beliefs whose moves the table makes instant: the empty board, every position after one strike, and
    every position of the optimal agent's and the hunter's games."""
    from engine.agents import HunterAgent

    yield ALL_PLACEMENTS
    for cell in range(CELL_COUNT):
        yield ALL_PLACEMENTS & COVERS[cell]
        yield ALL_PLACEMENTS & ~COVERS[cell]
    # The optimal agent strikes the lowest optimal cell; its sure hits never change the belief, so this is its game.
    yield from game_beliefs(lambda placements, board: min(solver.optimal_informative(placements)))
    hunter = HunterAgent()
    yield from game_beliefs(lambda placements, board: hunter.choose(board))


def game_beliefs(choose: Callable[[int, np.ndarray], int]) -> Iterator[int]:
    """Every belief of two placements or more met while ``choose(belief, board) -> cell`` plays each placement,
    once each."""
    seen = set()
    for placement in range(PLACEMENT_COUNT):
        board = np.zeros(CELL_COUNT, dtype=np.float32)
        placements = ALL_PLACEMENTS
        while placements.bit_count() > 1:
            if placements not in seen:
                seen.add(placements)
                yield placements
            cell = int(choose(placements, board.reshape(8, 8)))
            hit = bool(PLACEMENTS.masks[placement, cell])
            board[cell] = HIT if hit else MISS
            placements &= COVERS[cell] if hit else ~COVERS[cell]


def build_table(solver=None) -> dict[int, int]:
    """Solve every move of ``table_positions`` (from scratch unless ``solver`` already knows things); return exact
    T of the beliefs this reaches, canonical and sorted."""
    from engine.solver import Solver

    solver = solver or Solver()
    wanted: set[int] = set()
    for placements in table_positions(solver):
        solver.move_misses(placements)
        wanted.add(placements)
        for cell in range(CELL_COUNT):
            hit = placements & COVERS[cell]
            if hit and hit != placements:
                wanted.update((hit, placements ^ hit))
    table = {canonical(placements): solver.misses(placements) for placements in wanted
             if placements.bit_count() >= MIN_PLACEMENTS}
    return dict(sorted(table.items()))


def write_table(path: Path = TABLE_PATH) -> int:
    """Regenerate the table from scratch into ``path`` (seconds); return how many beliefs it holds."""
    table = build_table()
    data = {
        "about": "Exact misses summed over the placements of each belief under optimal play (T in engine/solver.py), "
        "keyed by the canonical belief in hex (bit p = placement p of engine.rules.PLACEMENTS). See "
        "engine/optimal_table.py.",
        "regenerate": "python -m engine.solver --write-table",
        "format": FORMAT,
        "placements_sha256": placements_digest(),
        "min_placements": MIN_PLACEMENTS,
        "misses": {f"{key:x}": misses for key, misses in table.items()},
    }
    write_atomically(Path(path), (json.dumps(data, indent=0) + "\n").encode())
    return len(table)
