"""The ``planestrike`` command line: parses arguments, calls the engine and training code, prints results.

Every user error ends here as one line on stderr and exit status 2 (1 for failures that are not the user's), never
a traceback. Heavy libraries (jax, tensorflow, textual) are imported inside the command that needs them, so
``planestrike eval --agent hunter`` starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from engine.errors import PlanestrikeError

PROG = "planestrike"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says where to look, not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1, got 0")
    return value


def _add_eval(commands: argparse._SubParsersAction) -> None:
    from engine.placements import PLACEMENT_KINDS

    parser = commands.add_parser(
        "eval",
        help="measure an agent's mean strikes per game",
        description="Play an agent on reproducible boards and report its mean strikes per game (lower is better). "
        "The same --seed gives every agent the same boards.",
    )
    parser.add_argument("--agent", default="hunter", metavar="SPEC",
                        help="random, hunter, flax[:CHECKPOINT], tflite[:MODEL], device:SERIAL[:MODEL] (default: hunter)")
    parser.add_argument("--games", type=_positive_int, default=1000, help="games to play (default: 1000)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="seed for the boards and the agent (default: 0)")
    parser.add_argument("--placements", choices=PLACEMENT_KINDS, default="uniform",
                        help="uniform, as the app draws planes, or legacy, the original trainer's biased draw")
    parser.add_argument("--exact", action="store_true",
                        help="play each of the 120 placements once: the exact mean of a deterministic agent")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from engine.evaluation import evaluate
    from engine.specs import parse_agent_spec

    agent = parse_agent_spec(args.agent, seed=args.seed)
    try:
        report = evaluate(agent, games=args.games, seed=args.seed, placements=args.placements, exact=args.exact)
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
    for label, value in rows:
        print(f"{label:<15} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Plane Strike: train an agent with Flax/JAX, convert it to TensorFlow Lite, run it on a phone, "
        "and play against it in the terminal.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    _add_eval(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):  # bare `planestrike`: the terminal game lands with its own issue
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except PlanestrikeError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 2)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `planestrike eval ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
