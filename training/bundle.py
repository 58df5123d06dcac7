"""Make a training run the bundled agent: copy its best snapshot into ``assets/`` and write ``eval_report.json``.

    planestrike train --out runs/bundle
    python -m training.bundle runs/bundle

The run must have finished its games budget. Its ``best.msgpack`` (the lowest exact mean among the evaluations at
fixed update counts, see ``training/loop.py``) becomes ``assets/checkpoint.msgpack``. The report records that
exact mean (120 placements, masked argmax), the ``planestrike train`` command that
reproduces the checkpoint from scratch (every setting spelled out), the seed, the date and the git revision.
Only a run with a games budget can be bundled: a time budget stops at a machine-dependent point.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

from assets import BUNDLED_CHECKPOINT, BUNDLED_EVAL_REPORT
from engine.errors import PlanestrikeError
from engine.evaluation import evaluate
from engine.files import write_atomically
from training.checkpoint import BEST_NAME, load_checkpoint
from training.flax_agent import FlaxAgent


def bundle(run: Path) -> dict:
    """Bundle the best snapshot of the finished run in directory ``run``; return the report written."""
    latest = load_checkpoint(run)
    config = latest.config
    if config.games is None:
        raise PlanestrikeError(f"{latest.path} was trained with a time budget, which no command reproduces: "
                               "bundle a run trained with --games N")
    if latest.step != config.updates:
        raise PlanestrikeError(f"{latest.path} stopped at update {latest.step} of {config.updates}: "
                               f"finish it with 'planestrike train --resume {run}' first")
    best = load_checkpoint(latest.path.with_name(BEST_NAME))
    report = evaluate(FlaxAgent(config.model, best.params), exact=True)
    record = {
        "command": config.command(),
        "seed": config.seed,
        "exact_mean": report.mean_strikes,
        "snapshot": f"best of the run's exact evaluations: update {best.step} of {latest.step}",
        "games": best.games,
        "updates": best.step,
        "final_exact_mean": latest.metrics.get("eval_exact"),
        "training_seconds": round(float(latest.metrics.get("elapsed_s", float("nan"))), 1),
        "config": config.to_dict(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_revision": _git_revision(),
    }
    write_atomically(BUNDLED_CHECKPOINT, best.path.read_bytes())
    write_atomically(BUNDLED_EVAL_REPORT, (json.dumps(record, indent=2) + "\n").encode())
    return record


def _git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.bundle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the run directory (or its checkpoint.msgpack)")
    args = parser.parse_args(argv)
    try:
        record = bundle(args.run)
    except PlanestrikeError as error:
        print(f"bundle: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
