"""`planestrike eval`: measure an agent's mean strikes per game."""

from __future__ import annotations

import argparse
import json

from engine.limits import EVAL_GAMES, SEED
from planestrike_tui.commands.arguments import in_range, limit_help
from planestrike_tui.commands.output import print_rows, progress_bar


def register(commands: argparse._SubParsersAction) -> None:
    from engine.placements import PLACEMENT_KINDS

    parser = commands.add_parser(
        "eval",
        help="measure an agent's mean strikes per game",
        description="Play an agent on reproducible boards and report its mean strikes per game (lower is better). "
        "The same --seed gives every agent the same boards.",
    )
    parser.add_argument("--agent", default="hunter", metavar="SPEC",
                        help="random, hunter, flax[:CHECKPOINT], tflite[:MODEL], app (the official Android app's model, 13.19), "
                        "device:SERIAL[:MODEL] (default: hunter)")
    parser.add_argument("--games", type=in_range(EVAL_GAMES), default=1000, metavar="N",
                        help=f"games to play, {limit_help(EVAL_GAMES)} (default: 1000)")
    parser.add_argument("--seed", type=in_range(SEED), default=0, metavar="S",
                        help=f"seed for the boards and the agent, {limit_help(SEED)} (default: 0)")
    parser.add_argument("--placements", choices=PLACEMENT_KINDS, default="uniform",
                        help="uniform, as the app draws planes, or legacy, the original trainer's biased draw")
    parser.add_argument("--exact", action="store_true",
                        help="play each of the 120 placements once: the exact mean of a deterministic agent")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.evaluation import GAMES_PER_BATCH, evaluate
    from engine.specs import parse_agent_spec

    agent = parse_agent_spec(args.agent, seed=args.seed)
    try:
        with progress_bar("evaluating", "games", show=not args.exact and args.games > GAMES_PER_BATCH) as progress:
            report = evaluate(agent, games=args.games, seed=args.seed, placements=args.placements, exact=args.exact,
                              on_progress=progress)
    finally:
        agent.close()
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    if report.exact:
        how = f"exact: each of the 120 placements once, weighted {report.placements}"
        mean = f"{report.mean_strikes:.4f}"
    else:
        how = f"{report.games} games, seed {report.seed}, {report.placements} placements"
        mean = f"{report.mean_strikes:.3f} ± {report.ci95:.3f} (95% CI)"
    rows = [
        ("agent", report.agent),
        ("boards", how),
        ("mean strikes", mean),
        ("sd", f"{report.sd:.3f}"),
        ("p5 / p50 / p95", f"{report.p5:g} / {report.p50:g} / {report.p95:g}"),
        ("min / max", f"{report.min} / {report.max}"),
        ("time", f"{report.seconds:.2f} s"),
    ]
    print_rows(rows)
    return 0
