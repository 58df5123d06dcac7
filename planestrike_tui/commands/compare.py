"""`planestrike compare`: several agents on the same boards, how far apart their answers are, how fast each is."""

from __future__ import annotations

import argparse
import json

from engine.limits import COMPARE_BOARDS, SEED
from planestrike_tui.commands.arguments import in_range, limit_help, path
from planestrike_tui.commands.device import device_moves, runner_option
from planestrike_tui.commands.output import progress_bar, shown


def agent_list(text: str) -> tuple[str, ...]:
    specs = tuple(spec.strip() for spec in text.split(","))
    if any(not spec for spec in specs):
        raise argparse.ArgumentTypeError(f"empty agent in {text!r}: write specs separated by commas, e.g. flax,tflite")
    return specs


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare",
        help="compare agents' answers and per-move latency on the same boards",
        description="Run every agent on the same boards from real games (an exploring hunter and the random agent, every stage) and "
        "report, for every pair, max and mean |difference| of their scores, the KL divergence of their strike "
        "distributions and how often they strike the same cell; and each agent's per-move latency.",
    )
    parser.add_argument("--agents", type=agent_list, default=("flax", "tflite"), metavar="SPEC,SPEC,...",
                        help="agents to compare, any --agent spec (default: flax,tflite); tflite:float32, "
                        "tflite:float16 and tflite:int8 are the bundled model's conversions, and a tflite:MODEL "
                        "with a / or ending in .tflite is always a file")
    parser.add_argument("--boards", type=in_range(COMPARE_BOARDS), default=1000, metavar="N",
                        help=f"boards to compare on, {limit_help(COMPARE_BOARDS)} (default: 1000)")
    parser.add_argument("--seed", type=in_range(SEED), default=0, metavar="S",
                        help=f"seed for the boards, {limit_help(SEED)} (default: 0)")
    parser.add_argument("--layers", action="store_true",
                        help="also compare each .tflite agent layer by layer (each dense layer after its ReLU, the "
                        "logits, the softmax) with the first flax agent in --agents")
    parser.add_argument("--node-data", type=path, default=None, metavar="FILE",
                        help="with --layers (implied): write each .tflite agent's per-layer max |difference| as "
                        "Model Explorer node data, FILE for one agent, FILE's name plus the model's for several")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    runner_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from training.compare import CompareConfig, compare_agents

    layers = args.layers or args.node_data is not None
    planned = {}
    if args.node_data is not None:  # every output checked before seconds of work, not after
        from training import node_data

        planned = node_data.plan_outputs(args.node_data, args.agents)
    config = CompareConfig(agents=args.agents, boards=args.boards, seed=args.seed, layers=layers)
    phone_moves = (args.boards + 1) * sum(spec.strip().startswith("device:") for spec in args.agents)  # + warm-up
    with device_moves(args.agents, args.device_runner, total=phone_moves) as on_phone, \
            progress_bar("comparing", "boards", show=not on_phone) as progress:  # a phone has its own bar
        report = compare_agents(config, progress)
    written = node_data.write(planned, report.layers, report.models) if planned else []
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(f"{report.boards:,} boards from real games (exploring hunter and random agent), seed {args.seed}\n")
    width = max(len(name) for name in report.agents) + 2
    print(f"{'agent':<{width}}{'p50 us':>10}{'p95 us':>10}")
    for name, timing in report.agents.items():
        print(f"{name:<{width}}{timing.latency_us_p50:>10.1f}{timing.latency_us_p95:>10.1f}")
    print()
    labels = [f"{pair.a} / {pair.b}" for pair in report.pairs]
    width = max(len(label) for label in labels) + 2
    print(f"{'pair':<{width}}{'max |diff|':>12}{'mean |diff|':>13}{'KL':>11}{'same cell':>11}")
    for label, pair in zip(labels, report.pairs):
        print(f"{label:<{width}}{pair.max_abs_diff:>12.3g}{pair.mean_abs_diff:>13.3g}{pair.kl:>11.3g}"
              f"{pair.argmax_agreement:>11.1%}")
    if report.layers:
        _print_layers(report.layers)
    for target in written:
        print(f"node data for Model Explorer: {shown(target)}")
    return 0


def _print_layers(rows) -> None:
    """One block per .tflite agent: each layer's distance from the reference Flax model's same layer."""
    print()
    for agent in dict.fromkeys(row.agent for row in rows):
        mine = [row for row in rows if row.agent == agent]
        same = {True: "converted from its checkpoint", False: "converted from ANOTHER checkpoint: different models, "
                "not a conversion error", None: "source checkpoint unknown: no sidecar says it"}[mine[0].same_checkpoint]
        print(f"{agent} vs {mine[0].reference}, layer by layer ({same})")
        print(f"  {'layer':<10}{'node':>6}  {'op':<17}{'max |diff|':>12}{'mean |diff|':>13}{'max |flax|':>12}")
        for row in mine:
            print(f"  {row.layer:<10}{row.node_id:>6}  {row.op:<17}{row.max_abs_diff:>12.3g}{row.mean_abs_diff:>13.3g}"
                  f"{row.reference_max_abs:>12.3g}")
