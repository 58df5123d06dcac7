"""The JAX environment plays exactly the engine's game, and the trainer only ever strikes untried cells."""

import jax
import jax.numpy as jnp
import numpy as np

from engine.game import Game
from engine.rules import CELL_COUNT, PLACEMENT_COUNT
from training import env
from training.learner import masked_logits, sample_actions

batched_step = jax.jit(jax.vmap(env.step))
step = jax.jit(env.step)
masked_sample = jax.jit(lambda logits, legal, uniforms: sample_actions(masked_logits(logits, legal), uniforms)[0])


def test_matches_the_engine_move_for_move_on_every_placement():
    rng = np.random.default_rng(7)
    placements = np.arange(PLACEMENT_COUNT)
    orders = np.stack([rng.permutation(CELL_COUNT) for _ in placements])  # a random legal game per placement
    games = [Game(int(p)) for p in placements]
    states = jax.vmap(env.reset_to)(jnp.asarray(placements))
    for move in range(CELL_COUNT):
        actions = orders[:, move]
        live = np.array([not g.finished for g in games])
        np.testing.assert_array_equal(np.asarray(states.legal_action_mask).any(axis=1), live)
        expected_hits = np.array([g.strike(int(a)) if not g.finished else False for g, a in zip(games, actions)])
        states, hits = batched_step(states, jnp.asarray(actions))
        np.testing.assert_array_equal(np.asarray(hits), expected_hits)
        np.testing.assert_array_equal(np.asarray(states.board), np.stack([g.observation().ravel() for g in games]))
        np.testing.assert_array_equal(np.asarray(states.strikes), [g.strikes for g in games])
        np.testing.assert_array_equal(np.asarray(states.finished), [g.finished for g in games])
    assert all(g.finished for g in games)


def test_reset_draws_every_placement_uniformly():
    keys = jax.random.split(jax.random.PRNGKey(0), 24_000)
    placements = np.asarray(jax.jit(jax.vmap(env.reset))(keys).placement)
    counts = np.bincount(placements, minlength=PLACEMENT_COUNT)
    assert counts.min() > 120 and counts.max() < 280  # 200 expected each; 5+ sigma bounds


def test_legal_mask_is_the_untried_cells_until_the_game_ends():
    state = env.reset_to(0)
    plane = [int(c) for c in np.flatnonzero(np.asarray(env.PLACEMENT_MASKS[0]))]
    miss = next(c for c in range(CELL_COUNT) if c not in plane)
    state, hit = step(state, miss)
    assert not hit and not bool(state.legal_action_mask[miss])
    assert int(state.legal_action_mask.sum()) == CELL_COUNT - 1
    for cell in plane:
        state, hit = step(state, cell)
        assert hit
    assert bool(state.finished) and not bool(state.legal_action_mask.any())


def test_illegal_strikes_change_nothing():
    state, _ = step(env.reset_to(5), 0)
    again, hit = step(state, 0)  # already tried
    assert not bool(hit)
    for before, after in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(before, after)


def test_sampling_never_picks_a_tried_cell_and_follows_the_masked_softmax():
    rows = 50_000
    rng = np.random.default_rng(3)
    legal = rng.random((rows, CELL_COUNT)) < 0.3
    legal[:, 17] = True
    legal[:, 0] = False
    logits = jnp.asarray(rng.normal(size=(rows, CELL_COUNT)), jnp.float32)
    logits = logits.at[:, 0].set(50.0)  # a tried cell the raw network loves must still never be chosen
    uniforms = 1.0 - jax.random.uniform(jax.random.PRNGKey(1), (rows,))
    actions = np.asarray(masked_sample(logits, jnp.asarray(legal), uniforms))
    assert legal[np.arange(rows), actions].all()

    # One row sampled many times: the frequencies match the softmax over its legal cells (atol is 5+ sigma).
    same_row = jnp.broadcast_to(logits[0], (rows, CELL_COUNT)), jnp.broadcast_to(jnp.asarray(legal[0]), (rows, CELL_COUNT))
    uniforms = 1.0 - jax.random.uniform(jax.random.PRNGKey(2), (rows,))
    counts = np.bincount(np.asarray(masked_sample(*same_row, uniforms)), minlength=CELL_COUNT) / rows
    expected = np.where(legal[0], np.exp(logits[0] - logits[0][legal[0]].max()), 0.0)
    expected /= expected.sum()
    np.testing.assert_allclose(counts, expected, atol=0.008)
    assert counts[~legal[0]].sum() == 0


def test_sampling_edges_stay_on_legal_cells():
    legal = jnp.zeros((2, CELL_COUNT), bool).at[:, jnp.array([5, 40])].set(True)
    actions = masked_sample(jnp.zeros((2, CELL_COUNT)), legal, jnp.array([1e-9, 1.0]))  # smallest and largest draw
    assert [int(a) for a in actions] == [5, 40]
