"""Make a training run the bundled agent: copy its best snapshot into ``assets/`` and write ``eval_report.json``.

    planestrike train --out runs/bundle
    python -m training.bundle runs/bundle
    python -m training.bundle --check runs/again    # a rerun of the recipe: the same parameters, bit for bit?

The run must have finished its games budget. Its ``best.msgpack`` (the lowest exact mean among the evaluations at
fixed update counts, see ``training/loop.py``) becomes ``assets/checkpoint.msgpack``. The report records that
exact mean (120 placements, masked argmax), the recipe that reproduces the checkpoint from scratch (``stages``:
one ``planestrike train`` command per stage, every setting spelled out; a fine-tuning run started with ``--init``
has its earlier stages recorded in its config; ``command`` is them all joined with ``&&``), the sha256 of the
parameters, the seed, the date and the git revision. Only a run with a games budget can be bundled: a time budget
stops at a machine-dependent point.
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
from training.finetune import params_sha256
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
    stages = config.stages(str(run))
    record = {
        "command": " && ".join(stages),
        "stages": list(stages),
        "params_sha256": params_sha256(best.params),
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


def check(run: Path) -> tuple[bool, str]:
    """Whether the best snapshot of ``run`` (a rerun of the bundle's recipe) has the bundled parameters bit for bit,
    and a line saying so."""
    recorded = json.loads(BUNDLED_EVAL_REPORT.read_text()).get("params_sha256")
    bundled = recorded or params_sha256(load_checkpoint(BUNDLED_CHECKPOINT).params)
    best = load_checkpoint(load_checkpoint(run).path.with_name(BEST_NAME))
    digest = params_sha256(best.params)
    if digest == bundled:
        return True, f"{best.path} (update {best.step}) has the bundled parameters bit for bit (sha256 {digest[:16]})"
    return False, (f"{best.path} (update {best.step}) differs from the bundle: sha256 {digest[:16]}, "
                   f"bundled {bundled[:16]}")


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
    parser.add_argument("--check", action="store_true",
                        help="compare the run's best snapshot with the bundle instead of bundling it")
    args = parser.parse_args(argv)
    try:
        if args.check:
            same, line = check(args.run)
            print(line)
            return 0 if same else 1
        record = bundle(args.run)
    except PlanestrikeError as error:
        print(f"bundle: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
