"""`planestrike play` (and bare `planestrike`): the terminal game."""

from __future__ import annotations

import argparse
import signal

from engine.limits import SEED
from planestrike_tui.commands.arguments import in_range, limit_help, path
from planestrike_tui.commands.device import runner_option

DEFAULT_PANELS = ("flax", "tflite", "hunter")


def panel_list(text: str) -> tuple[str, ...]:
    """``--panels``: specs separated by commas, each once, at most MAX_PANELS (the layouts' limit)."""
    from planestrike_tui.roster import MAX_PANELS, canonical_spec

    specs = tuple(spec.strip() for spec in text.split(","))
    if any(not spec for spec in specs):
        raise argparse.ArgumentTypeError(f"empty panel in {text[:80]!r}: write specs separated by commas, "
                                         "e.g. flax,tflite,hunter")
    if len(specs) > MAX_PANELS:
        raise argparse.ArgumentTypeError(f"at most {MAX_PANELS} panels, got {len(specs)}: leave some out")
    if len({canonical_spec(spec) for spec in specs}) != len(specs):
        raise argparse.ArgumentTypeError(f"the same panel twice in {text[:80]!r}: list each agent once")
    return specs


def spectator_pair(text: str) -> tuple[str, str]:
    """``--spectate A,B``: two different agent specs, the first strikes first."""
    from planestrike_tui.roster import canonical_spec

    specs = tuple(spec.strip() for spec in text.split(","))
    if len(specs) != 2 or not all(specs):
        raise argparse.ArgumentTypeError(f"two agents separated by a comma, got {text[:80]!r}: e.g. flax,hunter")
    if canonical_spec(specs[0]) == canonical_spec(specs[1]):
        raise argparse.ArgumentTypeError(f"two different agents, got {specs[0]!r} twice: e.g. tflite,tflite:int8")
    return specs


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
    parser.add_argument("--panels", type=panel_list, default=DEFAULT_PANELS, metavar="SPEC,SPEC,...",
                        help="the agents shown side by side, 1 to 6 --agent specs, e.g. flax,tflite,tflite:float16,"
                        "tflite:int8,hunter (tflite:float16 and tflite:int8 are the bundled model's quantized "
                        "variants; a model file is tflite:FILE, where a FILE with a '/' or ending in .tflite is "
                        "always a file); the opponent's panel is added first if it is not listed "
                        "(default: flax,tflite,hunter)")
    parser.add_argument("--model", type=path, metavar="FILE",
                        help="a .tflite file in place of the LiteRT panel's bundled model, or a checkpoint in "
                        "place of the Flax panel's")
    parser.add_argument("--spectate", type=spectator_pair, metavar="A,B",
                        help="open in spectator mode: agent A against agent B, any two different specs (e.g. "
                        "flax,tflite:int8 or tflite,device:SERIAL); in the app space pauses, → steps, b shows the "
                        "other board, s stops")
    parser.add_argument("--seed", type=in_range(SEED), default=0, metavar="S",
                        help=f"seed for the planes and the random agent, {limit_help(SEED)} (default: 0)")
    runner_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.specs import check_agent_spec
    from planestrike_tui.app import PlanestrikeApp
    from planestrike_tui.roster import RosterConfig

    for spec in (args.opponent, *args.panels, *(args.spectate or ())):  # a spec that names no agent is refused
        check_agent_spec(spec)  # as eval refuses it, before the app opens
    # A missing or broken model file is not refused here: its panel shows why, and the rest of the app works.
    app = PlanestrikeApp(RosterConfig(opponent=args.opponent, model=args.model, seed=args.seed,
                                        panels=args.panels, spectate=args.spectate))
    # The app reads ctrl+c as a key; a SIGINT sent from elsewhere goes to Textual as KeyboardInterrupt, so that it
    # can restore the terminal, rather than ending the process at once as in the other commands.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from devicelink.agent import runner_for_specs

    with runner_for_specs(args.device_runner):  # the phone agents the app starts, in any worker, use this runner
        app.run()
    return app.return_code or 0
