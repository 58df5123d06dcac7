"""The trainer's fast gradient (incremental first layer, backward from stored activations) is the gradient of the
loss written plainly: boards rebuilt move by move, ``model.apply`` on them, ``jax.grad``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assets import BUNDLED_CHECKPOINT
from engine.rules import CELL_COUNT
from training.checkpoint import load_policy
from training.config import TrainConfig
from training.learner import BACKWARD_MOVES, advantages, exploring_deviations, init_train_state, move_objective, policy_gradient, rollout
from training.model import ModelConfig


def plain_gradient(config: TrainConfig, params, trajectories):
    """jax.grad through the whole network, every move's board rebuilt from the game's actions."""
    apply = config.model.build().apply
    advantage, _, trained = advantages(config, trajectories)  # trained: played, and after any deviation
    actions, lengths = np.asarray(trajectories.actions), np.asarray(trajectories.lengths)
    final = np.asarray(trajectories.final_boards)
    boards = np.zeros((CELL_COUNT, len(lengths), CELL_COUNT), np.float32)
    for b, length in enumerate(lengths):
        for t in range(1, length):
            boards[t, b] = boards[t - 1, b]
            boards[t, b, actions[t - 1, b]] = final[b, actions[t - 1, b]]
    legal = boards == 0

    def loss(params):
        raw = apply({"params": params}, boards.reshape(-1, 8, 8), return_logits=True)
        objective = move_objective(config, raw.reshape(boards.shape), legal, trajectories.actions, advantage)
        return -jnp.sum(trained * objective) / trained.sum()

    return jax.grad(loss)(params), boards


@pytest.mark.parametrize("config", [
    TrainConfig(batch_size=16, seed=3),
    TrainConfig(batch_size=16, seed=4, tried_mass_weight=0.1, entropy=0.05),
    TrainConfig(batch_size=8, seed=5, model=ModelConfig(hidden=(32,))),
    TrainConfig(batch_size=8, seed=6, model=ModelConfig(hidden=(48, 40, 24))),
    TrainConfig(batch_size=16, seed=8, explore=0.5),
], ids=["reference", "tried-mass", "one-hidden-layer", "three-hidden-layers", "exploring"])
def test_fast_gradient_equals_jax_grad_of_the_plain_loss(config):
    params = init_train_state(config).params
    key = jax.random.PRNGKey(config.seed)
    deviations = exploring_deviations(jax.random.fold_in(key, 2), config.batch_size, config.explore) \
        if config.explore else None
    trajectories = rollout(params, key, config.batch_size, deviations=deviations)
    if config.explore:  # some games deviate, so some played moves are not trained on: the masks differ
        assert int((trajectories.deviates_at >= 0).sum()) > 0
    fast = policy_gradient(config, params, trajectories)
    plain, _ = plain_gradient(config, params, trajectories)
    assert jax.tree_util.tree_structure(fast) == jax.tree_util.tree_structure(plain)
    for name in plain:
        for part in ("kernel", "bias"):
            expected, got = np.asarray(plain[name][part]), np.asarray(fast[name][part])
            assert np.abs(expected).max() > 0  # every parameter gets a gradient: the comparison means something
            np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-6 * np.abs(expected).max(),
                                       err_msg=f"{name}/{part}")


def test_rollout_logits_are_the_networks_logits_on_each_board():
    """The incrementally updated first layer gives what the network computes from scratch on every board."""
    config = TrainConfig(batch_size=16, seed=7)
    params = init_train_state(config).params
    trajectories = rollout(params, jax.random.PRNGKey(1), config.batch_size)
    _, boards = plain_gradient(config, params, trajectories)
    raw = config.model.build().apply({"params": params}, boards.reshape(-1, 8, 8), return_logits=True)
    played = (np.arange(CELL_COUNT)[:, None] < np.asarray(trajectories.lengths)[None, :]).reshape(-1)
    np.testing.assert_allclose(np.asarray(trajectories.logits).reshape(-1, CELL_COUNT)[played], np.asarray(raw)[played],
                               rtol=1e-5, atol=1e-5)


def test_rows_left_in_the_buffers_by_earlier_rollouts_change_nothing():
    """The trainer hands its rollout buffers from update to update. After a fresh policy's 64-move games, a trained
    policy's short games leave rows there that the last backward block reads (the batch's longest game is not a
    multiple of the block here): the gradient must not depend on them."""
    config = TrainConfig(batch_size=32)
    _, trained = load_policy(BUNDLED_CHECKPOINT)
    trained = jax.tree_util.tree_map(jnp.asarray, trained)
    earlier = rollout(init_train_state(config).params, jax.random.PRNGKey(3), config.batch_size)
    # The first key whose batch's longest game is not a multiple of the block, so the last block reads rows no move
    # of this batch wrote (which key that is depends on the bundled policy).
    candidates = ((key, rollout(trained, key, config.batch_size)) for key in map(jax.random.PRNGKey, range(5, 50)))
    key, on_empty = next(((key, played) for key, played in candidates
                          if int(played.lengths.max()) % BACKWARD_MOVES != 0), (None, None))
    assert on_empty is not None
    on_filled = rollout(trained, key, config.batch_size, earlier.move_buffers())
    gradients = [policy_gradient(config, trained, t) for t in (on_filled, on_empty)]
    for a, b in zip(*(jax.tree_util.tree_leaves(g) for g in gradients)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
