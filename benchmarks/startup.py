"""Start-up of the terminal app: time to the first screen drawn, and until each agent is ready.

Each run starts a fresh interpreter that opens the app exactly as bare `planestrike` does (bundled models, Flax
opponent), headless, and reports when Textual's ``Ready`` event fires (the first frame is on screen) and when each
agent's panel leaves "loading". Times are measured from the moment the process is spawned, with a clock shared by
both processes (CLOCK_MONOTONIC), and compared with `python -c pass` spawned the same way in the same run. The
child's CPU time at each milestone is reported too: on a busy machine wall times stretch, CPU times much less, and
the load average is recorded so the two can be read together.

Targets (issue 5): first screen < 1 s, hunter and LiteRT < 2 s, Flax < 6 s.

    .venv/bin/python benchmarks/startup.py [--runs 5]

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

TARGETS_S = {"first_screen": 1.0, "hunter": 2.0, "tflite": 2.0, "flax": 6.0}


def child() -> None:
    """Runs in the spawned interpreter: open the app and print one JSON line per milestone."""
    from planestrike_tui.app import PlanestrikeApp
    from planestrike_tui.roster import SlotState

    def report(event: str, **extra) -> None:
        # Straight to file descriptor 1: while the app runs, Textual captures print().
        cpu = time.process_time()  # CPU seconds of every thread so far: what the start-up costs on an idle machine
        os.write(1, (json.dumps({"event": event, "t": time.monotonic(), "cpu": cpu, **extra}) + "\n").encode())

    class TimedApp(PlanestrikeApp):
        def on_ready(self) -> None:
            report("first_screen")
            self.pending = set(self.roster.slots)
            self.set_interval(0.005, self.watch_agents)

        def watch_agents(self) -> None:
            for kind in sorted(self.pending):
                slot = self.roster.slots[kind]
                if slot.state is not SlotState.LOADING:
                    report(kind, state=slot.state.value, error=slot.error)
                    self.pending.discard(kind)
            if not self.pending:
                self.exit()

    TimedApp().run(headless=True, size=(140, 45))


def spawn(argv: list[str]) -> tuple[float, list[dict]]:
    """Spawn ``argv``; return its wall time and the milestones it printed (times relative to the spawn)."""
    start = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    wall = time.monotonic() - start
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"event"')]
    if argv[-1] == "--child" and not events:
        raise SystemExit(f"the app did not start:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    for event in events:
        event["t"] -= start
    return wall, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="app start-ups to time (default: 5)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return

    baseline = statistics.median(spawn([sys.executable, "-c", "pass"])[0] for _ in range(max(args.runs, 5)))
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    failures: dict[str, str] = {}
    for run in range(args.runs):
        _, events = spawn([sys.executable, __file__, "--child"])
        for event in events:
            times.setdefault(event["event"], []).append(event["t"])
            cpu.setdefault(event["event"], []).append(event["cpu"])
            if event.get("state") == "failed":
                failures[event["event"]] = event["error"]
        line = ", ".join(f"{e['event']} {e['t']:.2f} s" for e in events)
        print(f"run {run + 1}: {line}", file=sys.stderr)

    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "benchmark": "startup",
        "runs": args.runs,
        "baseline": "python -c pass",
        "baseline_s": round(baseline, 4),
        **{f"{name}_s": round(value, 3) for name, value in medians.items()},
        **{f"{name}_ratio": round(value / baseline, 1) for name, value in medians.items()},
        **{f"{name}_cpu_s": round(statistics.median(values), 3) for name, values in cpu.items()},
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "targets_s": TARGETS_S,
        "within_targets": all(medians.get(name, float("inf")) < limit for name, limit in TARGETS_S.items())
        and not failures,
        "failed_agents": failures,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
