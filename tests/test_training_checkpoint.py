"""Checkpoints round-trip exactly, are written atomically, and every bad file gives one clear error naming it."""

import os

import jax
import numpy as np
import pytest

from training.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    load_policy,
    save_checkpoint,
)
from training.config import TrainConfig
from training.learner import init_train_state
from training.model import ModelConfig

CONFIG = TrainConfig(model=ModelConfig(hidden=(16, 8)), batch_size=32, learning_rate=1e-3, gamma=0.7, seed=4)


def make_checkpoint(config: TrainConfig = CONFIG) -> Checkpoint:
    state = init_train_state(config)
    return Checkpoint(state.params, state.opt_state, step=12, games=384, rng_key=np.asarray(state.rng_key),
                      config=config, metrics={"eval_exact": 21.5})


def assert_trees_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_keeps_everything(tmp_path):
    original = make_checkpoint()
    path = save_checkpoint(tmp_path, original)
    assert path == tmp_path / CHECKPOINT_NAME
    for where in (tmp_path, path):  # a directory or the file itself
        loaded = load_checkpoint(where)
        assert loaded.path == path
        assert (loaded.step, loaded.games, loaded.config, loaded.metrics) == (12, 384, CONFIG, {"eval_exact": 21.5})
        np.testing.assert_array_equal(loaded.rng_key, original.rng_key)
        assert_trees_equal(loaded.params, original.params)
        assert_trees_equal(loaded.opt_state, original.opt_state)
    model, params = load_policy(tmp_path)
    assert model == CONFIG.model
    assert_trees_equal(params, original.params)


def test_config_survives_json_round_trip():
    assert TrainConfig.from_dict(CONFIG.to_dict()) == CONFIG


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, make_checkpoint())
    newer = make_checkpoint()
    newer.step = 99

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, newer)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path).step == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]  # no temp file left behind


def test_truncated_file_is_named_in_the_error(tmp_path):
    path = save_checkpoint(tmp_path, make_checkpoint())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=rf"checkpoint {path} is truncated or corrupt"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_policy(path)


def test_garbage_and_foreign_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.msgpack"
    garbage.write_bytes(b"\xc1\xff not msgpack at all")
    with pytest.raises(CheckpointError, match=str(garbage)):
        load_checkpoint(garbage)
    from flax import serialization

    foreign = tmp_path / "foreign.msgpack"
    foreign.write_bytes(serialization.msgpack_serialize({"params": {}}))
    with pytest.raises(CheckpointError, match=rf"{foreign} is not a planestrike checkpoint"):
        load_checkpoint(foreign)


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match=r"does not exist: train one with 'planestrike train"):
        load_checkpoint(tmp_path / "nowhere")


def test_other_format_version_is_refused(tmp_path, monkeypatch):
    import training.checkpoint as module

    monkeypatch.setattr(module, "VERSION", 3)
    save_checkpoint(tmp_path, make_checkpoint())
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="has format version 3, this planestrike reads versions 1, 2"):
        load_checkpoint(tmp_path)


def test_params_that_do_not_fit_the_declared_model_are_refused(tmp_path):
    wrong = make_checkpoint(CONFIG.replace(model=ModelConfig(hidden=(16, 4))))
    wrong.config = CONFIG  # declares (16, 8) but holds (16, 4) weights
    wrong.opt_state = None
    save_checkpoint(tmp_path, wrong)
    with pytest.raises(CheckpointError, match=r"does not match its model \(16, 8\).*has shape"):
        load_policy(tmp_path)
