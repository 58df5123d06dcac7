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


@functools.cache
def _jitted_apply(model: ModelConfig):
    """One compiled forward pass per model shape, shared by every agent with that shape (no retracing when the
    trainer evaluates fresh parameters)."""
    import jax

    return jax.jit(model.build().apply)


@functools.cache
def _jitted_layers(model: ModelConfig):
    """The same network returning every layer's output (``PolicyGradient(return_layers=True)``)."""
    import jax

    return jax.jit(functools.partial(model.build().apply, return_layers=True))


class BrokenPolicy(PlanestrikeError):
    """A network whose outputs are not probabilities (NaN or infinite)."""


class FlaxAgent(Agent):
    """Plays the app's way: masked argmax over the network's probabilities (deterministic)."""

    kind = "flax"
    deterministic = True

    def __init__(self, model: ModelConfig, params, name: str = "Flax", source_checkpoint_sha256: str | None = None):
        import jax

        self.name = name
        self.model = model
        self.source_checkpoint_sha256 = source_checkpoint_sha256  # None for parameters that come from no file
        self._params = jax.device_put(params)
        self._apply = _jitted_apply(model)

    @classmethod
    def from_checkpoint(cls, path: str | Path, name: str | None = None) -> "FlaxAgent":
        from training.checkpoint import checkpoint_file, load_policy_and_sha256

        model, params, sha256 = load_policy_and_sha256(path)
        return cls(model, params, name or f"Flax ({checkpoint_file(path).name})", source_checkpoint_sha256=sha256)

    def probabilities_batch(self, boards: np.ndarray) -> np.ndarray:
        boards, count = _padded(boards)
        probabilities = np.asarray(self._apply({"params": self._params}, boards))[:count]
        if not np.isfinite(probabilities).all():  # finite weights can still overflow float32 in the network
            raise BrokenPolicy(f"{self.name}: the network returns NaN or infinite scores on some boards (its "
                               "weights overflow float32): use another checkpoint, or retrain")
        return probabilities

    def layer_outputs(self, boards: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's output for ``boards`` (``training.model.layer_names``: each hidden layer after its ReLU,
        the logits, the softmax), float32 ``[N, width]``, through the same padded batches as the probabilities."""
        boards, count = _padded(boards)
        layers = _jitted_layers(self.model)({"params": self._params}, boards)
        return {name: np.asarray(values)[:count] for name, values in layers.items()}


def _padded(boards: np.ndarray) -> tuple[np.ndarray, int]:
    """``boards`` as float32 ``[size, 8, 8]`` zero-padded to a power of two, at least 128, and how many are real.

    So a shrinking batch (games finishing) reuses a handful of compiled shapes, and a single board (the app) goes
    through the same compiled kernel as an exact evaluation (120 games): kernels for other batch sizes may round
    differently and flip a near-tie argmax."""
    boards = np.asarray(boards, dtype=np.float32).reshape(-1, 8, 8)
    count = len(boards)
    size = max(128, 1 << max(count - 1, 0).bit_length())
    padded = np.zeros((size, 8, 8), np.float32)
    padded[:count] = boards
    return padded, count


def _load(argument: str | None, seed: int) -> FlaxAgent:
    if argument is None:
        from assets import BUNDLED_CHECKPOINT

        return FlaxAgent.from_checkpoint(BUNDLED_CHECKPOINT)
    return FlaxAgent.from_checkpoint(argument, name=f"Flax ({argument})")


FLAX_KIND = AgentKind("flax", "flax[:CHECKPOINT]", "a trained Flax policy (default: the bundled checkpoint)", _load)
