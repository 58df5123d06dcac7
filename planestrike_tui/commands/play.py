"""`planestrike play` (and bare `planestrike`): the terminal game."""

from __future__ import annotations

import argparse
import signal

from engine.limits import SEED
from planestrike_tui.commands.arguments import in_range, limit_help, path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "play",
        help="play against the agent in the terminal (the default command)",
        description="Play Plane Strike against an agent, with every loaded agent's probabilities side by side. "
        "Keys are listed in the footer; ctrl+p opens the command palette, ctrl+q quits.",
    )
    parser.add_argument("--opponent", default="flax", metavar="SPEC",
                        help="flax, tflite, hunter, random, app (the official Android app's model, 13.19), device:SERIAL, or any "
                        "--agent spec of eval (default: flax, the bundled model)")
    parser.add_argument("--model", type=path, metavar="FILE",
                        help="a .tflite file for the LiteRT agent, or a checkpoint for the Flax agent")
    parser.add_argument("--seed", type=in_range(SEED), default=0, metavar="S",
                        help=f"seed for the planes and the random agent, {limit_help(SEED)} (default: 0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.specs import check_agent_spec
    from planestrike_tui.app import PlanestrikeApp
    from planestrike_tui.roster import RosterConfig

    check_agent_spec(args.opponent)  # a spec that names no agent is refused as eval refuses it, before the app opens
    # A missing or broken model file is not refused here: its panel shows why, and the rest of the app works.
    app = PlanestrikeApp(RosterConfig(opponent=args.opponent, model=args.model, seed=args.seed))
    # The app reads ctrl+c as a key; a SIGINT sent from elsewhere goes to Textual as KeyboardInterrupt, so that it
    # can restore the terminal, rather than ending the process at once as in the other commands.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    app.run()
    return app.return_code or 0
