"""The trained policy as an engine agent: spec ``flax[:CHECKPOINT]`` (bare ``flax`` = the bundled checkpoint).

This module is imported by ``engine.specs`` through the ``planestrike.agents`` entry point whenever agent kinds
are listed, so it must stay light: JAX and Flax are imported only when an agent is actually loaded.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.agents import Agent
from engine.errors import PlanestrikeError
from engine.specs import AgentKind

if TYPE_CHECKING:
    from training.model import ModelConfig


@functools.lru_cache(maxsize=None)
def _jitted_apply(model: ModelConfig):
    """One compiled forward pass per model shape, shared by every agent with that shape (no retracing when the
    trainer evaluates fresh parameters)."""
    import jax

    return jax.jit(model.build().apply)


class BrokenPolicy(PlanestrikeError):
    """A network whose outputs are not probabilities (NaN or infinite)."""


class FlaxAgent(Agent):
    """Plays the app's way: masked argmax over the network's probabilities (deterministic)."""

    kind = "flax"
    deterministic = True

    def __init__(self, model: ModelConfig, params, name: str = "Flax"):
        import jax

        self.name = name
        self.model = model
        self._params = jax.device_put(params)
        self._apply = _jitted_apply(model)

    @classmethod
    def from_checkpoint(cls, path: str | Path, name: str | None = None) -> "FlaxAgent":
        from training.checkpoint import checkpoint_file, load_policy

        model, params = load_policy(path)
        return cls(model, params, name or f"Flax ({checkpoint_file(path).name})")

    def probabilities_batch(self, boards: np.ndarray) -> np.ndarray:
        boards = np.asarray(boards, dtype=np.float32).reshape(-1, 8, 8)
        count = len(boards)
        # Pad to a power of two, at least 128, so a shrinking batch (games finishing) reuses a handful of compiled
        # shapes, and so a single board (the app) goes through the same compiled kernel as an exact evaluation
        # (120 games): kernels for other batch sizes may round differently and flip a near-tie argmax.
        size = max(128, 1 << max(count - 1, 0).bit_length())
        padded = np.zeros((size, 8, 8), np.float32)
        padded[:count] = boards
        probabilities = np.asarray(self._apply({"params": self._params}, padded))[:count]
        if not np.isfinite(probabilities).all():  # finite weights can still overflow float32 in the network
            raise BrokenPolicy(f"{self.name}: the network returns NaN or infinite scores on some boards (its "
                               "weights overflow float32): use another checkpoint, or retrain")
        return probabilities


def _load(argument: str | None, seed: int) -> FlaxAgent:
    if argument is None:
        from assets import BUNDLED_CHECKPOINT

        return FlaxAgent.from_checkpoint(BUNDLED_CHECKPOINT)
    return FlaxAgent.from_checkpoint(argument, name=f"Flax ({argument})")


FLAX_KIND = AgentKind("flax", "flax[:CHECKPOINT]", "a trained Flax policy (default: the bundled checkpoint)", _load)
