"""Plane Strike as pure JAX functions, for training on thousands of games at once.

The state is an immutable pytree and ``reset`` / ``step`` are pure, so they jit and ``jax.vmap`` over a batch of
games (pgx style). Placements come from the engine's 120-placement table and the rules are the engine's: this
module only re-expresses ``engine.game.Game`` with arrays, and a test plays both side by side move for move.

Nothing here knows about networks or learning; the learner (``training/learner.py``) drives it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from engine.rules import CELL_COUNT, HIT, MISS, PLACEMENT_COUNT, PLACEMENTS, PLANE_SIZE, UNTRIED

# The engine's table as a device constant: bool [120, 64], True where each placement's plane is.
PLACEMENT_MASKS = jnp.asarray(PLACEMENTS.masks)


@struct.dataclass
class State:
    """One game: the hidden plane and what the striking player has seen so far."""

    placement: jax.Array  # int32: index into the engine's placement table
    board: jax.Array  # float32 [64]: 0 untried, 1 hit, -1 miss (the observation, flattened)
    hits: jax.Array  # int32: plane cells hit so far
    strikes: jax.Array  # int32: cells struck so far (the game's length once finished)

    @property
    def finished(self) -> jax.Array:
        return self.hits == PLANE_SIZE

    @property
    def legal_action_mask(self) -> jax.Array:
        """bool [..., 64]: the untried cells, the only legal strikes (none once the game is finished). Works on a
        batch of states too."""
        return (self.board == UNTRIED) & ~self.finished[..., None]

    def observation(self) -> jax.Array:
        """The board as the network sees it: float32 [8, 8]."""
        return self.board.reshape(8, 8)


def reset_to(placement: jax.Array) -> State:
    """A fresh game hiding the plane of ``placement`` (an index 0..119)."""
    return State(
        placement=jnp.asarray(placement, jnp.int32),
        board=jnp.full((CELL_COUNT,), UNTRIED, jnp.float32),
        hits=jnp.zeros((), jnp.int32),
        strikes=jnp.zeros((), jnp.int32),
    )


def reset(key: jax.Array) -> State:
    """A fresh game with a placement drawn uniformly over the 120, as the official app draws them."""
    return reset_to(jax.random.randint(key, (), 0, PLACEMENT_COUNT))


def step(state: State, action: jax.Array) -> tuple[State, jax.Array]:
    """Strike cell ``action``; return the new state and whether it hit.

    Pure-function semantics for batched play: striking a tried cell, or any cell once the game is finished,
    leaves the state unchanged and is not a hit (callers choose from ``legal_action_mask``; the engine's ``Game``
    raises instead, which a jitted function cannot).
    """
    legal = state.legal_action_mask[action]
    cell = state.board[action]
    hit = legal & PLACEMENT_MASKS[state.placement, action]
    # One element written in place (an illegal strike writes the cell's own value back): under vmap in the
    # trainer's loop, a scatter of one value per game costs about a tenth of a select over every cell.
    board = state.board.at[action].set(jnp.where(legal, jnp.where(hit, HIT, MISS), cell).astype(jnp.float32))
    new_state = state.replace(
        board=board,
        hits=state.hits + hit.astype(jnp.int32),
        strikes=state.strikes + legal.astype(jnp.int32),
    )
    return new_state, hit
