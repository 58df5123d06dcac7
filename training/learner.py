"""The learning rule as pure JAX: play a batch of games, turn them into a REINFORCE gradient, take an Adam step.

``make_train_chunk(config)`` returns one compiled function that runs *n* updates back to back (n is a traced
argument, so every chunk size reuses the same compiled code). The Python loop in ``training/loop.py`` calls it
repeatedly and does progress, evaluation and checkpoints in between, brax style.

Each update draws its randomness from ``fold_in(rng_key, update_index)``: the parameters after update k do not
depend on how the run was cut into chunks or resumed, which makes a resumed run bit-identical to an
uninterrupted one on the same machine.

One update:
1. *Rollout*: ``batch_size`` games in lockstep (``env.step`` vmapped) inside a ``while_loop`` that stops when every
   game is finished. Actions are sampled from the softmax over untried cells by inverse CDF with one uniform
   number per game and move, all drawn up front (measured faster than ``jax.random.categorical``). The network's
   first layer is updated incrementally, one struck cell at a time, and every layer's activations are kept
   (``training/incremental_mlp.py``).
2. *Returns*: reward per hit / miss, discounted reward-to-go, normalised over the batch's valid moves.
3. *Gradient* of ``-A * log pi(a) - entropy_weight * H - tried_mass_weight * log M`` (M: the mass the raw, unmasked
   softmax puts on untried cells), averaged over the valid moves: written out with respect to the logits (reusing
   the sampler's normaliser), then backpropagated from the stored activations in blocks of moves, up to the
   batch's longest game, last block first. With a
   tried-mass weight, the ``-log M`` term is also applied to ``batch_size`` positions of random-play games
   (``tried_mass_gradient``, plain ``jax.grad``: one batch of boards, not a whole rollout).
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from engine.rules import CELL_COUNT, HIT, MISS, PLACEMENT_COUNT, UNTRIED
from training import env, incremental_mlp
from training.config import TrainConfig
from training.model import init_params

# Logit given to tried cells: finite (so 0 * log p stays 0 and gradients stay finite), and low enough that
# exp() underflows to exactly 0 probability.
_MASKED_LOGIT = -1e9
# Moves per block of the backward pass (divides 64). Measured against 8 with the kernel gradients as they are now:
# 4% faster per update with fresh games, 17% with trained ones (the backward stops nearer the longest game).
BACKWARD_MOVES = 4
# later = _LATER_IN_BLOCK @ per-move rows: row t sums the block's moves after t.
_LATER_IN_BLOCK = jnp.triu(jnp.ones((BACKWARD_MOVES, BACKWARD_MOVES), jnp.float32), k=1)
# cdf = weights @ _CUMULATIVE: column j sums cells 0..j.
_CUMULATIVE = jnp.triu(jnp.ones((CELL_COUNT, CELL_COUNT), jnp.float32))
# fold_in data that derives the tried-mass term's random-play boards from an update's key (the rollout splits it).
_RANDOM_BOARDS_STREAM = 1
# fold_in data for the exploring games' choice and move of deviation (``--explore``).
_EXPLORE_STREAM = 2
# An exploring game deviates at a uniformly random move among the first EXPLORE_MOVES: optimal games last 8-17
# strikes, and the decisions a trained policy gets wrong come after 3-6 of them (docs/training.md).
EXPLORE_MOVES = 12
DEVIATION_CHANCE = 0.25
# deviates_at of a game that does not explore: before the first move, so every move is trained.
_NO_DEVIATION = -1


class TrainState(NamedTuple):
    params: dict
    opt_state: optax.OptState
    step: jax.Array  # int32: updates done so far
    rng_key: jax.Array  # uint32 [2]: the run's base key; update k uses fold_in(rng_key, k)


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


def sample_actions(logits: jax.Array, uniforms: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Inverse-CDF sampling, one uniform in (0, 1] per row. Zero-probability cells are never chosen: the first
    index whose cumulative weight reaches the threshold always carries weight. The softmax is left unnormalised
    (the threshold scales with the total instead): this runs at every move of every game.

    Returns the actions (int32 [B]) and each row's log normaliser, ``logsumexp(logits)`` ([B]), which comes free
    with the total and spares the backward pass two reductions per move."""
    peak = logits.max(axis=-1)
    weights = jnp.exp(logits - peak[:, None])
    cdf = weights @ _CUMULATIVE  # jnp.cumsum here is a sliding-window sum on XLA:CPU, ~20x slower than this product
    threshold = uniforms[:, None] * cdf[:, -1:]
    actions = jnp.minimum(jnp.sum(cdf < threshold, axis=-1), CELL_COUNT - 1).astype(jnp.int32)
    return actions, peak + jnp.log(cdf[:, -1])


class Trajectories(NamedTuple):
    actions: jax.Array  # int32 [64, B]: move t of game b (meaningless after the game ended)
    hits: jax.Array  # bool [64, B]
    lengths: jax.Array  # int32 [B]: strikes each game took
    final_boards: jax.Array  # float32 [B, 64]: every game's board at its end
    hidden: list[jax.Array]  # float32 [64, B, H] per hidden layer: the activations (after relu) at each move
    logits: jax.Array  # float32 [64, B, 64]: the raw (unmasked) logits at each move
    log_normalisers: jax.Array  # float32 [64, B]: logsumexp of each move's logits over its legal cells
    # int32 [B]: the move at which an exploring game struck a cell other than the policy's first choice
    # (``_NO_DEVIATION`` for the others); that move and the ones before it are not trained on.
    deviates_at: jax.Array

    def move_buffers(self) -> "MoveBuffers":
        """The per-move arrays, for the next rollout to write into."""
        return MoveBuffers(self.actions, self.hits, self.hidden, self.logits, self.log_normalisers)


class MoveBuffers(NamedTuple):
    """Where a rollout writes what it keeps of each move: ``Trajectories``' per-move fields. A chunk of updates
    hands the same buffers from one rollout to the next instead of zeroing 30 MB per update. Rows past a game's
    end keep whatever an earlier rollout left there: every reader masks them out (by multiplying with zero, so
    they must only ever hold finite numbers, which activations and logits are)."""

    actions: jax.Array
    hits: jax.Array
    hidden: list[jax.Array]
    logits: jax.Array
    log_normalisers: jax.Array


def empty_move_buffers(params, batch_size: int) -> MoveBuffers:
    widths = [layer["kernel"].shape[1] for layer in incremental_mlp.dense_layers(params)]

    def buffer(*shape, dtype=jnp.float32):
        return jnp.zeros((CELL_COUNT, batch_size, *shape), dtype)

    return MoveBuffers(buffer(dtype=jnp.int32), buffer(dtype=bool), [buffer(w) for w in widths[:-1]],
                       buffer(widths[-1]), buffer())


def exploring_deviations(key: jax.Array, batch_size: int, explore: float) -> jax.Array:
    """bool [EXPLORE_MOVES, B]: the moves at which each game deviates from the policy. ``explore`` of the games
    explore, and each of their first ``EXPLORE_MOVES`` moves deviates with probability ``DEVIATION_CHANCE``."""
    chosen_key, move_key = jax.random.split(key)
    exploring = jax.random.uniform(chosen_key, (batch_size,)) < explore
    return exploring[None, :] & (jax.random.uniform(move_key, (EXPLORE_MOVES, batch_size)) < DEVIATION_CHANCE)


def rollout(params, key: jax.Array, batch_size: int, buffers: MoveBuffers | None = None,
            deviations: jax.Array | None = None) -> Trajectories:
    """Play ``batch_size`` games to the end with the current policy, keeping what the gradient needs (in
    ``buffers`` when given: see ``MoveBuffers``).

    ``deviates_at`` (exploring starts, ``--explore``): at that move a game strikes a cell sampled from the policy
    with its most likely cell taken out (when another is legal), so that the positions just off the policy's own
    path, which it otherwise almost never reaches, are played from and learned. ``policy_gradient`` then trains
    only on that game's later moves: they are on-policy from the position the deviation made."""
    layers = incremental_mlp.dense_layers(params)
    placement_key, move_key = jax.random.split(key)
    placements = jax.random.randint(placement_key, (batch_size,), 0, PLACEMENT_COUNT)
    if buffers is None:
        buffers = empty_move_buffers(params, batch_size)
    first_layer = incremental_mlp.empty_board_preactivation(layers, batch_size)
    # Drawn for the whole rollout at once: on CPU, threefry is a rolled loop that costs as much for 512 numbers
    # as for 32,768, so one draw per move spent about a tenth of the update on random bits.
    all_uniforms = 1.0 - jax.random.uniform(move_key, (CELL_COUNT, batch_size))
    explores = deviations is not None  # a Python branch: without it the rollout compiles exactly as before
    if explores:  # the last deviating move of each game
        moves = jnp.arange(EXPLORE_MOVES)[:, None]
        deviates_at = jnp.max(jnp.where(deviations, moves, _NO_DEVIATION), axis=0).astype(jnp.int32)
        deviations = jnp.concatenate([deviations, jnp.zeros((CELL_COUNT - EXPLORE_MOVES, batch_size), bool)])
    else:
        deviates_at = jnp.full((batch_size,), _NO_DEVIATION, jnp.int32)
    carry = (jnp.int32(0), jax.vmap(env.reset_to)(placements), first_layer, buffers)

    def unfinished(carry):
        # A legal game ends within 64 strikes. The bound matters only if the policy broke (NaN scores make the
        # sampler repeat a tried cell, and the game would never end): the chunk then stops on non-finite params.
        return (carry[0] < CELL_COUNT) & ~carry[1].finished.all()

    def move(carry):
        t, states, preactivation, kept = carry
        hidden, logits = incremental_mlp.head(layers, preactivation)
        # Not masked_logits: a finished game, with no legal cell, samples from all-equal logits, and its strike
        # changes nothing. One reduction less per move.
        legal = states.legal_action_mask
        if explores:  # the deviating games drop their top cell, if another one is legal
            top = jnp.argmax(jnp.where(legal, logits, _MASKED_LOGIT), axis=-1)
            deviate = deviations[t] & (legal.sum(axis=-1) > 1)
            legal = legal & ~(deviate[:, None] & (jnp.arange(CELL_COUNT) == top[:, None]))
        action, log_normaliser = sample_actions(jnp.where(legal, logits, _MASKED_LOGIT), all_uniforms[t])
        new_states, hit = jax.vmap(env.step)(states, action)
        # The struck cell's new value: 0 when nothing changed (a finished game), else the hit or miss mark.
        change = (new_states.strikes - states.strikes) * jnp.where(hit, HIT, MISS).astype(jnp.float32)
        kept = jax.tree_util.tree_map(lambda buffer, row: jax.lax.dynamic_update_index_in_dim(buffer, row, t, 0),
                                      kept, MoveBuffers(action, hit, hidden, logits, log_normaliser))
        return t + 1, new_states, incremental_mlp.strike(layers, preactivation, action, change), kept

    _, states, _, kept = jax.lax.while_loop(unfinished, move, carry)
    return Trajectories(kept.actions, kept.hits, states.strikes, states.board, kept.hidden, kept.logits,
                        kept.log_normalisers, deviates_at)


def advantages(config: TrainConfig, trajectories: Trajectories) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Normalised discounted reward-to-go for every trained move, the mask of moves that were played and the mask
    of those trained on (all of them, less an exploring game's moves up to its deviation). [64, B] each."""
    moves = jnp.arange(CELL_COUNT)[:, None]
    valid = moves < trajectories.lengths[None, :]
    trained = valid & (moves > trajectories.deviates_at[None, :])
    rewards = jnp.where(trajectories.hits, config.hit_reward, config.miss_reward) * valid

    def discount(future, reward):
        ret = reward + config.gamma * future
        return ret, ret

    _, returns = jax.lax.scan(discount, jnp.zeros(rewards.shape[1]), rewards, reverse=True)
    count = trained.sum()
    mean = jnp.sum(returns * trained) / count
    std = jnp.sqrt(jnp.sum(((returns - mean) * trained) ** 2) / count)
    return jnp.where(trained, (returns - mean) / (std + 1e-8), 0.0), valid, trained


def strike_moves(trajectories: Trajectories, valid: jax.Array) -> jax.Array:
    """int32 [B, 64]: the move at which each cell was struck, 64 if it never was."""
    games = jnp.arange(valid.shape[1])[None, :]
    moves = jnp.where(valid, jnp.arange(CELL_COUNT)[:, None], CELL_COUNT)
    return jnp.full((valid.shape[1], CELL_COUNT), CELL_COUNT, jnp.int32).at[games, trajectories.actions].min(moves)


def move_objective(config: TrainConfig, raw_logits, legal, action, advantage):
    """What one move contributes to the objective (maximised): ``A * log pi(a)`` plus the entropy bonus, plus the
    tried-mass term when its weight is set. Works on any leading shape. The trainer uses its closed-form gradient
    (``move_objective_gradient``); this plain form is the definition, which a test differentiates to check it."""
    logits = masked_logits(raw_logits, legal)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    chosen = jnp.take_along_axis(log_probs, action[..., None], axis=-1)[..., 0]
    entropy = -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)
    objective = advantage * chosen + config.entropy * entropy
    if config.tried_mass_weight:  # a Python branch: weight 0 compiles exactly the plain REINFORCE loss
        objective = objective + config.tried_mass_weight * untried_log_mass(raw_logits, logits)
    return objective


def move_objective_gradient(config: TrainConfig, raw_logits, legal, action, advantage, log_normaliser):
    """The gradient of ``move_objective`` with respect to the raw logits, written out (one fused pass instead of
    autodiff's several over the [64, B, 64] logits): with p the masked softmax, log-probabilities l, entropy H and
    q the raw softmax, ``A (onehot(a) - p) - entropy * p (l + H) + tried_mass_weight * (p - q)``.

    ``log_normaliser``: the rows' logsumexp over legal cells, as the rollout's sampler computed it (every row must
    have a legal cell). log p is capped at 0, so a row whose stored normaliser belongs to other legal cells (a move
    after its game ended, which the caller weights by 0) stays finite."""
    logits = jnp.where(legal, raw_logits, _MASKED_LOGIT)
    log_probs = jnp.minimum(logits - log_normaliser[..., None], 0.0)
    probs = jnp.exp(log_probs)
    entropy = -jnp.sum(probs * log_probs, axis=-1, keepdims=True)
    chosen = action[..., None] == jnp.arange(CELL_COUNT)
    gradient = advantage[..., None] * (chosen - probs) - config.entropy * probs * (log_probs + entropy)
    if config.tried_mass_weight:
        gradient = gradient + config.tried_mass_weight * (probs - jax.nn.softmax(raw_logits, axis=-1))
    return gradient


def policy_gradient(config: TrainConfig, params, trajectories: Trajectories):
    """Gradient of the REINFORCE loss (plus entropy bonus) averaged over the batch's valid moves, backpropagated
    from the activations the rollout stored (``training/incremental_mlp.py``).

    It runs over blocks of ``BACKWARD_MOVES`` moves, up to the batch's longest game only (a trained policy's games
    end after a dozen strikes, and a block's activations stay in the CPU cache), from the last block to the first:
    the first kernel's gradient needs, for each strike, the sum of the pre-activation gradients of all later
    moves, which is carried from block to block."""
    layers = incremental_mlp.dense_layers(params)
    advantage, valid, trained = advantages(config, trajectories)
    struck = strike_moves(trajectories, valid)
    scale = jnp.where(trained, -1.0 / trained.sum(), 0.0)  # the loss is -mean over trained moves of the objective
    # The value each move's strike left on its cell (0 for moves after the game ended). [64, B]
    struck_values = jnp.take_along_axis(trajectories.final_boards, trajectories.actions.T, axis=1).T * valid
    blocks = (trajectories.lengths.max() + BACKWARD_MOVES - 1) // BACKWARD_MOVES

    def block_gradient(i, carry):
        total, after_block = carry  # after_block: [B, H1], the pre-activation gradients summed over later blocks
        start = (blocks - 1 - i) * BACKWARD_MOVES

        def take(x):  # moves start .. start + BACKWARD_MOVES of a [64, B, ...] array
            return jax.lax.dynamic_slice_in_dim(x, start, BACKWARD_MOVES)

        moves = start + jnp.arange(BACKWARD_MOVES)
        legal = struck[None, :, :] >= moves[:, None, None]  # untried before each move
        logit_grads = take(scale)[..., None] * move_objective_gradient(
            config, take(trajectories.logits), legal, take(trajectories.actions), take(advantage),
            take(trajectories.log_normalisers))
        rows = lambda x: x.reshape(-1, x.shape[-1])  # noqa: E731  [moves, B, W] -> [moves * B, W]
        upper, pre_grads = incremental_mlp.backward(layers, [rows(take(h)) for h in trajectories.hidden],
                                                    rows(logit_grads))
        per_move = pre_grads.reshape(BACKWARD_MOVES, -1, pre_grads.shape[-1])
        later = jnp.einsum("ts,sbh->tbh", _LATER_IN_BLOCK, per_move) + after_block  # sum over moves after each
        first_kernel = incremental_mlp.first_kernel_gradient(
            layers[0]["kernel"], take(trajectories.actions).reshape(-1), take(struck_values).reshape(-1), rows(later))
        grads = incremental_mlp.assemble(layers, first_kernel, pre_grads.sum(axis=0), upper)
        return jax.tree_util.tree_map(jnp.add, total, grads), after_block + per_move.sum(axis=0)

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    after_last = jnp.zeros((trajectories.lengths.shape[0], layers[0]["kernel"].shape[1]), jnp.float32)
    return jax.lax.fori_loop(0, blocks, block_gradient, (zeros, after_last))[0]


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
    updates: jax.Array  # int32: updates done, n unless one made the state non-finite
    finite: jax.Array  # bool: False when an update made params or optimiser state NaN or infinite (divergence)


def all_finite(tree) -> jax.Array:
    """True when every floating-point number in ``tree`` is finite."""
    leaves = [jnp.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves))


# Compiler options for the trainer's compiled code only (the reference loop and the agents keep the defaults).
# Measured here (jax 0.10.2, 2 vCPUs), each in the same process against the code without it:
# - XLA:CPU's own (Eigen) matrix products instead of YNNPACK's: YNNPACK ran the rollout's [512 x 128] @ [128 x 64]
#   products at half Eigen's speed; the whole update is about 12% faster without it. It changes rounding only.
# - Region analysis in copy insertion: without it, XLA copies loop-carried arrays at every move (the rollout's
#   [512 x 128] first-layer pre-activation among them) because it cannot prove the in-place update safe. 4-10%
#   faster, bit-identical results.
TRAINER_COMPILER_OPTIONS = {
    "xla_cpu_experimental_ynn_fusion_type": "",
    "xla_cpu_copy_insertion_use_region_analysis": True,
}


@functools.cache
def supported_compiler_options(options: tuple[tuple[str, object], ...]) -> dict:
    """The options this jaxlib accepts, warning about each one it does not. XLA's experimental options come and
    go between releases, and an unknown one fails every compilation; without it the trainer is slower, not
    wrong. Each is tried on a one-op function (a few milliseconds, once per process)."""
    supported = {}
    for name, value in options:
        try:
            jax.jit(lambda x: x + 1, compiler_options={name: value}).lower(jnp.zeros(())).compile()
        except jax.errors.JaxRuntimeError as error:
            warnings.warn(f"this jaxlib does not take the XLA option {name} ({error}); the trainer runs without it, "
                          "slower", RuntimeWarning, stacklevel=2)
            continue
        supported[name] = value
    return supported


def trainer_compiler_options() -> dict:
    """``TRAINER_COMPILER_OPTIONS`` less any the installed jaxlib does not take."""
    return supported_compiler_options(tuple(TRAINER_COMPILER_OPTIONS.items()))


class TrainChunk:
    """``chunk(state, n) -> (state, ChunkMetrics)``: ``n <= max_updates`` updates in one compiled call.

    The rollouts' ``MoveBuffers`` (about 30 MB for the default batch) stay allocated between calls: each call
    donates them to the next, so no call zeroes or page-faults them again. Calls must therefore come one after
    another (the training loop's and the benchmark's do)."""

    def __init__(self, config: TrainConfig, max_updates: int):
        self.config, self.max_updates = config, max_updates
        self.compiled = jax.jit(self._run, donate_argnums=2, compiler_options=trainer_compiler_options())
        self._buffers: MoveBuffers | None = None

    def __call__(self, state: TrainState, n) -> tuple[TrainState, ChunkMetrics]:
        buffers, self._buffers = self._buffers, None  # donated: a failed call must not leave them half-owned
        if buffers is None:
            buffers = empty_move_buffers(state.params, self.config.batch_size)
        state, metrics, self._buffers = self.compiled(state, n, buffers)
        return state, metrics

    def _update(self, state: TrainState, buffers: MoveBuffers) -> tuple[TrainState, jax.Array, MoveBuffers]:
        config = self.config
        key = jax.random.fold_in(state.rng_key, state.step)
        deviations = None
        if config.explore:  # 0 leaves the random streams and the update without exploration intact
            deviations = exploring_deviations(jax.random.fold_in(key, _EXPLORE_STREAM), config.batch_size,
                                              config.explore)
        trajectories = rollout(state.params, key, config.batch_size, buffers, deviations)
        grads = policy_gradient(config, state.params, trajectories)
        if config.tried_mass_weight:  # weight 0 leaves the random streams and the update of plain REINFORCE intact
            apply = config.model.build().apply
            extra = tried_mass_gradient(apply, config, state.params, jax.random.fold_in(key, _RANDOM_BOARDS_STREAM))
            grads = jax.tree_util.tree_map(jnp.add, grads, extra)
        updates, opt_state = make_optimizer(config).update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        mean_length = trajectories.lengths.mean(dtype=jnp.float32)
        return TrainState(params, opt_state, state.step + 1, state.rng_key), mean_length, trajectories.move_buffers()

    def _run(self, state: TrainState, n: jax.Array, buffers: MoveBuffers):
        """Up to ``n`` updates; it stops early, keeping the last finite state, when an update diverges (NaN or
        infinite parameters: a learning rate or reward far too large). The loop reports it at the boundary."""
        def more(carry):
            i, _, _, _, finite = carry
            return (i < jnp.minimum(n, self.max_updates)) & finite

        def body(carry):
            i, state, lengths, buffers, _ = carry
            new_state, mean_length, buffers = self._update(state, buffers)
            finite = all_finite((new_state.params, new_state.opt_state))
            state = jax.tree_util.tree_map(lambda new, old: jnp.where(finite, new, old), new_state, state)
            return i + finite.astype(jnp.int32), state, lengths.at[i].set(mean_length), buffers, finite

        lengths = jnp.full((self.max_updates,), jnp.nan, jnp.float32)
        done, state, lengths, buffers, finite = jax.lax.while_loop(
            more, body, (jnp.int32(0), state, lengths, buffers, jnp.bool_(True)))
        return state, ChunkMetrics(lengths, done, finite), buffers


def make_train_chunk(config: TrainConfig, max_updates: int) -> TrainChunk:
    """A compiled ``(state, n) -> (state, ChunkMetrics)`` running ``n <= max_updates`` updates."""
    return TrainChunk(config, max_updates)
