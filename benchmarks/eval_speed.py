"""How fast `planestrike eval` measures the hunter.

Target (issue: foundation): `planestrike eval --agent hunter --games 20000` in under 10 s on 2 cores, start-up
included. The baseline, measured in the same run, is the obvious implementation: one game at a time, one
`choose` per move. The ratio (lockstep games/s over one-at-a-time games/s) is what to compare across machines,
since these machines are noisy. Prints one JSON object as its last line.

    python benchmarks/eval_speed.py [--games 20000] [--baseline-games 1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from engine import Game, HunterAgent, draw_placements, play_games


def one_game_at_a_time(agent: HunterAgent, placements: np.ndarray) -> float:
    start = time.perf_counter()
    for placement in placements:
        game = Game(int(placement))
        while not game.finished:
            game.strike(agent.choose(game.observation()))
    return len(placements) / (time.perf_counter() - start)


def lockstep(agent: HunterAgent, placements: np.ndarray) -> float:
    start = time.perf_counter()
    play_games(agent, placements)
    return len(placements) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", type=int, default=20_000)
    parser.add_argument("--baseline-games", type=int, default=1_000)
    args = parser.parse_args()

    agent = HunterAgent()
    placements = draw_placements(np.random.default_rng(0), args.games)
    baseline = one_game_at_a_time(agent, placements[: args.baseline_games])
    fast = lockstep(agent, placements)

    cli = shutil.which("planestrike", path=str(Path(sys.executable).parent)) or "planestrike"
    start = time.perf_counter()
    subprocess.run([cli, "eval", "--agent", "hunter", "--games", str(args.games), "--json"], check=True, capture_output=True)
    cli_seconds = time.perf_counter() - start

    result = {
        "benchmark": "eval_speed",
        "games": args.games,
        "lockstep_games_per_s": round(fast),
        "one_at_a_time_games_per_s": round(baseline),
        "ratio": round(fast / baseline, 1),
        "cli_seconds": round(cli_seconds, 2),
        "cli_target_s": 10.0,
        "cli_within_target": cli_seconds < 10.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
