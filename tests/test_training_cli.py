"""`planestrike train` as the terminal app runs it: a real subprocess streaming JSON lines, stopped by SIGINT."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from planestrike_tui.cli import main
from training.checkpoint import load_checkpoint

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
    assert all(PROGRESS_KEYS <= set(line) for line in lines[:-1])
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
    """The command module stays cheap to import, so its help texts spell the defaults out: keep them true."""
    from planestrike_tui.cli import build_parser
    from training.config import TrainConfig

    defaults = TrainConfig()
    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    helps = {action.dest: action.help for action in train_parser._actions}
    assert f"(default: {defaults.games})" in helps["games"]
    assert f"(default: {defaults.batch_size})" in helps["batch_size"]
    assert f"(default: {defaults.learning_rate:g})" in helps["lr"]
    assert f"(default: {defaults.gamma:g})" in helps["gamma"]
    assert f"(default: {defaults.hit_reward:g})" in helps["hit_reward"]
    assert f"(default: {defaults.miss_reward:g})" in helps["miss_reward"]
    assert f"(default: {defaults.entropy:g})" in helps["entropy"]
    assert f"(default: {defaults.tried_mass_weight:g})" in helps["tried_mass_weight"]
    assert f"(default: {','.join(map(str, defaults.model.hidden))}" in helps["hidden"]
    assert f"(default: {defaults.seed})" in helps["seed"]
