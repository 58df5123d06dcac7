"""The training loop: exact resume, no recompilation, TensorBoard logs, refusing incompatible resumes."""

import sys
import types

import jax
import numpy as np
import pytest

from training.checkpoint import BEST_NAME, CheckpointError, load_checkpoint
from training.config import TrainConfig
from training.learner import TRAINER_COMPILER_OPTIONS, init_train_state, supported_compiler_options
from training.loop import LoopOptions, compiled_chunk, exact_mean_length, resume_config, train
from training.model import ModelConfig

# Small and fast: a few updates of 32 games each; chunks of about one update so the runs cross many boundaries.
SMALL = TrainConfig(batch_size=32, games=32 * 6, seed=11)
OPTIONS = LoopOptions(chunk_seconds=1e-3, eval_every=2, checkpoint_seconds=0.0, tensorboard=False)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_resumed_run_ends_with_bit_identical_parameters(tmp_path):
    whole = train(SMALL, tmp_path / "whole", options=OPTIONS, handle_signals=False)
    first = train(SMALL.replace(games=32 * 2), tmp_path / "split", options=OPTIONS, handle_signals=False)
    assert first.step == 2
    saved = load_checkpoint(first.checkpoint)
    config = resume_config(saved, SMALL, explicit={"games"})
    second = train(config, tmp_path / "split", resume=saved, options=OPTIONS, handle_signals=False)
    assert (whole.step, second.step, whole.games, second.games) == (6, 6, 192, 192)
    a, b = load_checkpoint(whole.checkpoint), load_checkpoint(second.checkpoint)
    for x, y in zip(leaves((a.params, a.opt_state)), leaves((b.params, b.opt_state))):
        np.testing.assert_array_equal(x, y)
    assert second.eval_exact == whole.eval_exact
    # The best snapshot (evaluated every 2 updates) is the same one too.
    best_whole, best_split = load_checkpoint(tmp_path / "whole" / BEST_NAME), load_checkpoint(tmp_path / "split" / BEST_NAME)
    assert best_whole.step == best_split.step and second.best_exact == whole.best_exact
    for x, y in zip(leaves(best_whole.params), leaves(best_split.params)):
        np.testing.assert_array_equal(x, y)


def test_training_changes_the_parameters_and_keeps_the_best_evaluated_snapshot(tmp_path):
    before = leaves(init_train_state(SMALL).params)
    seen = []
    result = train(SMALL, tmp_path, options=OPTIONS, handle_signals=False, on_progress=seen.append)
    latest = load_checkpoint(tmp_path)
    assert any(not np.array_equal(x, y) for x, y in zip(before, leaves(latest.params)))
    assert (latest.step, latest.games, latest.metrics["eval_exact"]) == (6, 192, result.eval_exact)
    evaluations = {p.step: p.eval_exact for p in seen if p.eval_exact is not None}
    assert sorted(evaluations) == [2, 4, 6]
    best = load_checkpoint(tmp_path / BEST_NAME)
    assert best.metrics["best_exact"] == result.best_exact == min(evaluations.values()) == evaluations[best.step]
    assert exact_mean_length(SMALL, best.params) == result.best_exact


def test_stopped_runs_and_their_resumes_never_leave_a_best_snapshot_worse_than_their_final_model(tmp_path):
    """Stops between the scheduled evaluations, in a fresh run and in two resumes of it: each time, best.msgpack
    holds a model at least as good as the one the run reports, and its recorded score is its real one."""
    options = LoopOptions(chunk_seconds=1e-3, eval_every=4, checkpoint_seconds=0.0, tensorboard=False)
    config, resume = SMALL.replace(games=32 * 40), None
    for stop_at in (3, 9, 14):  # none is a multiple of eval_every
        stop: list[str] = []
        result = train(config, tmp_path, resume=resume, options=options, stop=stop,
                       on_progress=lambda progress: stop.append("test") if progress.step >= stop_at else None)
        assert result.interrupted and result.step == stop_at
        best = load_checkpoint(tmp_path / BEST_NAME)
        assert result.best_exact <= result.eval_exact
        assert exact_mean_length(config, best.params) == result.best_exact == best.metrics["best_exact"]
        resume = load_checkpoint(tmp_path)
        assert exact_mean_length(config, resume.params) == result.eval_exact


def test_chunks_of_any_size_reuse_one_compilation():
    chunk = compiled_chunk(SMALL)  # the function the loop runs
    state = init_train_state(SMALL)
    for n in (1, 3, 2, 5):
        state, metrics = chunk(state, n)
        assert np.isfinite(np.asarray(metrics.mean_lengths[:n])).all()
    assert int(state.step) == 1 + 3 + 2 + 5
    assert chunk.compiled._cache_size() == 1  # traced and compiled exactly once


def test_the_loop_compiles_its_chunk_once(tmp_path):
    train(SMALL, tmp_path, options=OPTIONS, handle_signals=False)
    assert compiled_chunk(SMALL).compiled._cache_size() == 1


def test_an_xla_option_this_jaxlib_lacks_is_dropped_with_a_warning():
    # Experimental XLA options come and go between jaxlib releases; one that is gone must not stop training.
    with pytest.warns(RuntimeWarning, match="xla_cpu_option_from_another_release"):
        options = supported_compiler_options((("xla_cpu_option_from_another_release", True),
                                              *TRAINER_COMPILER_OPTIONS.items()))
    assert options == TRAINER_COMPILER_OPTIONS  # this jaxlib takes the trainer's own


def test_tensorboard_logs_are_readable(tmp_path, monkeypatch):
    # TensorBoard's reader imports TensorFlow when it is installed (seconds); its marker module for a TF-free
    # install makes it use its own built-in event-file parser instead.
    monkeypatch.setitem(sys.modules, "tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    options = LoopOptions(chunk_seconds=1e-3, eval_every=2, checkpoint_seconds=60.0, tensorboard=True)
    train(SMALL, tmp_path, options=options, handle_signals=False)
    events = EventAccumulator(str(tmp_path / "logs"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"game_length", "eval/exact_mean_length", "games_per_s"} <= set(scalars)
    lengths = events.Scalars("game_length")
    assert [e.step for e in lengths] == [32 * (i + 1) for i in range(6)]  # one point per update, x = games played
    assert all(8 <= e.value <= 64 for e in lengths)
    assert all(8 <= e.value <= 64 for e in events.Scalars("eval/exact_mean_length"))


def test_resume_refuses_a_different_model_shape_or_learning_setting(tmp_path):
    result = train(SMALL.replace(games=32), tmp_path, options=OPTIONS, handle_signals=False)
    saved = load_checkpoint(result.checkpoint)
    with pytest.raises(CheckpointError, match=r"trained with model shape \(128, 64\), not \(64, 64\)"):
        resume_config(saved, SMALL.replace(model=ModelConfig(hidden=(64, 64))), explicit={"model"})
    with pytest.raises(CheckpointError, match="trained with batch size 32, not 64"):
        resume_config(saved, SMALL.replace(batch_size=64), explicit={"batch_size"})
    # Unspecified settings come from the checkpoint; a new budget is allowed.
    assert resume_config(saved, TrainConfig(games=64), explicit={"games"}) == SMALL.replace(games=64)
