"""The learning rule as pure JAX: play a batch of games, turn them into a REINFORCE gradient, take an Adam step.

``make_train_chunk(config)`` returns one jitted function that runs *n* updates back to back (n is a traced
argument, so every chunk size reuses the same compiled code). The Python loop in ``training/loop.py`` calls it
repeatedly and does progress, evaluation and checkpoints in between, brax style.

Each update draws its randomness from ``fold_in(rng_key, update_index)``: the parameters after update k do not
depend on how the run was cut into chunks or resumed, which makes a resumed run bit-identical to an
uninterrupted one on the same machine.

One update:
1. *Rollout*: ``batch_size`` games in lockstep (``env.step`` vmapped) inside a ``while_loop`` that stops when every
   game is finished. Actions are sampled from the softmax over untried cells by inverse CDF with one uniform
   number per game and move (measured faster than ``jax.random.categorical``). Only actions and hits are stored.
2. *Returns*: reward per hit / miss, discounted reward-to-go, normalised over the batch's valid moves.
3. *Gradient*: a second ``while_loop`` replays the games move by move, recomputing the forward pass for that
   move's boards and accumulating the gradient of ``-A * log pi(a) - entropy_weight * H - tried_mass_weight * log M``
   (M: the mass the raw, unmasked softmax puts on untried cells). Recomputing is cheaper than storing activations
   at these batch sizes, and the loop only runs as long as the batch's longest game. With a tried-mass weight, the
   ``-log M`` term is also applied to ``batch_size`` positions of random-play games (``tried_mass_gradient``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from engine.rules import CELL_COUNT, HIT, MISS, PLACEMENT_COUNT, UNTRIED
from training import env
from training.config import TrainConfig
from training.model import init_params

# Logit given to tried cells: finite (so 0 * log p stays 0 and gradients stay finite), and low enough that
# exp() underflows to exactly 0 probability.
_MASKED_LOGIT = -1e9
# fold_in data that derives the tried-mass term's random-play boards from an update's key (the rollout splits it).
_RANDOM_BOARDS_STREAM = 1


class TrainState(NamedTuple):
    params: dict
    opt_state: optax.OptState
    step: jax.Array  # int32: updates done so far
    rng_key: jax.Array  # uint32 [2]: the run's base key; update k uses fold_in(rng_key, k)


class Trajectories(NamedTuple):
    placements: jax.Array  # int32 [B]
    actions: jax.Array  # int32 [64, B]: move t of game b (meaningless after the game ended)
    hits: jax.Array  # bool [64, B]
    lengths: jax.Array  # int32 [B]: strikes each game took


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    return optax.adam(config.learning_rate)


def init_train_state(config: TrainConfig) -> TrainState:
    """The state before the first update: fresh params from the seed, a zero optimiser state."""
    return _init_train_state(config.replace(games=None, minutes=None))


@functools.partial(jax.jit, static_argnums=0)  # one compiled call instead of dozens of eager ops
def _init_train_state(config: TrainConfig) -> TrainState:
    init_key, rng_key = jax.random.split(jax.random.PRNGKey(config.seed))
    params = init_params(config.model, init_key)
    return TrainState(params, make_optimizer(config).init(params), jnp.zeros((), jnp.int32), rng_key)


def masked_logits(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """Logits with illegal cells pushed to zero probability. A row with no legal cell (a finished game) keeps all
    cells, so its softmax stays finite; those rows are ignored by every caller."""
    legal = legal | ~legal.any(axis=-1, keepdims=True)
    return jnp.where(legal, logits, _MASKED_LOGIT)


def untried_log_mass(raw_logits: jax.Array, masked: jax.Array) -> jax.Array:
    """log of the probability the raw 64-way softmax puts on untried cells (<= 0), per row.

    Only the masked softmax is sampled and reinforced, so without this term the logits of tried cells get no
    gradient and drift: the model's raw output (what the .tflite returns) ends up putting most of its mass on
    cells already struck. Maximising this log-mass keeps the raw output meaningful on its own."""
    return jax.nn.logsumexp(masked, axis=-1) - jax.nn.logsumexp(raw_logits, axis=-1)


def sample_actions(logits: jax.Array, uniforms: jax.Array) -> jax.Array:
    """Inverse-CDF sampling, one uniform in (0, 1] per row. Zero-probability cells are never chosen: the first
    index whose cumulative probability reaches the threshold always carries probability mass."""
    probs = jax.nn.softmax(logits, axis=-1)
    cdf = jnp.cumsum(probs, axis=-1)
    threshold = uniforms[:, None] * cdf[:, -1:]
    return jnp.minimum(jnp.sum(cdf < threshold, axis=-1), CELL_COUNT - 1).astype(jnp.int32)


def _policy_logits(apply, params, states: env.State) -> jax.Array:
    boards = states.board.reshape(-1, 8, 8)
    return masked_logits(apply({"params": params}, boards, return_logits=True), states.legal_action_mask)


def rollout(apply, params, key: jax.Array, batch_size: int) -> Trajectories:
    """Play ``batch_size`` games to the end with the current policy."""
    placement_key, move_key = jax.random.split(key)
    placements = jax.random.randint(placement_key, (batch_size,), 0, PLACEMENT_COUNT)
    states = jax.vmap(env.reset_to)(placements)
    actions = jnp.zeros((CELL_COUNT, batch_size), jnp.int32)
    hits = jnp.zeros((CELL_COUNT, batch_size), bool)

    def unfinished(carry):
        _, states, _, _ = carry
        return ~states.finished.all()

    def move(carry):
        t, states, actions, hits = carry
        uniforms = 1.0 - jax.random.uniform(jax.random.fold_in(move_key, t), (batch_size,))
        action = sample_actions(_policy_logits(apply, params, states), uniforms)
        states, hit = jax.vmap(env.step)(states, action)
        return t + 1, states, actions.at[t].set(action), hits.at[t].set(hit)

    _, states, actions, hits = jax.lax.while_loop(unfinished, move, (jnp.int32(0), states, actions, hits))
    return Trajectories(placements, actions, hits, states.strikes)


def advantages(config: TrainConfig, trajectories: Trajectories) -> tuple[jax.Array, jax.Array]:
    """Normalised discounted reward-to-go for every move, and the mask of moves that were played. [64, B] each."""
    moves = jnp.arange(CELL_COUNT)[:, None]
    valid = moves < trajectories.lengths[None, :]
    rewards = jnp.where(trajectories.hits, config.hit_reward, config.miss_reward) * valid

    def discount(future, reward):
        ret = reward + config.gamma * future
        return ret, ret

    _, returns = jax.lax.scan(discount, jnp.zeros(rewards.shape[1]), rewards, reverse=True)
    count = valid.sum()
    mean = jnp.sum(returns * valid) / count
    std = jnp.sqrt(jnp.sum(((returns - mean) * valid) ** 2) / count)
    return jnp.where(valid, (returns - mean) / (std + 1e-8), 0.0), valid


def policy_gradient(apply, config: TrainConfig, params, trajectories: Trajectories):
    """Gradient of the REINFORCE loss (plus entropy bonus) averaged over the batch's valid moves."""
    advantage, valid = advantages(config, trajectories)
    weight = 1.0 / valid.sum()

    def move_loss(params, states: env.State, action, advantage, valid):
        raw_logits = apply({"params": params}, states.board.reshape(-1, 8, 8), return_logits=True)
        logits = masked_logits(raw_logits, states.legal_action_mask)
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        chosen = jnp.take_along_axis(log_probs, action[:, None], axis=-1)[:, 0]
        entropy = -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)
        objective = advantage * chosen + config.entropy * entropy
        if config.tried_mass_weight:  # a Python branch: weight 0 compiles exactly the plain REINFORCE loss
            objective = objective + config.tried_mass_weight * untried_log_mass(raw_logits, logits)
        return -weight * jnp.sum(valid * objective)

    move_grad = jax.grad(move_loss)
    states = jax.vmap(env.reset_to)(trajectories.placements)
    longest = trajectories.lengths.max()

    def more(carry):
        return carry[0] < longest

    def replay(carry):
        t, states, grads = carry
        action = trajectories.actions[t]
        g = move_grad(params, states, action, advantage[t], valid[t])
        states, _ = jax.vmap(env.step)(states, action)
        return t + 1, states, jax.tree_util.tree_map(jnp.add, grads, g)

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    _, _, grads = jax.lax.while_loop(more, replay, (jnp.int32(0), states, zeros))
    return grads


def random_play_boards(key: jax.Array, count: int) -> tuple[jax.Array, jax.Array]:
    """``count`` positions of games played by striking uniformly random untried cells, each cut before a uniformly
    random move: the cluttered boards a strong policy never reaches itself. float32 boards [count, 8, 8] and the
    untried cells, bool [count, 64]; every board has an untried plane cell left."""
    placement_key, order_key, cut_key = jax.random.split(key, 3)
    planes = env.PLACEMENT_MASKS[jax.random.randint(placement_key, (count,), 0, PLACEMENT_COUNT)]
    # Rank of each cell in a random strike order, and the strike that hits the plane's last cell and ends the game.
    rank = jnp.argsort(jnp.argsort(jax.random.uniform(order_key, (count, CELL_COUNT)), axis=-1), axis=-1)
    last = jnp.max(jnp.where(planes, rank, 0), axis=-1)
    done = jnp.floor(jax.random.uniform(cut_key, (count,)) * (last + 1)).astype(jnp.int32)  # strikes made: 0..last
    tried = rank < done[:, None]
    boards = jnp.where(tried, jnp.where(planes, HIT, MISS), UNTRIED).astype(jnp.float32)
    return boards.reshape(count, 8, 8), ~tried


def tried_mass_gradient(apply, config: TrainConfig, params, key: jax.Array):
    """Gradient of ``-tried_mass_weight * mean log M`` over ``batch_size`` random-play positions (M: the raw
    softmax's mass on untried cells). The term in ``policy_gradient`` only sees the policy's own games, which end
    after a dozen strikes; without these boards the raw output of crowded positions stays mostly on tried cells."""
    boards, untried = random_play_boards(key, config.batch_size)

    def loss(params):
        raw_logits = apply({"params": params}, boards, return_logits=True)
        return -config.tried_mass_weight * untried_log_mass(raw_logits, masked_logits(raw_logits, untried)).mean()

    return jax.grad(loss)(params)


class ChunkMetrics(NamedTuple):
    mean_lengths: jax.Array  # float32 [max_updates]: mean game length of each update in the chunk (first n valid)


def make_train_chunk(config: TrainConfig, max_updates: int):
    """A jitted ``(state, n) -> (state, ChunkMetrics)`` running ``n <= max_updates`` updates."""
    apply = config.model.build().apply
    optimizer = make_optimizer(config)

    def update(state: TrainState) -> tuple[TrainState, jax.Array]:
        key = jax.random.fold_in(state.rng_key, state.step)
        trajectories = rollout(apply, state.params, key, config.batch_size)
        grads = policy_gradient(apply, config, state.params, trajectories)
        if config.tried_mass_weight:  # weight 0 leaves the random streams and the update of plain REINFORCE intact
            extra = tried_mass_gradient(apply, config, state.params, jax.random.fold_in(key, _RANDOM_BOARDS_STREAM))
            grads = jax.tree_util.tree_map(jnp.add, grads, extra)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        mean_length = trajectories.lengths.mean(dtype=jnp.float32)
        return TrainState(params, opt_state, state.step + 1, state.rng_key), mean_length

    def chunk(state: TrainState, n: jax.Array) -> tuple[TrainState, ChunkMetrics]:
        def body(i, carry):
            state, lengths = carry
            state, mean_length = update(state)
            return state, lengths.at[i].set(mean_length)

        lengths = jnp.full((max_updates,), jnp.nan, jnp.float32)
        state, lengths = jax.lax.fori_loop(0, jnp.minimum(n, max_updates), body, (state, lengths))
        return state, ChunkMetrics(lengths)

    return jax.jit(chunk)
