"""`planestrike eval`: measure an agent's mean strikes per game."""

from __future__ import annotations

import argparse
import json

from engine.limits import EVAL_GAMES, SEED
from planestrike_tui.commands.arguments import in_range, limit_help
from planestrike_tui.commands.device import device_moves, runner_option
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
                        help="random, hunter, optimal (exact optimal play, 12.05), flax[:CHECKPOINT], tflite[:MODEL], app "
                        "(the official Android app's model, 13.19), device:SERIAL[:MODEL] (default: hunter)")
    parser.add_argument("--games", type=in_range(EVAL_GAMES), default=1000, metavar="N",
                        help=f"games to play, {limit_help(EVAL_GAMES)} (default: 1000)")
    parser.add_argument("--seed", type=in_range(SEED), default=0, metavar="S",
                        help=f"seed for the boards and the agent, {limit_help(SEED)} (default: 0)")
    parser.add_argument("--placements", choices=PLACEMENT_KINDS, default="uniform",
                        help="uniform, as the app draws planes, or legacy, the original trainer's biased draw")
    parser.add_argument("--exact", action="store_true",
                        help="play each of the 120 placements once: the exact mean of a deterministic agent")
    parser.add_argument("--regret", action="store_true",
                        help="also compare with optimal play: the exact mean minus the optimum (12.05) and the moves "
                        "and games where the agent loses strikes; implies --exact (uniform placements)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    runner_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.errors import PlanestrikeError

    if args.regret and args.placements != "uniform":
        raise PlanestrikeError("--regret compares with optimal play under uniform placements, as the app draws "
                               "them: drop --placements legacy")
    with device_moves([args.agent], args.device_runner) as on_phone:
        return _run(args, on_phone)


def _run(args: argparse.Namespace, on_phone: bool) -> int:
    from engine.evaluation import GAMES_PER_BATCH, evaluate
    from engine.specs import parse_agent_spec

    agent = parse_agent_spec(args.agent, seed=args.seed)
    regret = None
    try:
        if args.regret:
            from engine.regret import measure_regret

            regret = measure_regret(agent)
            report = _exact_report(regret)
        else:
            show = not args.exact and args.games > GAMES_PER_BATCH and not on_phone  # a phone has its own bar
            with progress_bar("evaluating", "games", show=show) as progress:
                report = evaluate(agent, games=args.games, seed=args.seed, placements=args.placements,
                                  exact=args.exact, on_progress=progress)
    finally:
        agent.close()
    if args.json:
        data = report.to_dict()
        if regret is not None:
            data["regret_mean"] = float(regret.regret_mean)
            data["regret"] = regret.to_dict()
        print(json.dumps(data))
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
    if regret is not None:
        _print_regret(regret)
    return 0


def _exact_report(regret):
    """The usual exact report, from the games ``--regret`` played (they are not played twice)."""
    from engine.evaluation import summarize
    from engine.placements import placement_probabilities

    return summarize(regret.agent, regret.lengths(), placement_probabilities("uniform"), seed=None,
                     placements="uniform", exact=True, seconds=regret.seconds)


def _print_regret(regret, shown: int = 10) -> None:
    """Regret rows, then the costliest mistakes and the games that lose the most."""
    from engine.rules import cell_name

    losing = [game for game in regret.games if game.extra]
    summary = (f"{float(regret.regret_mean):.4f} strikes per game (exactly {regret.regret_mean}), in "
               f"{len(regret.mistakes)} positions, {len(losing)} of 120 games")
    print_rows([("optimum", f"{float(regret.optimum):.4f} (optimal play; exactly {regret.optimum})"),
                ("regret", summary)])
    if regret.mistakes:
        mistakes = regret.mistakes[:shown]
        width = max(len("after"), *(len(m.path_text()) for m in mistakes))
        print(f"\nwhere it loses strikes (the {len(mistakes)} costliest positions; x hit, o miss):")
        print(f"{'after':<{width}}  {'struck':>6}  {'optimal':<15} {'regret':>7} {'games':>5} {'per game':>9}")
        for mistake in mistakes:
            optimal = " ".join(cell_name(cell) for cell in mistake.optimal[:4])
            optimal += " ..." if len(mistake.optimal) > 4 else ""
            print(f"{mistake.path_text():<{width}}  {cell_name(mistake.cell):>6}  {optimal:<15} "
                  f"{float(mistake.regret):>7.4f} {mistake.games:>5} {float(mistake.share):>9.4f}")
    if losing:
        worst = sorted(losing, key=lambda game: (-game.extra, game.placement))[:shown]
        print(f"\ngames with the most extra strikes (the sum of the agent's regrets in the game; {len(losing)} "
              "games lose some):")
        print(f"{'placement':>9}  {'plane':<12} {'strikes':>7} {'extra':>7}")
        for game in worst:
            print(f"{game.placement:>9}  {game.describe():<12} {game.strikes:>7} {float(game.extra):>7.4f}")
