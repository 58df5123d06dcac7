"""The agent protocol and the reference agents: random, the greedy hunter and exact optimal play.

An agent looks at the board it is striking (float32 8x8: 0 untried, 1 hit, -1 miss) and answers
``probabilities(board) -> float32[64]`` and ``choose(board) -> int``. ``choose`` follows the official app: the
untried cell with the highest probability, the lowest index on ties, never a tried cell. Batched variants
(``probabilities_batch``, ``choose_batch``) let evaluation run thousands of games in lockstep; agents that can
compute a batch at once (the hunter, a Flax network) override them.
"""

from __future__ import annotations

import numpy as np

from engine.rules import CELL_COUNT, HIT, MISS, PLACEMENTS, UNTRIED


def _as_boards(boards: np.ndarray) -> np.ndarray:
    """Boards as a float32 [N, 64] array (accepts [N, 8, 8] or [N, 64])."""
    boards = np.asarray(boards, dtype=np.float32)
    return boards.reshape(len(boards), CELL_COUNT)


def masked_argmax(probabilities: np.ndarray, boards: np.ndarray) -> np.ndarray:
    """The app's choice for each row: highest probability among untried cells, lowest index on ties.

    A NaN probability never wins. A board with no untried cell is an error: its game is already over.
    """
    flat = _as_boards(boards)
    untried = flat == UNTRIED
    if not untried.any(axis=1).all():
        raise ValueError("a board has no untried cell left: the game is already over")
    probs = np.asarray(probabilities, dtype=np.float64).reshape(len(flat), CELL_COUNT)
    scores = np.where(untried & ~np.isnan(probs), probs, -np.inf)
    # argmax returns the first maximum (lowest index). If every untried score is -inf (all NaN), argmax of the
    # untried mask picks the lowest untried cell instead of a tried one.
    best = scores.argmax(axis=1)
    stuck = np.isneginf(scores[np.arange(len(flat)), best])
    best[stuck] = untried[stuck].argmax(axis=1)
    return best


class Agent:
    """Base class for agents. Subclasses implement ``probabilities`` or ``probabilities_batch``.

    ``name`` is shown to people (panel titles, reports). ``deterministic`` agents play by masked argmax, so the
    same board always gets the same move: that is what makes exact evaluation over the 120 placements valid.
    """

    name: str = "agent"
    kind: str = "agent"
    deterministic: bool = True
    source_checkpoint_sha256: str | None = None  # sha256 of the checkpoint file a trained agent comes from (None: unknown)

    def probabilities(self, board: np.ndarray) -> np.ndarray:
        return self.probabilities_batch(np.asarray(board)[None])[0]

    def probabilities_batch(self, boards: np.ndarray) -> np.ndarray:
        return np.stack([self.probabilities(b) for b in boards]).astype(np.float32)

    def choose(self, board: np.ndarray) -> int:
        return int(self.choose_batch(np.asarray(board)[None])[0])

    def choose_batch(self, boards: np.ndarray) -> np.ndarray:
        return masked_argmax(self.probabilities_batch(boards), boards)

    def close(self) -> None:
        """Release what the agent holds (files, device connections). Safe to call twice."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class RandomAgent(Agent):
    """Strikes a uniformly random untried cell, from its own seeded generator. Stochastic."""

    kind = "random"
    deterministic = False

    def __init__(self, seed: int | None = 0):
        self.name = "Random"
        # A child stream of ``seed``: independent of the boards that evaluation draws from the same seed.
        self._rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))

    def probabilities_batch(self, boards: np.ndarray) -> np.ndarray:
        untried = _as_boards(boards) == UNTRIED
        counts = np.maximum(untried.sum(axis=1, keepdims=True), 1)
        return (untried / counts).astype(np.float32)

    def choose_batch(self, boards: np.ndarray) -> np.ndarray:
        untried = _as_boards(boards) == UNTRIED
        if not untried.any(axis=1).all():
            raise ValueError("a board has no untried cell left: the game is already over")
        # The largest of independent uniforms over the untried cells is a uniform choice among them.
        keys = np.where(untried, self._rng.random(untried.shape), -1.0)
        return keys.argmax(axis=1)


class HunterAgent(Agent):
    """The exact greedy Bayesian agent.

    Among the placements consistent with every hit and miss on the board, each untried cell's probability is the
    share of those placements that cover it: the exact posterior probability that the cell is a hit under uniform
    placements. Tried cells get 0. Computed from the board alone, for a whole batch with two matrix products.
    Playing it by masked argmax with lowest-index ties gives exactly 12.075 mean strikes.
    """

    kind = "hunter"

    def __init__(self) -> None:
        self.name = "Hunter"
        self._masks = PLACEMENTS.masks.astype(np.float32)  # [120, 64]

    def consistent(self, boards: np.ndarray) -> np.ndarray:
        """bool [N, 120]: which placements agree with every hit and miss on each board."""
        flat = _as_boards(boards)
        hits = (flat == HIT).astype(np.float32)
        misses = (flat == MISS).astype(np.float32)
        covered_hits = hits @ self._masks.T  # [N, 120] hits that each placement explains
        covered_misses = misses @ self._masks.T  # [N, 120] misses that land on each placement
        return (covered_hits == hits.sum(axis=1, keepdims=True)) & (covered_misses == 0)

    def probabilities_batch(self, boards: np.ndarray) -> np.ndarray:
        flat = _as_boards(boards)
        consistent = self.consistent(flat).astype(np.float32)
        counts = consistent @ self._masks  # [N, 64] consistent placements covering each cell
        totals = np.maximum(consistent.sum(axis=1, keepdims=True), 1.0)
        return np.where(flat == UNTRIED, counts / totals, 0.0).astype(np.float32)


class OptimalAgent(Agent):
    """Bayes-optimal play, solved exactly (``engine.solver``): 12.05 mean strikes, the best any agent can do.

    ``probabilities`` is uniform over the cells that keep play optimal (sure hits included: they cost nothing),
    so ``choose`` strikes the lowest-index optimal cell, deterministically. ``cell_values`` and ``value`` give the
    numbers behind it, in expected total strikes of the game. The solver is shared by every optimal agent in the
    process and loaded on the first move (about 0.2 s).
    """

    kind = "optimal"

    def __init__(self, solver=None) -> None:
        self.name = "Optimal"
        self._solver = solver  # None: the process's shared solver, started from the shipped table

    def probabilities(self, board: np.ndarray) -> np.ndarray:
        from engine.solver import optimal_cells

        probs = np.zeros(CELL_COUNT, dtype=np.float32)
        cells = list(optimal_cells(board, self._solver))
        probs[cells] = np.float32(1.0) / np.float32(max(len(cells), 1))
        return probs

    def probabilities_batch(self, boards: np.ndarray) -> np.ndarray:
        return np.stack([self.probabilities(board) for board in _as_boards(boards)])

    def cell_values(self, board: np.ndarray) -> np.ndarray:
        """float64 [64]: expected total strikes of the game if that cell is struck next and play is optimal
        afterwards; NaN for cells already tried."""
        from engine.solver import solve

        values = np.full(CELL_COUNT, np.nan)
        for cell, expected in solve(board, self._solver).cells.items():
            values[cell] = float(expected)
        return values

    def value(self, board: np.ndarray) -> float:
        """Expected total strikes of the game from ``board`` under optimal play."""
        from engine.solver import value

        return float(value(board, self._solver))
