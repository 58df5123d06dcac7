"""Every number a user can set has a documented range, checked the same way everywhere (standard library only).

The command line turns a value outside its range into one usage line, the loaders (checkpoints, the app's forms)
into one error naming the file or field, and the library functions refuse it too, so no caller can ask for a
7 TiB allocation or a seed JAX cannot take. One rule and one wording for every range:
``must be a whole number from 1 to 1,000,000, got -5``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from engine.errors import PlanestrikeError

_WHOLE = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: int() also takes '١٢' and str.isdigit() takes '²'
_MAX_DIGITS = 30  # longer digit strings are out of every range here; int() would parse 4,300 of them


class OutOfRange(PlanestrikeError, ValueError):
    """A value outside its documented range, or not a number at all. The message says which range."""


def _named(name: str, message: str) -> str:
    return f"{name} {message}" if name else message


def _number_text(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True)
class WholeRange:
    """Whole numbers from ``low`` to ``high``, both included."""

    low: int
    high: int

    def describe(self) -> str:
        return f"a whole number from {_number_text(self.low)} to {_number_text(self.high)}"

    def parse(self, text: str) -> int:
        text = text.strip()
        if len(text) > _MAX_DIGITS or not _WHOLE.fullmatch(text):
            raise OutOfRange(f"must be {self.describe()}, got {text[:40]!r}")
        return self.check(int(text))

    def check(self, value: object, name: str = "") -> int:
        """``value`` if it is in range; else ``OutOfRange``, its message starting with ``name`` when given."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise OutOfRange(_named(name, f"must be {self.describe()}, got {value!r:.40}"))
        if not self.low <= value <= self.high:
            raise OutOfRange(_named(name, f"must be {self.describe()}, got {_number_text(value)}"))
        return value


@dataclass(frozen=True)
class NumberRange:
    """Finite numbers from ``low`` to ``high``; ``above_low`` excludes ``low`` itself (a rate that must be > 0)."""

    low: float
    high: float
    above_low: bool = False

    def describe(self) -> str:
        if self.above_low:
            return f"a number more than {self.low:g} and at most {self.high:g}"
        return f"a number from {self.low:g} to {self.high:g}"

    def parse(self, text: str) -> float:
        text = text.strip()
        try:
            value = float(text) if len(text) <= 60 and text.isascii() else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise OutOfRange(f"must be {self.describe()}, got {text[:40]!r}")
        return self.check(value)

    def check(self, value: object, name: str = "") -> float:
        """``value`` as a float if it is in range; else ``OutOfRange``, starting with ``name`` when given."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise OutOfRange(_named(name, f"must be {self.describe()}, got {value!r:.40}"))
        low_ok = value > self.low if self.above_low else value >= self.low
        if not (low_ok and value <= self.high):
            raise OutOfRange(_named(name, f"must be {self.describe()}, got {value:.12g}"))
        return float(value)


# Seeds: JAX's PRNGKey and numpy's generators both take any 32-bit unsigned seed.
SEED = WholeRange(0, 2**32 - 1)
# eval: a million games of the hunter take about a minute and pin the mean within +-0.004 strikes (95% CI);
# the lockstep batch holds a board per game, so memory grows with the count.
EVAL_GAMES = WholeRange(1, 1_000_000)
# compare: every board is timed on every agent, one call at a time, and every agent's scores are kept.
COMPARE_BOARDS = WholeRange(1, 100_000)
COMPARE_AGENTS = WholeRange(2, 16)
# A policy file (checkpoint or .tflite) holds tens of kilobytes; the largest network train accepts, with its
# optimiser state, is about 10 MB. Larger files are refused before they are read.
MAX_POLICY_FILE_BYTES = 32 << 20
