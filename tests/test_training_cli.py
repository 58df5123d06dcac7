"""`planestrike train` as the terminal app runs it: a real subprocess streaming JSON lines, stopped by SIGINT."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from planestrike_tui.cli import main
from training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.finetune import params_sha256
from training.learner import init_train_state

PLANESTRIKE = str(Path(sys.executable).with_name("planestrike"))
PROGRESS_KEYS = {"step", "games", "mean_length", "games_per_s", "eta_s"}


def start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([PLANESTRIKE, "train", *args, "--progress", "jsonl"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_sigint_saves_a_checkpoint_and_the_run_resumes_to_its_budget(tmp_path, capsys):
    out = tmp_path / "run"
    run = start("--minutes", "10", "--batch-size", "32", "--seed", "3", "--out", str(out))
    progress = []
    started = json.loads(run.stdout.readline())
    assert started == {"event": "start", "step": 0, "games": 0, "updates": None}  # a time budget: no update count
    for line in run.stdout:  # progress arrives about once a second after compilation
        record = json.loads(line)
        assert PROGRESS_KEYS <= set(record), record
        progress.append(record)
        if len(progress) == 2:
            run.send_signal(signal.SIGINT)
            break
    rest = [json.loads(line) for line in run.stdout]
    stderr = run.stderr.read()
    assert run.wait(timeout=60) == 130
    done = rest[-1]
    assert done["event"] == "done" and done["interrupted"] is True, rest
    assert f"resume with 'planestrike train --resume {out}'" in stderr
    assert "Traceback" not in stderr
    saved = load_checkpoint(out)
    assert saved.step == done["step"] >= 2 and saved.games == 32 * saved.step
    assert saved.path == Path(done["checkpoint"])

    # Resume in this process (the same code path as a subprocess, without a second start-up and compilation).
    budget = 32 * (saved.step + 2)
    assert main(["train", "--resume", str(out), "--games", str(budget), "--progress", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert lines[0] == {"event": "start", "step": saved.step, "games": saved.games, "updates": saved.step + 2}
    assert all(PROGRESS_KEYS <= set(line) for line in lines[1:-1])
    assert lines[-1]["event"] == "done" and lines[-1]["games"] == budget and lines[-1]["interrupted"] is False
    assert 8 <= lines[-1]["eval_exact"] <= 64
    assert load_checkpoint(out).config.batch_size == 32  # the resumed run kept the checkpoint's settings


def test_errors_are_one_json_line_and_a_nonzero_exit(tmp_path, capsys):
    status = main(["train", "--resume", str(tmp_path / "missing"), "--progress", "jsonl"])
    out, err = capsys.readouterr()
    assert status == 2
    record = json.loads(out.strip().splitlines()[-1])
    assert record["event"] == "error" and "does not exist" in record["message"]
    assert err.startswith("planestrike: error: checkpoint ") and err.count("\n") == 1


def test_a_run_directory_is_never_overwritten_by_a_new_run(tmp_path, capsys):
    (tmp_path / "checkpoint.msgpack").write_bytes(b"an earlier run")
    assert main(["train", "--out", str(tmp_path), "--games", "32"]) == 2
    assert f"{tmp_path} already holds a training run: continue it with '--resume {tmp_path}'" in capsys.readouterr().err
    assert (tmp_path / "checkpoint.msgpack").read_bytes() == b"an earlier run"


def test_help_states_the_real_defaults():
    """The help texts spell the defaults out (read from TrainConfig, a light module)."""
    from planestrike_tui.cli import build_parser
    from training.config import TrainConfig

    defaults = TrainConfig()
    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    helps = {action.dest: action.help for action in train_parser._actions}
    assert f"(default: {defaults.games})" in helps["games"]
    assert f"(default: {defaults.batch_size})" in helps["batch_size"]
    assert f"(default: {defaults.learning_rate:g})" in helps["learning_rate"]
    assert f"(default: {defaults.gamma:g})" in helps["gamma"]
    assert f"(default: {defaults.hit_reward:g})" in helps["hit_reward"]
    assert f"(default: {defaults.miss_reward:g})" in helps["miss_reward"]
    assert f"(default: {defaults.entropy:g})" in helps["entropy"]
    assert f"(default: {defaults.tried_mass_weight:g})" in helps["tried_mass_weight"]
    assert f"(default: {','.join(map(str, defaults.model.hidden))}" in helps["hidden"]
    assert f"(default: {defaults.seed})" in helps["seed"]


def test_ctrl_c_while_the_first_chunk_compiles_and_runs_is_honoured_within_seconds(tmp_path):
    """A large first chunk (compilation plus one update of 2,048 games of a wider net: several seconds) is abandoned
    half a second after Ctrl-C; the last finished state is saved and the process leaves cleanly."""
    out = tmp_path / "run"
    run = start("--games", "100000", "--batch-size", "2048", "--hidden", "256,256", "--out", str(out))
    assert json.loads(run.stdout.readline())["event"] == "start"
    time.sleep(0.5)
    asked = time.monotonic()
    run.send_signal(signal.SIGINT)
    rest = [json.loads(line) for line in run.stdout]
    assert run.wait(timeout=60) == 130
    took = time.monotonic() - asked
    stderr = run.stderr.read()
    assert took < 5, f"took {took:.1f} s to stop"
    assert rest[-1]["event"] == "done" and rest[-1]["interrupted"] is True and rest[-1]["step"] == 0, rest
    assert stderr.strip() == f"interrupted: checkpoint saved; resume with 'planestrike train --resume {out}'"
    assert load_checkpoint(out).step == 0 and load_checkpoint(out / "best.msgpack").step == 0


def test_a_diverging_run_stops_with_one_line_and_keeps_its_last_finite_state(tmp_path):
    """Weights near float32's limit overflow on the first update: the chunk stops there, the loop saves the last
    finite state and says so in one line, instead of spinning on NaN games forever."""
    config = TrainConfig(batch_size=32, games=32 * 50, seed=1)
    state = init_train_state(config)
    huge = jax.tree_util.tree_map(lambda x: np.asarray(x) * np.float32(1e37), state.params)
    save_checkpoint(tmp_path, Checkpoint(huge, state.opt_state, 7, 7 * 32, np.asarray(state.rng_key), config))
    began = time.monotonic()
    run = subprocess.run([PLANESTRIKE, "train", "--resume", str(tmp_path)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert time.monotonic() - began < 60
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planestrike: error: training diverged at update 8: "), run.stderr
    assert f"the last finite state (update 7) is in {tmp_path / 'checkpoint.msgpack'}" in lines[0]
    kept = load_checkpoint(tmp_path)  # loads: every weight finite
    assert kept.step == 7 and all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(kept.params))


def test_a_fine_tuning_run_starts_from_the_checkpoint_and_records_the_whole_recipe(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    small = ["--batch-size", "16", "--hidden", "16", "--progress", "jsonl"]
    assert main(["train", "--games", "32", "--seed", "1", "--out", str(first), *small]) == 0
    assert main(["train", "--init", str(first / "checkpoint.msgpack"), "--games", "32", "--explore", "0.5",
                 "--seed", "2", "--out", str(second), *small[:2], "--progress", "jsonl"]) == 0
    capsys.readouterr()
    source, tuned = load_checkpoint(first / "checkpoint.msgpack"), load_checkpoint(second / "checkpoint.msgpack")
    init = tuned.config.init
    assert init is not None and init.step == source.step and tuned.config.model == source.config.model, \
        "the network's shape is the checkpoint's when --hidden is not given"
    assert init.params_sha256 == params_sha256(source.params) != params_sha256(tuned.params), "it trained from there"
    stages = tuned.config.stages(str(second))
    assert len(stages) == 2 and stages[0] == f"{source.config.command()} --out {first}"
    assert "--init" in stages[1] and "--explore 0.5" in stages[1]


def test_init_refuses_resume_and_a_different_network(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--games", "16", "--batch-size", "16", "--hidden", "16", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", "--init", str(run), "--resume", str(run)]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert main(["train", "--init", str(run), "--hidden", "32", "--games", "16", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "its network is [16], not [32]" in err and err.count("\n") == 1
