"""The policy network's arithmetic for training, rearranged to do half the work of ``model.apply`` + ``jax.grad``.

Two facts about Plane Strike make most of the network's cost avoidable while a batch of games is played and
learned from (the network itself, ``training/model.py``, is unchanged; this is only a faster way to compute the
same numbers):

1. *Incremental first layer* (the trick chess engines call NNUE). A strike changes one cell of the board, so the
   first layer's pre-activation ``board @ W1 + b1`` changes by one row of ``W1`` times the cell's new value. The
   rollout keeps it up to date with a gather and an add instead of a [64 x 128] matrix product per move.
2. *Backward pass from stored activations.* The rollout keeps every layer's activations, so the gradient needs no
   second forward pass, and it runs as large matrix products over many moves of the whole batch at once (the
   learner feeds it blocks of a few moves). The first kernel's gradient comes from the strikes, not the boards.

Together they cut the training arithmetic per move from about 74k to 37k multiply-adds for the reference shape.
A test checks the gradient against ``jax.grad`` of the same loss written plainly with ``model.apply``.

Parameters are the Flax ``PolicyGradient``'s own: ``{"Dense_0": {"kernel", "bias"}, ..., "Dense_k": ...}``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def dense_layers(params: dict) -> list[dict]:
    """The network's Dense layers in order, as Flax names them in ``PolicyGradient``."""
    if len(params) < 2:  # the incremental layer is the first hidden one; the CLI refuses an empty --hidden too
        raise ValueError("the trainer needs at least one hidden layer")
    return [params[f"Dense_{i}"] for i in range(len(params))]


def empty_board_preactivation(layers: list[dict], batch_size: int) -> jax.Array:
    """First-layer pre-activation of an empty board (all zeros): the bias alone. [B, H1]"""
    return jnp.broadcast_to(layers[0]["bias"], (batch_size, layers[0]["bias"].shape[0]))


def strike(layers: list[dict], preactivation: jax.Array, cells: jax.Array, values: jax.Array) -> jax.Array:
    """The first-layer pre-activation after cell ``cells[b]`` of each board went from 0 to ``values[b]`` (0 for
    a board that did not change)."""
    return preactivation + values[:, None] * layers[0]["kernel"][cells]


def head(layers: list[dict], preactivation: jax.Array) -> tuple[list[jax.Array], jax.Array]:
    """From the first-layer pre-activation to the logits: the hidden activations (after relu, one per hidden
    layer) and the logits. ``[..., H]`` in, any leading shape."""
    hidden = [jax.nn.relu(preactivation)]
    for layer in layers[1:-1]:
        hidden.append(jax.nn.relu(hidden[-1] @ layer["kernel"] + layer["bias"]))
    return hidden, hidden[-1] @ layers[-1]["kernel"] + layers[-1]["bias"]


def backward(layers: list[dict], hidden: list[jax.Array], logit_grads: jax.Array) -> tuple[list[dict], jax.Array]:
    """Backpropagate ``logit_grads`` [N, 64] through every layer above the first, over N stored moves at once.

    Returns the gradients of those layers (``[{"kernel", "bias"}]`` for layers 1..k) and the gradient of the
    first layer's pre-activation, [N, H1] (its bias gradient is that summed; for its kernel gradient see
    ``first_kernel_gradient``)."""
    grads, upstream = [], logit_grads
    for layer, below in zip(reversed(layers[1:]), reversed(hidden)):
        grads.append({"kernel": _kernel_gradient(below, upstream), "bias": upstream.sum(axis=0)})
        upstream = (upstream @ layer["kernel"].T) * (below > 0)  # through the layer, then the relu below it
    return grads[::-1], upstream


def _kernel_gradient(below: jax.Array, upstream: jax.Array) -> jax.Array:
    """``below.T @ upstream`` over N stored moves ([N, H] and [N, W]: a [H, W] result).

    XLA:CPU's (Eigen's) product spreads such a product (a small result, a long contraction) over both threads only
    when the result is wider than tall. So the second kernel's [128 x 64] gradient is computed as its [64 x 128]
    transpose and transposed back: that product about 30% faster, a whole update about 5% (measured here). The
    barrier keeps XLA from folding the two transposes back into the slower form. It changes the rounding only."""
    if below.shape[1] > upstream.shape[1]:
        return jax.lax.optimization_barrier(upstream.T @ below).T
    return below.T @ upstream


def first_kernel_gradient(kernel: jax.Array, cells: jax.Array, values: jax.Array, later_sums: jax.Array) -> jax.Array:
    """The first kernel's gradient, ``sum over moves t of board_t^T @ g_t`` (g: the first layer's pre-activation
    gradient), written in terms of the strikes instead of the boards.

    A cell struck at move s with value v sits on every board after s, so it collects ``v * sum over t > s of g_t``:
    ``cells`` [N] and ``values`` [N] are N strikes, ``later_sums`` [N, H1] those sums. One scatter-add of N rows
    instead of a [64 x N] @ [N x H1] product over the boards (the product was a quarter of the backward pass's
    multiply-adds)."""
    return jnp.zeros_like(kernel).at[cells].add(values[:, None] * later_sums)


def assemble(layers: list[dict], first_kernel: jax.Array, first_bias: jax.Array, upper: list[dict]) -> dict:
    """Gradients in the parameters' own structure."""
    grads = [{"kernel": first_kernel, "bias": first_bias}, *upper]
    assert len(grads) == len(layers)
    return {f"Dense_{i}": g for i, g in enumerate(grads)}
