"""Spectator mode left running for a whole talk: memory after many games against memory after the first ten.

The app runs headless at 140x45 in spectator mode (the hunter against the bundled LiteRT model, panels for both
and the optimal agent, whose solver and the app's judge keep memos), paused, and the benchmark steps it as fast as
the agents answer: every move, every game's end, record and rematch happen as they do on a projector, only
without the wait between moves. The resident set size (after a garbage collection) is read after game 10 (the
baseline, in the same run: caches and the first records are warm by then) and after the last game.

Target (issue 17): after 1,000 games, within 10% of the baseline. The default (200 games) takes about a minute;
``--games 1000`` is the issue's run.

    .venv/bin/python benchmarks/spectator_memory.py [--games 200] [--seed 0]

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import tempfile
import time

PAIR = ("hunter", "tflite")
PANELS = ("hunter", "tflite", "optimal")
BASELINE_GAME = 10
TARGET_RATIO = 1.10


def rss_bytes() -> int:
    """The process's resident set size now (Linux: /proc; elsewhere the peak, which can only overstate growth)."""
    gc.collect()
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


async def measure(games: int, seed: int) -> dict:
    from planestrike_tui.app import PlanestrikeApp
    from planestrike_tui.roster import RosterConfig, SlotState

    app = PlanestrikeApp(RosterConfig(opponent="hunter", panels=PANELS, spectate=PAIR, seed=seed))
    readings: dict[int, int] = {}
    moves = 0
    start = time.perf_counter()
    async with app.run_test(size=(140, 45)) as pilot:
        game = app.game
        game.action_pause()  # the benchmark is the clock
        while any(slot.state is SlotState.LOADING for slot in app.roster.slots.values()):
            await pilot.pause(0.05)
        while game.match_number <= games:
            before = (game.match_number, len(game.moves))
            game.step()  # a move once the mover's answer is in (or the next game, after the end of one)
            while (game.match_number, len(game.moves)) == before:
                await pilot.pause(0.001)
            moves += 1
            if game.match_number != before[0]:  # a game has ended and the next one started
                finished = before[0]
                if finished in (BASELINE_GAME, games):
                    readings[finished] = rss_bytes()
                if finished % 50 == 0:
                    print(f"{finished} games, {moves} moves, {rss_bytes() / 2**20:.1f} MiB, "
                          f"{time.perf_counter() - start:.0f} s", flush=True)
    return {"readings": readings, "moves": moves, "seconds": time.perf_counter() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", type=int, default=200, help="games to play (at least 11; default 200)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.games <= BASELINE_GAME:
        parser.error(f"--games must be more than {BASELINE_GAME}, the baseline")
    with tempfile.TemporaryDirectory() as data:
        os.environ["XDG_DATA_HOME"] = data  # the games' records go here, not into the user's data folder
        result = asyncio.run(measure(args.games, args.seed))
    baseline, final = result["readings"][BASELINE_GAME], result["readings"][args.games]
    ratio = final / baseline
    report = {
        "benchmark": "spectator_memory",
        "games": args.games,
        "moves": result["moves"],
        "seconds": round(result["seconds"], 1),
        "rss_after_10_games_mib": round(baseline / 2**20, 1),
        "rss_at_end_mib": round(final / 2**20, 1),
        "ratio": round(ratio, 4),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
