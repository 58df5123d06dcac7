"""How far apart two agents' answers on the same boards are: the measures `planestrike compare` reports and the
app's comparison strip shows, defined once.

An agent's 64 scores are made a strike distribution by keeping the untried cells (the only ones it may choose)
and renormalising, so that a policy (its scores sum to 1) and the hunter (hit probabilities, summing to the plane
cells left) can be compared on the same footing.
"""

from __future__ import annotations

import numpy as np

from engine.rules import CELL_COUNT, UNTRIED

KL_FLOOR = 1e-12  # scores below this count as this in the KL divergence: a zero would make it infinite


def strike_distribution(scores: np.ndarray, boards: np.ndarray) -> np.ndarray:
    """float64 [N, 64]: scores restricted to untried cells and renormalised per board (uniform over the untried
    cells if an agent gives them all 0; NaN and negative scores count as 0)."""
    scores = np.asarray(scores, np.float64).reshape(-1, CELL_COUNT)
    untried = np.asarray(boards).reshape(len(scores), CELL_COUNT) == UNTRIED
    masked = np.where(untried, np.clip(np.nan_to_num(scores, nan=0.0), 0.0, None), 0.0)
    totals = masked.sum(axis=1, keepdims=True)
    uniform = untried / np.maximum(untried.sum(axis=1, keepdims=True), 1)
    return np.where(totals > 0, masked / np.where(totals > 0, totals, 1.0), uniform)


def kl_divergence(scores_a: np.ndarray, scores_b: np.ndarray, boards: np.ndarray) -> np.ndarray:
    """float64 [N]: KL(a || b) between the two strike distributions of each board, in nats."""
    p, q = strike_distribution(scores_a, boards), strike_distribution(scores_b, boards)
    terms = np.where(p > 0, p * (np.log(np.maximum(p, KL_FLOOR)) - np.log(np.maximum(q, KL_FLOOR))), 0.0)
    return terms.sum(axis=1)
