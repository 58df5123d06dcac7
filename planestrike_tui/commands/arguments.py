"""Argument types shared by the subcommands: each rejects bad input with a message argparse prints as one line.

The ranges themselves live with what they protect (``engine.limits``, ``training.config``); these only adapt
them to argparse, so ``--games -5`` and ``--games 0`` get the same rule in the same words.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from engine.limits import NumberRange, OutOfRange, WholeRange


def in_range(limits: WholeRange | NumberRange) -> Callable[[str], int | float]:
    """An argparse type for a value in ``limits`` (whole numbers or any finite number, as the range says)."""
    def parse(text: str) -> int | float:
        try:
            return limits.parse(text)
        except OutOfRange as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.limits = limits  # what the tests hold every parsed value to
    return parse


def non_empty(text: str) -> str:
    """A name that must be given if the option is: an empty one would silently mean the default."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a value, or leave the option out")
    return text


def path(text: str) -> Path:
    """A file or directory argument: an empty one would silently mean the current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a file or directory name")
    if "\0" in text:
        raise argparse.ArgumentTypeError("contains a NUL character, which no file name can hold")
    return Path(text)


def limit_help(limits: WholeRange | NumberRange) -> str:
    """The range as the help texts show it: ``1 to 1,000,000``, ``above 0, up to 1``."""
    if isinstance(limits, WholeRange):
        return f"{limits.low:,} to {limits.high:,}"
    if limits.above_low:
        return f"above {limits.low:g}, up to {limits.high:g}"
    return f"{limits.low:g} to {limits.high:g}"
