"""Draw the training curves in docs/training.md from `planestrike train --progress jsonl` logs (no dependencies).

    cd docs/training_runs
    python ../plot_training.py --x games --out ../training_curve_games.svg entropy0_batch1024.jsonl \
        entropy0.01_batch1024.jsonl default_seed0.jsonl default_seed1.jsonl default_seed2.jsonl hidden256,128.jsonl
    python ../plot_training.py --x time --out ../training_curve_time.svg default_seed*.jsonl incremental_default_seed0.jsonl \
        current_trainer_default_seed0.jsonl

Plots the exact mean strikes of every line that carries an exact evaluation, against games played or training
wall time, one polyline per log (its file name is the legend label), with the hunter's 12.075 as a dashed line.
``--regret`` plots the regret instead: the exact mean minus the optimum's 12.0500, in strikes (0 is perfect play).
``A.jsonl+B.jsonl`` is one curve for a run made in stages (B fine-tuned from A: its games and time follow A's)::

    python ../plot_training.py --regret --out ../training_regret_games.svg \
        bundle_stage1.jsonl+bundle_stage2.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 760, 420, 60
Y_RANGE = (12.0, 13.0)
HUNTER = 12.075
OPTIMUM = 12.05  # 241/20, engine.solver
REGRET_RANGE = (0.0, 0.5)
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]


def load(path: Path) -> list[dict]:
    points = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "eval_exact" in record and "event" not in record:
            points.append(record)
    return points


def load_stages(spec: str) -> tuple[str, list[dict]]:
    """``A.jsonl+B.jsonl``: the stages of one run, each stage's games and time after the previous stage's last."""
    points: list[dict] = []
    offset = {"games": 0, "elapsed_s": 0.0}
    for part in spec.split("+"):
        stage = load(Path(part))
        points += [{**p, **{key: p[key] + offset[key] for key in offset}} for p in stage]
        if stage:
            offset = {key: points[-1][key] for key in offset}
    return " + ".join(Path(part).stem for part in spec.split("+")), points


def chart(runs: dict[str, list[dict]], x_key: str, x_label: str, x_scale: float, regret: bool = False) -> str:
    y_range = REGRET_RANGE if regret else Y_RANGE
    shift = OPTIMUM if regret else 0.0  # the regret is the exact mean minus the optimum
    x_max = max(p[x_key] for points in runs.values() for p in points) / x_scale
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def sx(x: float) -> float:
        return MARGIN + plot_w * x / x_max

    def sy(y: float) -> float:
        y = min(max(y - shift, y_range[0]), y_range[1])
        return MARGIN + plot_h * (y_range[1] - y) / (y_range[1] - y_range[0])

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>']
    for i in range(11):  # ten horizontal grid steps
        y = y_range[0] + i * (y_range[1] - y_range[0]) / 10 + shift
        parts.append(f'<line x1="{MARGIN}" x2="{WIDTH - MARGIN}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#eee"/>')
        label = f"{y - shift:.2f}" if regret else f"{y:.1f}"
        parts.append(f'<text x="{MARGIN - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{label}</text>')
    for i in range(6):
        x = x_max * i / 5
        parts.append(f'<text x="{sx(x):.1f}" y="{HEIGHT - MARGIN + 18}" text-anchor="middle">{x:,.0f}</text>')
    parts.append(f'<line x1="{MARGIN}" x2="{WIDTH - MARGIN}" y1="{sy(HUNTER):.1f}" y2="{sy(HUNTER):.1f}" '
                 f'stroke="black" stroke-dasharray="6 4"/>')
    hunter_label = "hunter +0.025" if regret else "hunter 12.075"
    parts.append(f'<text x="{WIDTH - MARGIN - 4}" y="{sy(HUNTER) - 5:.1f}" text-anchor="end">{hunter_label}</text>')
    for index, (name, points) in enumerate(runs.items()):
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(f"{sx(p[x_key] / x_scale):.1f},{sy(p['eval_exact']):.1f}" for p in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
        parts.append(f'<text x="{MARGIN + 10}" y="{MARGIN + 16 + 16 * index}" fill="{colour}">{name}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 15}" text-anchor="middle">{x_label}</text>')
    y_label = ("regret: exact mean minus the optimum 12.0500, strikes (clipped to 0.5)" if regret
               else "exact mean strikes (lower is better; clipped to 12-13)")
    parts.append(f'<text x="16" y="{HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 16 {HEIGHT / 2})">'
                 f"{y_label}</text>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--x", choices=("games", "time"), default="games")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--regret", action="store_true", help="plot the exact mean minus the optimum 12.0500")
    parser.add_argument("logs", nargs="+", help="progress logs; A.jsonl+B.jsonl is one run made in two stages")
    args = parser.parse_args()
    runs = dict(load_stages(spec) for spec in args.logs)
    if args.x == "games":
        svg = chart(runs, "games", "games played (thousands)", 1000, args.regret)
    else:
        svg = chart(runs, "elapsed_s", "training wall time, s (compilation included; shared machine)", 1, args.regret)
    args.out.write_text(svg)


if __name__ == "__main__":
    main()
