"""Five panels side by side: how long after a strike every panel shows the new position.

The app runs headless at 140x45 with the panels Flax, LiteRT float32, float16 and int8 (the bundled variants) and
the hunter, against the hunter. Each sample: the person strikes a random untried cell, the hunter answers at once
(its answer for that position is already in), and the clock runs until all five panels have drawn their answer
for the position after the hunter's strike. Baseline, in the same run: the five agents' own ``probabilities``
calls on the same boards, one after the other, outside the app: the ratio says what the app adds (threads,
messages, drawing) to the agents' work.

Target (issue 14): median under 100 ms on 2 cores.

    .venv/bin/python benchmarks/panel_latency.py [--seconds 45] [--seed 0]

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import numpy as np

PANELS = ("flax", "tflite", "tflite:float16", "tflite:int8", "hunter")
TARGET_MS = 100.0


async def measure(seconds: float, seed: int) -> tuple[list[float], list[np.ndarray]]:
    """Strike-to-all-panels times (ms) and the boards the panels answered."""
    from planestrike_tui.app import PlanestrikeApp
    from planestrike_tui.roster import RosterConfig, SlotState
    from planestrike_tui.widgets.agent_panel import AgentPanel

    app = PlanestrikeApp(RosterConfig(opponent="hunter", panels=PANELS, seed=seed))
    rng = np.random.default_rng(seed)
    samples, boards = [], []
    drawn: dict[str, object] = {}  # spec -> the position its panel last drew
    all_in = asyncio.Event()

    # The clock stops in the panel's own drawing call, not in a polling loop: a loop that polls would compete with
    # the agents' threads for the GIL and the two cores, and measure itself.
    show_thought = AgentPanel.show_thought

    def timed_show_thought(panel, board, thought) -> None:
        show_thought(panel, board, thought)
        drawn[panel.slot.spec] = thought.position
        if len(drawn) == len(PANELS) and len(set(drawn.values())) == 1 and not app.game.match.over \
                and thought.position == app.game.position():
            all_in.set()

    AgentPanel.show_thought = timed_show_thought
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            game = app.game
            while any(slot.state is SlotState.LOADING for slot in app.roster.slots.values()):
                await pilot.pause(0.05)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if game.match.over:
                    game.new_game()
                while len(game.current_thoughts()) < len(PANELS):  # the panels are up to date before the strike
                    await pilot.pause(0.02)
                await pilot.pause(0.02)  # and the frame has settled, as before a person's strike
                untried = np.flatnonzero(game.match.boards[0].observation().reshape(-1) == 0)
                all_in.clear()
                drawn.clear()
                start = time.perf_counter()
                game.strike(int(rng.choice(untried)))
                if game.match.over:
                    continue
                await asyncio.wait_for(all_in.wait(), 30)
                samples.append((time.perf_counter() - start) * 1e3)
                boards.append(game.current_board().copy())
    finally:
        AgentPanel.show_thought = show_thought
    return samples, boards


def baseline_ms(boards: list[np.ndarray]) -> float:
    """Median time for the five agents' probabilities calls on one board, one after the other, no app."""
    from engine.specs import parse_agent_spec

    agents = [parse_agent_spec(spec) for spec in PANELS]
    for agent in agents:
        agent.probabilities(boards[0])  # compile / warm up
    times = []
    for board in boards:
        start = time.perf_counter()
        for agent in agents:
            agent.probabilities(board)
        times.append((time.perf_counter() - start) * 1e3)
    for agent in agents:
        agent.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="how long to keep striking (default: 45)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the planes and the strikes (default: 0)")
    args = parser.parse_args()
    samples, boards = asyncio.run(measure(args.seconds, args.seed))
    if not samples:
        raise SystemExit("no strike was measured: give more --seconds")
    base = baseline_ms(boards)
    median = statistics.median(samples)
    p95 = float(np.percentile(samples, 95))
    print(f"{len(samples)} strikes, five panels: median {median:.1f} ms, p95 {p95:.1f} ms "
          f"(target {TARGET_MS:.0f} ms); the agents alone {base:.2f} ms")
    print(json.dumps({
        "benchmark": "panel_latency", "panels": list(PANELS), "strikes": len(samples),
        "median_ms": round(median, 2), "p95_ms": round(p95, 2), "agents_alone_ms": round(base, 3),
        "ratio_to_agents": round(median / base, 2), "target_ms": TARGET_MS, "meets_target": median < TARGET_MS,
    }))


if __name__ == "__main__":
    main()
