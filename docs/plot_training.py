"""Draw the training curves in docs/training.md from `planestrike train --progress jsonl` logs (no dependencies).

    cd docs/training_runs
    python ../plot_training.py --x games --out ../training_curve_games.svg entropy0_batch1024.jsonl \
        entropy0.01_batch1024.jsonl default_seed0.jsonl default_seed1.jsonl default_seed2.jsonl hidden256,128.jsonl
    python ../plot_training.py --x time --out ../training_curve_time.svg default_seed*.jsonl incremental_default_seed0.jsonl \
        current_trainer_default_seed0.jsonl

Plots the exact mean strikes of every line that carries an exact evaluation, against games played or training
wall time, one polyline per log (its file name is the legend label), with the hunter's 12.075 as a dashed line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 760, 420, 60
Y_RANGE = (12.0, 13.0)
HUNTER = 12.075
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]


def load(path: Path) -> list[dict]:
    points = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "eval_exact" in record and "event" not in record:
            points.append(record)
    return points


def chart(runs: dict[str, list[dict]], x_key: str, x_label: str, x_scale: float) -> str:
    x_max = max(p[x_key] for points in runs.values() for p in points) / x_scale
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def sx(x: float) -> float:
        return MARGIN + plot_w * x / x_max

    def sy(y: float) -> float:
        y = min(max(y, Y_RANGE[0]), Y_RANGE[1])
        return MARGIN + plot_h * (Y_RANGE[1] - y) / (Y_RANGE[1] - Y_RANGE[0])

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>']
    for i in range(11):  # horizontal grid every 0.1 strike
        y = Y_RANGE[0] + i * (Y_RANGE[1] - Y_RANGE[0]) / 10
        parts.append(f'<line x1="{MARGIN}" x2="{WIDTH - MARGIN}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{MARGIN - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.1f}</text>')
    for i in range(6):
        x = x_max * i / 5
        parts.append(f'<text x="{sx(x):.1f}" y="{HEIGHT - MARGIN + 18}" text-anchor="middle">{x:,.0f}</text>')
    parts.append(f'<line x1="{MARGIN}" x2="{WIDTH - MARGIN}" y1="{sy(HUNTER):.1f}" y2="{sy(HUNTER):.1f}" '
                 f'stroke="black" stroke-dasharray="6 4"/>')
    parts.append(f'<text x="{WIDTH - MARGIN - 4}" y="{sy(HUNTER) - 5:.1f}" text-anchor="end">hunter 12.075</text>')
    for index, (name, points) in enumerate(runs.items()):
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(f"{sx(p[x_key] / x_scale):.1f},{sy(p['eval_exact']):.1f}" for p in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
        parts.append(f'<text x="{MARGIN + 10}" y="{MARGIN + 16 + 16 * index}" fill="{colour}">{name}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 15}" text-anchor="middle">{x_label}</text>')
    parts.append(f'<text x="16" y="{HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 16 {HEIGHT / 2})">'
                 "exact mean strikes (lower is better; clipped to 12-13)</text>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--x", choices=("games", "time"), default="games")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("logs", type=Path, nargs="+")
    args = parser.parse_args()
    runs = {path.stem: load(path) for path in args.logs}
    if args.x == "games":
        svg = chart(runs, "games", "games played (thousands)", 1000)
    else:
        svg = chart(runs, "elapsed_s", "training wall time, s (compilation included; shared machine)", 1)
    args.out.write_text(svg)


if __name__ == "__main__":
    main()
