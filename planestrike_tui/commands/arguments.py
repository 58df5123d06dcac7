"""Argument types shared by the subcommands: each rejects bad input with a message argparse prints as one line.

The ranges themselves live with what they protect (``engine.limits``, ``training.config``); these only adapt
them to argparse, so ``--games -5`` and ``--games 0`` get the same rule in the same words.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from engine.limits import NumberRange, OutOfRange, WholeRange


def whole_number(limits: WholeRange) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return limits.parse(text)
        except OutOfRange as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = "whole number"  # argparse names the type in some messages
    parse.limits = limits  # what the tests hold every parsed value to
    return parse


def number(limits: NumberRange) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            return limits.parse(text)
        except OutOfRange as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = "number"
    parse.limits = limits
    return parse


def path(text: str) -> Path:
    """A file or directory argument: an empty one would silently mean the current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a file or directory name")
    if "\0" in text:
        raise argparse.ArgumentTypeError("contains a NUL character, which no file name can hold")
    return Path(text)


def limit_help(limits: WholeRange | NumberRange) -> str:
    """The range as the help texts show it: ``1-1,000,000``."""
    if isinstance(limits, WholeRange):
        return f"{limits.low:,}-{limits.high:,}"
    return f"{'>' if limits.above_low else ''}{limits.low:g}-{limits.high:g}"
