"""How fast the exact solver answers a position: its value and every untried cell's (``engine.solver.solve``).

Target (issue: optimal play): any reachable position within 1 s on 2 cores, the optimal agent's first move within
2 s of start-up. Every position is solved by a fresh solver that knows only the shipped table, as the first
question of a new process would be: the worst case. Measured:

- start-up: building a solver (bound tables, table load) and solving the empty board;
- the empty board from scratch (no table): the table's baseline;
- the hard positions: every position with two misses on the two outer rings of the board (the cells a poor
  player wastes strikes on; 156 up to symmetry), where almost every placement is still possible and nothing
  below the position is in the table; then random positions with 3 to 5 such misses and random single hits;
- the baseline of the same run: the hunter's probabilities for one board (its per-move cost), so
  ``worst_over_hunter`` compares machines better than seconds do.

Prints a line per group, then one JSON object. Usage: python benchmarks/solver_speed.py [--random N] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.agents import HunterAgent
from engine.beliefs import belief, canonical
from engine.optimal_table import TABLE_PATH, load_table
from engine.rules import HIT, MISS, PLACEMENTS, cell_name
from engine.solver import Solver, solve

TARGET_S = 1.0
OUTER_RINGS = [c for c in range(64) if c // 8 in (0, 1, 6, 7) or c % 8 in (0, 1, 6, 7)]


def timed_solve(board: np.ndarray, table: dict[int, int]) -> tuple[float, float, int]:
    """Wall and CPU seconds of a full solution by a fresh solver that knows the table, and its expansions."""
    solver = Solver(table)
    wall, cpu = time.perf_counter(), time.process_time()
    solve(board, solver)
    return time.perf_counter() - wall, time.process_time() - cpu, solver.expansions


def board_of(misses=(), hits=()) -> np.ndarray:
    board = np.zeros(64, dtype=np.float32)
    board[list(misses)] = MISS
    board[list(hits)] = HIT
    return board.reshape(8, 8)


def describe(board: np.ndarray) -> str:
    flat = board.reshape(-1)
    return " ".join(f"{cell_name(c)}{'x' if flat[c] == HIT else 'o'}" for c in np.flatnonzero(flat))


def measure_group(name: str, boards: list[np.ndarray], table: dict[int, int]) -> dict:
    runs = [(timed_solve(board, table), board) for board in boards]
    walls = [wall for (wall, _, _), _ in runs]
    (wall, cpu, expansions), worst = max(runs, key=lambda run: run[0][0])
    print(f"{name}: {len(runs)} positions, median {statistics.median(walls):.3f} s, worst {wall:.3f} s "
          f"(CPU {cpu:.3f} s, {expansions} expansions) at {describe(worst)}", file=sys.stderr)
    return {"positions": len(runs), "median_s": round(statistics.median(walls), 3),
            "p95_s": round(float(np.percentile(walls, 95)), 3), "worst_s": round(wall, 3),
            "worst_cpu_s": round(cpu, 3), "worst_position": describe(worst), "worst_expansions": expansions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", type=int, default=30, help="random positions with 3-5 misses (default: 30)")
    parser.add_argument("--quick", action="store_true", help="a sample of the two-miss positions, for a smoke run")
    args = parser.parse_args()

    start = time.perf_counter()
    table = load_table()
    solver = Solver(table)
    solve(board_of(), solver)
    startup = time.perf_counter() - start
    cold_wall, cold_cpu, cold_expansions = timed_solve(board_of(), {})
    table_wall, _, _ = timed_solve(board_of(), table)
    print(f"start-up and empty board {startup:.3f} s; empty board from scratch {cold_wall:.3f} s "
          f"({cold_expansions} expansions), from the table {table_wall:.3f} s", file=sys.stderr)

    two_misses, seen = [], set()
    for a, b in itertools.combinations(OUTER_RINGS, 2):
        board = board_of(misses=(a, b))
        key = canonical(belief(board))
        if key not in seen:
            seen.add(key)
            two_misses.append(board)
    if args.quick:
        two_misses = two_misses[::8]
    rng = random.Random(0)
    several = [board_of(misses=rng.sample(OUTER_RINGS, rng.randint(3, 5))) for _ in range(args.random)]
    hits = []
    for placement in rng.sample(range(120), 20):  # a hit, then a miss or two elsewhere
        plane = [int(c) for c in PLACEMENTS.cells[placement]]
        elsewhere = [c for c in range(64) if c not in plane]
        hits.append(board_of(hits=[rng.choice(plane)], misses=rng.sample(elsewhere, rng.randint(0, 2))))
    groups = {"two_misses": measure_group("two misses on the outer rings", two_misses, table),
              "several_misses": measure_group("3-5 random misses on the outer rings", several, table),
              "hits": measure_group("a hit and 0-2 misses", hits, table)}

    hunter = HunterAgent()
    boards = [board_of(misses=rng.sample(range(64), 3)) for _ in range(2000)]
    begin = time.perf_counter()
    for board in boards:
        hunter.probabilities(board)
    hunter_s = (time.perf_counter() - begin) / len(boards)
    worst = max(group["worst_s"] for group in groups.values())
    print(json.dumps({
        "benchmark": "solver_speed",
        "startup_and_empty_board_s": round(startup, 3),
        "empty_board_from_scratch_s": round(cold_wall, 3),
        "empty_board_from_scratch_cpu_s": round(cold_cpu, 3),
        "empty_board_from_scratch_expansions": cold_expansions,
        "empty_board_from_table_s": round(table_wall, 4),
        "table_speedup": round(cold_wall / max(table_wall, 1e-6), 1),
        "table_beliefs": len(table),
        "table_bytes": TABLE_PATH.stat().st_size,
        **groups,
        "worst_s": worst,
        "hunter_move_us": round(hunter_s * 1e6, 1),
        "worst_over_hunter": round(worst / hunter_s),
        "target_s": TARGET_S,
        "within_target": worst < TARGET_S,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "seconds": round(time.perf_counter() - start, 1),
    }))


if __name__ == "__main__":
    main()
