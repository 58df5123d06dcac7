"""Measure an agent's skill: mean strikes per game on reproducible boards.

Games run in lockstep batches (one ``choose_batch`` call per move for every unfinished game), so a vectorised
agent such as the hunter plays 20,000 games in about a second.

Exact evaluation: an agent that plays by masked argmax is deterministic, so on a given placement it always plays
the same game. Playing each of the 120 placements once and weighting each game by the placement's probability
gives its *exact* expected game length, with no sampling noise, in 120 games instead of 20,000.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from engine.agents import Agent
from engine.errors import PlanestrikeError
from engine.limits import EVAL_GAMES, SEED
from engine.placements import PlacementKind, draw_placements, placement_probabilities
from engine.rules import CELL_COUNT, HIT, MISS, PLACEMENT_COUNT, PLACEMENTS, PLANE_SIZE, UNTRIED

# Games played in lockstep at once: large enough that a vectorised agent runs at full speed (20,000 hunter games
# take a second), small enough that a million games need no more memory than this many (about 150 MB).
GAMES_PER_BATCH = 1 << 16


def play_games(agent: Agent, placements: np.ndarray,
               on_strike: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None) -> np.ndarray:
    """Play one game per placement index with ``agent``; return each game's length (strikes, int).
    ``on_strike(games, cells, hits)``, if given, hears every lockstep round: which games (indices into
    ``placements``) struck which cells, and which were hits (``engine.regret`` follows each game's path)."""
    placements = np.asarray(placements, dtype=np.int64)
    planes = PLACEMENTS.masks[placements]
    boards = np.full((len(placements), CELL_COUNT), UNTRIED, dtype=np.float32)
    hits = np.zeros(len(placements), dtype=np.int64)
    lengths = np.zeros(len(placements), dtype=np.int64)
    active = np.arange(len(placements))
    while active.size:
        actions = np.asarray(agent.choose_batch(boards[active].reshape(-1, 8, 8)), dtype=np.int64)
        if actions.shape != active.shape or (actions < 0).any() or (actions >= CELL_COUNT).any():
            raise PlanestrikeError(f"agent {agent.name} returned invalid actions {actions[:8]}... (expected cells 0..63)")
        if (boards[active, actions] != UNTRIED).any():
            raise PlanestrikeError(f"agent {agent.name} struck a cell that was already tried: it breaks the rules")
        hit = planes[active, actions]
        boards[active, actions] = np.where(hit, HIT, MISS)
        if on_strike is not None:
            on_strike(active, actions, hit)
        hits[active] += hit
        lengths[active] += 1
        active = active[hits[active] < PLANE_SIZE]
    return lengths


@dataclass(frozen=True)
class EvalReport:
    agent: str
    games: int
    seed: int | None
    placements: str
    exact: bool
    mean_strikes: float
    ci95: float  # half-width of the 95% confidence interval of the mean; 0 for an exact evaluation
    sd: float
    p5: float
    p50: float
    p95: float
    min: int
    max: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(agent_name: str, lengths: np.ndarray, weights: np.ndarray | None, *, seed, placements, exact, seconds) -> EvalReport:
    """Statistics of game lengths; ``weights`` (summing to 1) make an exact evaluation's mean an expectation."""
    lengths = np.asarray(lengths, dtype=np.float64)
    w = np.full(len(lengths), 1 / len(lengths)) if weights is None else np.asarray(weights, dtype=np.float64)
    played = w > 0
    lengths, w = lengths[played], w[played]
    if np.all(w == w[0]):  # equal weights: from the integer total, so two runs with equal totals tie exactly
        mean = float(lengths.sum()) / len(lengths)
    else:
        mean = float(np.sum(w * lengths))
    sd = float(math.sqrt(np.sum(w * (lengths - mean) ** 2)))
    if not exact and len(lengths) > 1:
        sd = sd * math.sqrt(len(lengths) / (len(lengths) - 1))  # sample standard deviation
    p5, p50, p95 = np.percentile(lengths, [5, 50, 95], weights=w, method="inverted_cdf")
    return EvalReport(
        agent=agent_name,
        games=len(lengths),
        seed=seed,
        placements=placements,
        exact=exact,
        mean_strikes=mean,
        ci95=0.0 if exact else 1.96 * sd / math.sqrt(len(lengths)),
        sd=sd,
        p5=float(p5),
        p50=float(p50),
        p95=float(p95),
        min=int(lengths.min()),
        max=int(lengths.max()),
        seconds=seconds,
    )


def evaluate(agent: Agent, games: int = 1000, seed: int = 0, placements: PlacementKind = "uniform", exact: bool = False,
             on_progress: Callable[[int, int], None] = lambda done, total: None) -> EvalReport:
    """Evaluate ``agent``: ``games`` games on boards drawn from ``seed``, or exactly over the 120 placements.
    ``on_progress(games_done, games)`` is called after each batch of ``GAMES_PER_BATCH`` games."""
    start = time.perf_counter()
    probs = placement_probabilities(placements)
    if exact:
        if not agent.deterministic:
            raise PlanestrikeError(
                f"--exact needs a deterministic agent, and {agent.name} is stochastic: "
                "its mean over the 120 placements would be one noisy sample; drop --exact and use --games N"
            )
        lengths = play_games(agent, np.arange(PLACEMENT_COUNT))
        return summarize(agent.name, lengths, probs, seed=None, placements=placements, exact=True,
                         seconds=time.perf_counter() - start)
    EVAL_GAMES.check(games, "--games")
    SEED.check(seed, "--seed")
    boards = draw_placements(np.random.default_rng(seed), games, placements)
    lengths = np.empty(games, dtype=np.int64)
    for first in range(0, games, GAMES_PER_BATCH):  # lockstep batches of bounded size: memory does not grow with N
        lengths[first:first + GAMES_PER_BATCH] = play_games(agent, boards[first:first + GAMES_PER_BATCH])
        on_progress(min(first + GAMES_PER_BATCH, games), games)
    return summarize(agent.name, lengths, None, seed=seed, placements=placements, exact=False,
                     seconds=time.perf_counter() - start)
