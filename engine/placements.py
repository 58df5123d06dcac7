"""Distributions over the placement table, and seeded drawing of hidden boards.

``uniform``: the official app draws each of the 120 placements with probability 1/120.

``legacy``: the distribution of the original Python training environment. Its generator first picks a heading
uniformly, then a centre from a column range that, for heading "up", was one column too short (an off-by-one):
the 5 placements "heading up, centre column 6" (rows 1-5) can never occur, and the other 25 "up" placements each
get 1/4 * 1/25 = 1/100 instead of 1/120. The other 90 placements keep 1/120. Nets trained on it are measurably
worse on the five placements they never saw, so compare with numbers reported for the original trainer under
``legacy`` and with the app under ``uniform``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from engine.rules import PLACEMENT_COUNT, PLACEMENTS, Heading

PlacementKind = Literal["uniform", "legacy"]
PLACEMENT_KINDS: tuple[str, ...] = ("uniform", "legacy")


def _legacy_probabilities() -> np.ndarray:
    up = PLACEMENTS.headings == Heading.UP
    unreachable = up & (PLACEMENTS.centres[:, 1] == 6)
    probs = np.full(PLACEMENT_COUNT, 1 / 120)
    probs[up] = 1 / 100
    probs[unreachable] = 0.0
    return probs


_PROBABILITIES = {
    "uniform": np.full(PLACEMENT_COUNT, 1 / PLACEMENT_COUNT),
    "legacy": _legacy_probabilities(),
}


def placement_probabilities(kind: PlacementKind = "uniform") -> np.ndarray:
    """Probability of each of the 120 placements under ``kind`` (a float64 copy that sums to 1)."""
    try:
        return _PROBABILITIES[kind].copy()
    except KeyError:
        raise ValueError(f"unknown placement distribution {kind!r}: use one of {', '.join(PLACEMENT_KINDS)}") from None


def draw_placements(rng: np.random.Generator, count: int, kind: PlacementKind = "uniform") -> np.ndarray:
    """``count`` placement indices drawn independently from ``kind`` with ``rng``."""
    probs = placement_probabilities(kind)
    if kind == "uniform":  # exact integers, no floating-point weights
        return rng.integers(0, PLACEMENT_COUNT, size=count)
    return rng.choice(PLACEMENT_COUNT, size=count, p=probs)
