"""Side by side: several agents on the same boards, how far apart their answers are and how fast each answers.

The boards come from real games (``training.parity.game_boards``: an exploring hunter and the random agent, every
stage). For each agent, every board is one ``probabilities(board)`` call, timed on its own: that is the per-move
latency the terminal app and a phone see, including what the agent does around its model. For every pair:

- ``max_abs_diff``, ``mean_abs_diff``: over the raw 64 scores of every board;
- ``kl``: mean KL(a || b) between the two strike distributions, each agent's scores restricted to the untried
  cells and renormalised (the only cells either could choose), with scores floored at 1e-12;
- ``argmax_agreement``: share of boards on which both strike the same cell (masked argmax, the app's rule).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.agents import Agent, masked_argmax
from engine.errors import PlanestrikeError
from engine.limits import COMPARE_AGENTS, COMPARE_BOARDS, SEED
from engine.rules import CELL_COUNT, UNTRIED
from training.parity import game_boards

_FLOOR = 1e-12
_PROGRESS_EVERY = 256  # boards between progress reports


@dataclass(frozen=True)
class CompareConfig:
    agents: tuple[str, ...] = ("flax", "tflite")
    boards: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class AgentTiming:
    latency_us_p50: float
    latency_us_p95: float


@dataclass(frozen=True)
class PairReport:
    a: str
    b: str
    max_abs_diff: float
    mean_abs_diff: float
    kl: float
    argmax_agreement: float


@dataclass(frozen=True)
class CompareReport:
    boards: int
    agents: dict[str, AgentTiming]  # keyed by the spec as given ("flax", "tflite:model.tflite"...)
    pairs: list[PairReport]

    def to_dict(self) -> dict:
        return {
            "boards": self.boards,
            "agents": {name: vars(timing).copy() for name, timing in self.agents.items()},
            "pairs": [vars(pair).copy() for pair in self.pairs],
        }


def compare_agents(config: CompareConfig, on_progress: Callable[[int, int], None] = lambda done, total: None
                   ) -> CompareReport:
    """Load every agent in ``config.agents``, run them all on the same boards, and compare them pairwise.
    ``on_progress(boards_done, boards_in_all)`` counts every agent's boards, a few hundred at a time."""
    from engine.specs import parse_agent_spec

    COMPARE_BOARDS.check(config.boards, "--boards")
    SEED.check(config.seed, "--seed")
    specs = [spec.strip() for spec in config.agents]
    if len(specs) < 2:
        raise PlanestrikeError(f"compare needs at least two agents, got {', '.join(specs) or 'none'}: "
                               "write --agents flax,tflite")
    COMPARE_AGENTS.check(len(specs), "the number of --agents")
    if len(set(specs)) != len(specs):
        raise PlanestrikeError(f"--agents lists the same agent twice ({','.join(specs)}): list each once")
    boards = game_boards(config.boards, config.seed)
    scores, timings = {}, {}
    for index, spec in enumerate(specs):
        agent = parse_agent_spec(spec, seed=config.seed)
        done_before = index * len(boards)
        try:
            scores[spec], timings[spec] = _run(agent, boards, lambda done: on_progress(done_before + done,
                                                                                      len(specs) * len(boards)))
        finally:
            agent.close()
    pairs = [_pair(a, b, scores[a], scores[b], boards) for a, b in itertools.combinations(specs, 2)]
    return CompareReport(len(boards), timings, pairs)


def _run(agent: Agent, boards: np.ndarray, on_progress: Callable[[int], None]) -> tuple[np.ndarray, AgentTiming]:
    agent.probabilities(boards[0])  # warm-up: a jitted agent compiles here, which is not a move's latency
    scores = np.empty((len(boards), CELL_COUNT), np.float64)
    latencies = np.empty(len(boards), np.float64)
    for i, board in enumerate(boards):
        start = time.perf_counter_ns()
        scores[i] = np.asarray(agent.probabilities(board), np.float64).reshape(CELL_COUNT)
        latencies[i] = (time.perf_counter_ns() - start) / 1e3
        if i % _PROGRESS_EVERY == _PROGRESS_EVERY - 1 or i == len(boards) - 1:  # outside the timed call
            on_progress(i + 1)
    p50, p95 = np.percentile(latencies, [50, 95])
    return scores, AgentTiming(round(float(p50), 2), round(float(p95), 2))


def strike_distribution(scores: np.ndarray, boards: np.ndarray) -> np.ndarray:
    """Scores restricted to untried cells and renormalised per board (uniform if an agent gives them all 0)."""
    untried = boards.reshape(len(boards), CELL_COUNT) == UNTRIED
    masked = np.where(untried, np.clip(np.nan_to_num(scores, nan=0.0), 0.0, None), 0.0)
    totals = masked.sum(axis=1, keepdims=True)
    uniform = untried / untried.sum(axis=1, keepdims=True)
    return np.where(totals > 0, masked / np.where(totals > 0, totals, 1.0), uniform)


def _pair(a: str, b: str, scores_a: np.ndarray, scores_b: np.ndarray, boards: np.ndarray) -> PairReport:
    diff = np.abs(scores_a - scores_b)
    p, q = strike_distribution(scores_a, boards), strike_distribution(scores_b, boards)
    terms = np.where(p > 0, p * (np.log(np.maximum(p, _FLOOR)) - np.log(np.maximum(q, _FLOOR))), 0.0)
    same = masked_argmax(scores_a, boards) == masked_argmax(scores_b, boards)
    return PairReport(a, b, float(diff.max()), float(diff.mean()), float(terms.sum(axis=1).mean()), float(same.mean()))
