"""Side by side: several agents on the same boards, how far apart their answers are and how fast each answers.

The boards come from real games (``training.parity.game_boards``: an exploring hunter and the random agent, every
stage). For each agent, every board is one ``probabilities(board)`` call, timed on its own: that is the per-move
latency the terminal app and a phone see, including what the agent does around its model. For every pair:

- ``max_abs_diff``, ``mean_abs_diff``: over the raw 64 scores of every board;
- ``kl``: mean KL(a || b) between the two strike distributions, each agent's scores restricted to the untried
  cells and renormalised (the only cells either could choose), with scores floored at 1e-12;
- ``argmax_agreement``: share of boards on which both strike the same cell (masked argmax, the app's rule).

With ``layers``, each .tflite agent is also compared layer by layer (``training.layer_parity``) with the first
``flax`` agent of the list, the reference; each row says whether the model was converted from the reference's
checkpoint (``same_checkpoint``, from the two agents' ``source_checkpoint_sha256``), so "different models" and "a
bad conversion" do not look alike.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.agents import Agent, masked_argmax
from engine.policy_distance import kl_divergence
from engine.errors import PlanestrikeError
from engine.limits import COMPARE_AGENTS, COMPARE_BOARDS, SEED
from engine.rules import CELL_COUNT
from training.parity import game_boards

if TYPE_CHECKING:  # (training.layer_parity is imported only when --layers runs)
    from training.layer_parity import LayerDiff

_PROGRESS_EVERY = 256  # boards between progress reports


@dataclass(frozen=True)
class CompareConfig:
    agents: tuple[str, ...] = ("flax", "tflite")
    boards: int = 1000
    seed: int = 0
    layers: bool = False  # also compare each .tflite agent's layers with the first flax agent's


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
    layers: list[LayerDiff] | None = None  # with CompareConfig.layers: per .tflite agent and layer
    models: dict[str, Path] = field(default_factory=dict)  # the file of each .tflite agent compared layer by layer

    def to_dict(self) -> dict:
        report = {
            "boards": self.boards,
            "agents": {name: vars(timing).copy() for name, timing in self.agents.items()},
            "pairs": [vars(pair).copy() for pair in self.pairs],
        }
        if self.layers is not None:
            report["layers"] = [row.to_dict() for row in self.layers]
        return report


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
    reference = _layer_reference(specs) if config.layers else None  # refused here, before anything is loaded
    boards = game_boards(config.boards, config.seed)
    scores, timings, layered = {}, {}, _Layered()
    for index, spec in enumerate(specs):
        agent = parse_agent_spec(spec, seed=config.seed)
        done_before = index * len(boards)
        try:
            scores[spec], timings[spec] = _run(agent, boards, lambda done: on_progress(done_before + done,
                                                                                      len(specs) * len(boards)))
            if reference is not None:
                layered.record(spec, agent, spec == reference, boards)
        finally:
            agent.close()
    pairs = [_pair(a, b, scores[a], scores[b], boards) for a, b in itertools.combinations(specs, 2)]
    if reference is None:
        return CompareReport(len(boards), timings, pairs)
    return CompareReport(len(boards), timings, pairs, layered.diffs(reference), layered.models)


def _layer_reference(specs: list[str]) -> str:
    """The spec of the first flax agent: what --layers compares every .tflite agent with."""
    from engine.specs import check_agent_spec

    kinds = [check_agent_spec(spec)[0].name for spec in specs]
    if not any(kind in ("tflite", "app") for kind in kinds):
        raise PlanestrikeError("--layers compares .tflite models layer by layer: add a tflite agent to --agents, "
                               "e.g. --agents flax,tflite:int8")
    if "flax" not in kinds:
        raise PlanestrikeError("--layers compares each .tflite model with a Flax model: add one to --agents, e.g. "
                               "flax (the bundled checkpoint) or flax:CHECKPOINT")
    return specs[kinds.index("flax")]


class _Layered:
    """What --layers collects while the agents run, each loaded once: the reference's layer outputs, and each
    .tflite model's (read by a second interpreter that keeps every tensor)."""

    def __init__(self) -> None:
        self.reference: dict[str, np.ndarray] = {}
        self.reference_checkpoint: str | None = None
        self.models: dict[str, Path] = {}
        self._found: dict[str, tuple[list, dict[str, np.ndarray], str | None]] = {}

    def record(self, spec: str, agent: Agent, is_reference: bool, boards: np.ndarray) -> None:
        from training.layer_parity import LayerReader
        from training.litert_agent import LiteRTAgent

        if is_reference:
            self.reference = agent.layer_outputs(boards)
            self.reference_checkpoint = agent.source_checkpoint_sha256
        elif isinstance(agent, LiteRTAgent):
            reader = LayerReader(agent.path)
            try:
                self._found[spec] = (reader.layers, reader.outputs(boards), agent.source_checkpoint_sha256)
            finally:
                reader.close()
            self.models[spec] = agent.path

    def diffs(self, reference: str) -> list[LayerDiff]:
        from training.layer_parity import layer_diffs

        rows = []
        for spec, (layers, outputs, checkpoint) in self._found.items():
            same = None if checkpoint is None or self.reference_checkpoint is None else \
                checkpoint == self.reference_checkpoint
            rows += layer_diffs(spec, reference, same, layers, outputs, self.reference)
        return rows


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


def _pair(a: str, b: str, scores_a: np.ndarray, scores_b: np.ndarray, boards: np.ndarray) -> PairReport:
    diff = np.abs(scores_a - scores_b)
    kl = kl_divergence(scores_a, scores_b, boards)
    same = masked_argmax(scores_a, boards) == masked_argmax(scores_b, boards)
    return PairReport(a, b, float(diff.max()), float(diff.mean()), float(kl.mean()), float(same.mean()))
