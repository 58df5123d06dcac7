"""The policy network: the reference architecture of the Plane Strike example, with configurable hidden sizes.

I/O contract, for every configuration (the Android app and the converted .tflite rely on it):
input ``[B, 8, 8]`` float32 boards (0 untried, 1 hit, -1 miss), output ``[B, 64]`` probabilities (softmax).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from engine.rules import BOARD_SIZE, CELL_COUNT
from training.config import ModelConfig  # noqa: F401  (re-exported: the shape lives with the run's config)


class PolicyGradient(nn.Module):
    hidden: Sequence[int] = (128, 64)

    @nn.compact
    def __call__(self, boards: jax.Array, return_logits: bool = False, return_layers: bool = False):
        """Probabilities ``[B, 64]``; or the logits; or, with ``return_layers``, every layer's output by name
        (``LAYER_NAMES``), computed by this same code: what per-layer parity compares a converted model with."""
        x = jnp.reshape(boards, (boards.shape[0], CELL_COUNT))
        layers = {}
        for index, width in enumerate(self.hidden):
            x = nn.relu(nn.Dense(width)(x))
            layers[f"dense_{index}"] = x  # after its ReLU, as TFLite fuses it into FULLY_CONNECTED
        logits = nn.Dense(CELL_COUNT)(x)
        if return_layers:
            return {**layers, "logits": logits, "softmax": nn.softmax(logits)}
        return logits if return_logits else nn.softmax(logits)


def layer_names(hidden: Sequence[int]) -> tuple[str, ...]:
    """The names ``return_layers`` gives, in the order the network computes them."""
    return (*(f"dense_{index}" for index in range(len(hidden))), "logits", "softmax")


def init_params(config: ModelConfig, key: jax.Array) -> dict:
    """Fresh parameters for ``config`` from ``key``."""
    return config.build().init(key, jnp.zeros((1, BOARD_SIZE, BOARD_SIZE), jnp.float32))["params"]


def count_parameters(params) -> int:
    return sum(x.size for x in jax.tree_util.tree_leaves(params))
