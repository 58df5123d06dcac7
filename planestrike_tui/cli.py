"""The ``planestrike`` command line: parses arguments, calls the engine and training code, prints results.

Every user error ends here as one line on stderr and exit status 2 (1 for failures that are not the user's), never
a traceback; even a bug is one line (``PLANESTRIKE_TRACEBACK=1`` shows its traceback), and a message never carries
a control character it was given. Ctrl-C ends a command at once with "interrupted" and status 130 (training saves
first); its handler is in place before anything heavy is imported. Heavy libraries (jax, tensorflow, textual) are
imported inside the command that needs them, so ``planestrike eval --agent hunter`` starts in a fraction of a
second.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence

PROG = "planestrike"

# One module per subcommand in planestrike_tui/commands/, each with ``register(commands)`` that adds its parser
# and sets ``run``. Command modules import only argparse-level code at the top; heavy imports go inside ``run``.
COMMANDS = ["eval", "solve", "play", "replay", "device", "train", "convert", "compare"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says where to look, not a usage dump, and a negative number
    in exponent form (``--miss-reward -1e-3``) is a value, not an unknown option."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)$",
                                                   re.IGNORECASE)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {printable(message)} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Plane Strike: train an agent with Flax/JAX, convert it to TensorFlow Lite, run it on a phone, "
        "and play against it in the terminal.",
        epilog="With no command (or only play's options), planestrike opens the game: planestrike play.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"planestrike_tui.commands.{name}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from training.signals import exit_on_interrupt

    with exit_on_interrupt(PROG):  # first: Ctrl-C while the command loads ends it cleanly (training/signals.py)
        return _run(list(sys.argv[1:] if argv is None else argv))


def _run(argv: list[str]) -> int:
    from engine.errors import PlanestrikeError

    # `planestrike` and `planestrike --seed 3` are `planestrike play ...`: the game is the default command.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["play", *argv]
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except PlanestrikeError as error:
        _print_error(str(error))
        return getattr(error, "exit_code", 2)
    except KeyboardInterrupt:  # raised by a command's own handling (training's second Ctrl-C)
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `planestrike eval ... | head`
        sys.stderr.close()
        return 0
    except OSError as error:  # a file or folder the command could not use (permissions, a name too long...)
        where = f"{error.filename}: " if error.filename else ""
        _print_error(f"{where}{error.strerror or error}")
        return 2
    except Exception as error:  # a bug, not the user's doing: still one line, and a way to see where
        if os.environ.get("PLANESTRIKE_TRACEBACK"):
            raise
        text = " ".join(str(error).split())[:300]
        print(f"{PROG}: internal error: {type(error).__name__}{': ' + printable(text) if text else ''} (a bug in "
              "planestrike: please report it; PLANESTRIKE_TRACEBACK=1 shows where)", file=sys.stderr)
        return 1


def printable(text: str) -> str:
    """``text`` with control characters (newlines, escape sequences) written as escapes: a message stays one line
    and nothing a user typed can drive the terminal."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _print_error(message: str) -> None:
    print(f"{PROG}: error: {printable(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
