"""Hostile input everywhere: every argument, file and checkpoint ends promptly with one line, bounded memory, nothing
lost. The cases an adversarial pass found (numbers that allocate terabytes, FIFOs, devices, huge files, outputs
that clobber inputs, crafted checkpoints) are kept here, plus a property test over every numeric option of every
subcommand and a mutation fuzz of the checkpoint loader."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from flax import serialization
from litert_helpers import PLANESTRIKE

from assets import BUNDLED_CHECKPOINT
from planestrike_tui.cli import build_parser, main
from training.checkpoint import CheckpointError, load_checkpoint, load_policy

ONE_LINE = re.compile(r"planestrike( [\w ]+)?: error: \S")
MEMORY_CAP = 4 << 30  # address space for a CLI run: the refusals below must not even approach it


def run_in_process(capsys, *argv: str) -> tuple[int, str]:
    """``planestrike ARGV`` in this process (fast: no interpreter start-up): exit status and stderr."""
    try:
        status = main([str(arg) for arg in argv])
    except SystemExit as exit:  # argparse's usage errors
        status = exit.code
    return status, capsys.readouterr().err


def assert_refused(status: int, stderr: str, fragment: str = "") -> None:
    lines = stderr.strip().splitlines()
    assert status == 2, (status, stderr)
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert fragment in lines[0], (fragment, lines[0])


# --- Sizes, in real subprocesses under a memory cap and a deadline: each once allocated terabytes or ran forever.

SIZES = [
    (["eval", "--games", "1000000000000"], "--games: must be a whole number from 1 to 1,000,000, got 1,000,000,000,000"),
    (["eval", "--games", "99999999999999999999999999"], "--games: must be a whole number from 1 to 1,000,000"),
    (["eval", "--games", "2147483648"], "--games: must be a whole number from 1 to 1,000,000"),
    (["compare", "--boards", "1000000000000"], "--boards: must be a whole number from 1 to 100,000"),
    (["train", "--games", "99999999999999999999"], "--games: must be a whole number from 1 to 10,000,000,000"),
    (["train", "--batch-size", "100000000"], "--batch-size: must be a whole number from 1 to 8,192"),
    (["train", "--seed", str(10**26)], "--seed: must be a whole number from 0 to 4,294,967,295"),
]


@pytest.mark.parametrize("argv, message", SIZES, ids=[" ".join(argv) for argv, _ in SIZES])
def test_huge_sizes_are_refused_at_once_in_bounded_memory(argv, message):
    start = time.monotonic()
    # The cap set by the shell (ulimit), not by a preexec_fn: forking a process that has JAX loaded is unsafe.
    capped = ["sh", "-c", f'ulimit -v {MEMORY_CAP // 1024} && exec "$0" "$@"', PLANESTRIKE, *argv]
    result = subprocess.run(capped, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 20
    assert_refused(result.returncode, result.stderr, message)


# --- Ranges: one rule, one wording, whatever side of the range a value falls.

RANGES = [
    (["train", "--gamma", "7"], "--gamma: must be a number from 0 to 1, got 7"),
    (["train", "--gamma", "-0.5"], "--gamma: must be a number from 0 to 1, got -0.5"),
    (["train", "--lr", "inf"], "--lr: must be a number more than 0 and at most 1"),
    (["train", "--lr", "nan"], "--lr: must be a number more than 0 and at most 1"),
    (["train", "--lr", "1e308"], "--lr: must be a number more than 0 and at most 1, got 1e+308"),
    (["train", "--lr", "0"], "--lr: must be a number more than 0 and at most 1, got 0"),
    (["train", "--hit-reward", "1e308"], "--hit-reward: must be a number from -100 to 100"),
    (["train", "--miss-reward", "-1e308"], "--miss-reward: must be a number from -100 to 100"),
    (["train", "--entropy", "1e308"], "--entropy: must be a number from 0 to 10"),
    (["train", "--tried-mass-weight", "1e308"], "--tried-mass-weight: must be a number from 0 to 100"),
    (["train", "--minutes", "0"], "--minutes: must be a number more than 0"),
    (["train", "--hidden", "0"], "--hidden: must be 1 to 4 comma-separated layer widths"),
    (["train", "--hidden", "1,2,3,4,5"], "--hidden: must be 1 to 4 comma-separated layer widths"),
    (["train", "--hidden", "513"], "--hidden: must be 1 to 4 comma-separated layer widths"),
    (["eval", "--games", "-5"], "--games: must be a whole number from 1 to 1,000,000, got -5"),
    (["eval", "--games", "0"], "--games: must be a whole number from 1 to 1,000,000, got 0"),
    (["eval", "--games", "١٢"], "--games: must be a whole number from 1 to 1,000,000, got '١٢'"),
    (["device", "bench", "--moves", "-5"], "--moves: must be a whole number from 1 to 100,000, got -5"),
    (["device", "bench", "--moves", "0"], "--moves: must be a whole number from 1 to 100,000, got 0"),
    (["device", "emulate", "--port", "65536"], "--port: must be a whole number from 0 to 65,535, got 65,536"),
    (["device", "emulate", "--port", "-1"], "--port: must be a whole number from 0 to 65,535, got -1"),
    (["train", "--out", ""], "--out: is empty"),
    (["convert", "--out", ""], "--out: is empty"),
    (["play", "--model", ""], "--model: is empty"),
    (["play", "--opponent", "NONSENSE"], "unknown agent 'NONSENSE': use one of random, hunter"),
    (["train", "--gamma", "1.0000001"], "--gamma: must be a number from 0 to 1, got 1.0000001"),
    (["compare", "--agents", ",".join(["hunter", "random", "app", "flax", "tflite"] * 4)],
     "the number of --agents must be a whole number from 2 to 16, got 20"),
    (["device", "emulate", "--host", ""], "--host: the host '' is neither an IP address nor a host name"),
    (["device", "push", ""], "MODEL: is empty"),
    (["device", "models", "--remove", ""], "--remove: is empty"),
    (["device", "bench", "--device", ""], "--device: is empty"),
    (["device", "connect", "x" * 100 + ":5555"], "is neither an IP address nor a host name"),
    (["eval", "--agent", "device:127.0.0.1:41323:"], "ends with ':': give the model file after it"),
    (["eval", "--agent", "device:127.0.0.1:-1"], "the port must be a whole number from 1 to 65,535, got -1"),
    (["eval", "--agent", "device:::1:5555"], "write an IPv6 address in brackets, like device:[::1]:5555"),
    (["eval", "--agent", "x\ny"], "unknown agent 'x\\ny'"),  # one line: the newline is shown escaped
]


@pytest.mark.parametrize("argv, message", RANGES, ids=[" ".join(argv) for argv, _ in RANGES])
def test_values_outside_their_range_get_the_one_rule(capsys, argv, message):
    assert_refused(*run_in_process(capsys, *argv), message)


HOSTILE_TEXT = ["", " ", "-1", "0", "1", "1e308", "-1e308", "nan", "inf", "-inf", "²", "١٢", "9" * 40, "1" * 5000,
                "\x00", "0x10", "1_000", "+5", " 7 ", "1.5", "-0", "1e-320", "3e38", "4294967296", "65535", "1,2"]


def _numeric_options():
    """Every option of every subcommand whose type carries a range (``arguments.in_range``)."""
    def walk(parser: argparse.ArgumentParser, prefix: list[str]):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*prefix, name])
            elif getattr(action.type, "limits", None) is not None and action.option_strings:
                positionals = [a for a in parser._actions if not a.option_strings and a.required
                               and not isinstance(a, argparse._SubParsersAction)]
                yield [*prefix, *["x"] * len(positionals)], action  # a placeholder for each positional

    return list(walk(build_parser(), []))


def test_every_numeric_option_refuses_or_accepts_within_its_range(capsys):
    options = _numeric_options()
    assert len(options) >= 15  # eval, compare, play, train, device: the walk found them
    for command, action in options:
        for text in HOSTILE_TEXT:
            try:
                value = getattr(build_parser().parse_args([*command, f"{action.option_strings[0]}={text}"]), action.dest)
            except SystemExit as exit:
                assert_refused(exit.code, capsys.readouterr().err, "must be")
                continue
            assert value == action.type.limits.check(value), (command, action.dest, text, value)


# --- Files that are not what they claim: each once hung (FIFO, /dev/zero), ate memory (3 GB) or crashed.

@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    os.mkfifo(root / "fifo")
    (root / "directory").mkdir()
    with open(root / "huge", "wb") as handle:
        handle.truncate(3 << 30)  # sparse: 3 GB to stat, nothing on disk
    (root / "text").write_text("not a model\n")
    return {"fifo": root / "fifo", "/dev/zero": Path("/dev/zero"), "directory": root / "directory",
            "huge": root / "huge", "text": root / "text"}


FILE_USES = [
    (["eval", "--agent", "tflite:{}"], {"fifo": "named pipe", "/dev/zero": "is a device", "directory": "is a directory",
                                        "huge": "more than the 33,554,432 bytes", "text": "it is a text file"}),
    (["eval", "--agent", "flax:{}"], {"fifo": "named pipe", "/dev/zero": "is a device", "directory": "does not exist",
                                      "huge": "more than the 33,554,432 bytes", "text": "truncated or corrupt"}),
    (["compare", "--agents", "hunter,tflite:{}"], {"fifo": "named pipe", "huge": "more than the 33,554,432 bytes"}),
    (["train", "--resume", "{}"], {"fifo": "named pipe", "/dev/zero": "is a device", "directory": "does not exist",
                                   "huge": "more than the 33,554,432 bytes", "text": "truncated or corrupt"}),
    (["convert", "--checkpoint", "{}"], {"fifo": "named pipe", "/dev/zero": "is a device",
                                         "huge": "more than the 33,554,432 bytes"}),
    # Checked before any phone is contacted (nothing listens on port 9 here: it would be a different error).
    (["device", "push", "{}", "--device", "127.0.0.1:9"], {"fifo": "named pipe", "/dev/zero": "is a device",
                                                           "directory": "is a directory", "text": "it is a text file",
                                                           "huge": "more than the 33,554,432 bytes"}),
    (["device", "bench", "--model", "{}", "--device", "127.0.0.1:9"], {"fifo": "named pipe", "text": "text file"}),
]
FILE_CASES = [(argv, kind, fragment) for argv, kinds in FILE_USES for kind, fragment in kinds.items()]


@pytest.mark.parametrize("argv, kind, fragment", FILE_CASES,
                         ids=[f"{' '.join(argv)} {kind}" for argv, kind, _ in FILE_CASES])
def test_files_are_checked_before_they_are_read(capsys, hostile_files, argv, kind, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # convert writes next to the checkpoint by default; train into ./runs
    start = time.monotonic()
    status, stderr = run_in_process(capsys, *[part.format(hostile_files[kind]) for part in argv])
    assert time.monotonic() - start < 15
    assert_refused(status, stderr, fragment)
    assert str(hostile_files[kind]) in stderr


# --- Outputs never clobber inputs, and an unwritable output is refused before any work.

@pytest.fixture
def run_copy(tmp_path):
    """A copy of the bundled checkpoint in a run directory of its own."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(BUNDLED_CHECKPOINT, run / "checkpoint.msgpack")
    return run


def test_convert_never_overwrites_its_checkpoint_even_with_force(capsys, run_copy):
    before = (run_copy / "checkpoint.msgpack").read_bytes()
    for extra in ([], ["--force"]):
        status, stderr = run_in_process(capsys, "convert", "--checkpoint", run_copy, "--out",
                                        run_copy / "checkpoint.msgpack", *extra)
        assert_refused(status, stderr, "would overwrite the checkpoint it converts")
    assert (run_copy / "checkpoint.msgpack").read_bytes() == before


def test_convert_replaces_a_file_that_is_not_a_model_only_with_force(capsys, run_copy):
    notes = run_copy / "notes.txt"
    notes.write_text("my notes\n")
    assert_refused(*run_in_process(capsys, "convert", "--checkpoint", run_copy, "--out", notes),
                   "exists and is not a TFLite model: choose another name, or add --force")
    assert notes.read_text() == "my notes\n"


@pytest.mark.parametrize("out, fragment", [("/proc/x.tflite", "cannot write /proc/x.tflite"),
                                           ("/dev/null", "is not a regular file")])
def test_an_output_that_cannot_be_a_model_is_refused_before_converting(capsys, run_copy, out, fragment):
    start = time.monotonic()
    assert_refused(*run_in_process(capsys, "convert", "--checkpoint", run_copy, "--out", out), fragment)
    assert time.monotonic() - start < 2  # before the checkpoint is even loaded, let alone converted


def test_the_bundled_and_reference_files_are_never_outputs(capsys, tmp_path):
    from assets import ASSETS_DIR, OFFICIAL_APP_DIR

    before = {path: path.read_bytes() for path in ASSETS_DIR.rglob("*") if path.is_file()}
    assert_refused(*run_in_process(capsys, "train", "--resume", BUNDLED_CHECKPOINT, "--games", "1491456"),
                   "is planestrike's bundled assets folder, not a run directory: give --out DIR")
    assert_refused(*run_in_process(capsys, "convert", "--out", OFFICIAL_APP_DIR / "planestrike_tf.tflite"),
                   "the official app's reference models, which planestrike never changes")
    assert {path: path.read_bytes() for path in ASSETS_DIR.rglob("*") if path.is_file()} == before


def test_the_app_spec_refuses_a_file_that_is_no_longer_the_official_model(capsys, monkeypatch):
    from training import litert_agent

    monkeypatch.setattr(litert_agent, "OFFICIAL_APP_MODEL_SHA256", "0" * 64)  # as if the file had been replaced
    assert_refused(*run_in_process(capsys, "eval", "--agent", "app", "--exact"),
                   "is not the official app's model any more (sha256 403c809fd130cfa4, not 0000000000000000)")


def test_an_unusable_home_is_one_line_not_files_in_the_root(tmp_path):
    for home in ("", "relative/home"):
        for argv in (["device", "connect", "127.0.0.1:9"], ["device", "emulate", "--port", "0"]):
            result = subprocess.run([PLANESTRIKE, *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                                    env={**os.environ, "HOME": home, "XDG_CONFIG_HOME": "", "XDG_STATE_HOME": ""})
            assert_refused(result.returncode, result.stderr, f"HOME is {home!r}, not an absolute path")
    assert list(tmp_path.iterdir()) == []


def test_a_closed_progress_pipe_stops_training_as_ctrl_c_does(tmp_path):
    """`train --progress jsonl | head -1`, or the app gone: the run saves and stops instead of dying unsaved."""
    out = tmp_path / "run"
    run = subprocess.Popen([PLANESTRIKE, "train", "--games", "20480", "--out", str(out), "--progress", "jsonl"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert json.loads(run.stdout.readline())["event"] == "start"
    run.stdout.close()
    assert run.wait(timeout=120) == 130
    assert "interrupted: checkpoint saved" in run.stderr.read()
    assert load_checkpoint(out).step >= 1


def test_train_refuses_an_empty_out_rather_than_writing_into_the_current_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused(*run_in_process(capsys, "train", "--out", "", "--games", "32"), "--out: is empty")
    assert list(tmp_path.iterdir()) == []


# --- Checkpoints: crafted ones are refused naming the field; no damaged byte goes unnoticed.

def _record(path: Path) -> dict:
    outer = serialization.msgpack_restore(path.read_bytes())
    return serialization.msgpack_restore(outer["body"])


def _write(path: Path, body: dict, checksum_ok: bool = True) -> Path:
    data = serialization.msgpack_serialize(body)
    digest = hashlib.sha256(data).hexdigest() if checksum_ok else "0" * 64
    path.write_bytes(serialization.msgpack_serialize(
        {"format": "planestrike-checkpoint", "version": 2, "sha256": digest, "body": data}))
    return path


def _tamper(field: str, value):
    def change(body: dict) -> None:
        target = body
        *parents, last = field.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
    return change


CRAFTED = [
    ("config.batch_size", 0, "batch_size must be a whole number from 1 to 8,192, got 0"),
    ("config.batch_size", "512", "batch_size must be a whole number from 1 to 8,192, got '512'"),
    ("config.learning_rate", "fast", "learning_rate must be a number more than 0 and at most 1, got 'fast'"),
    ("config.gamma", 7.0, "gamma must be a number from 0 to 1, got 7"),
    ("config.model.hidden", [-1], "a hidden layer width must be a whole number from 1 to 512, got -1"),
    ("config.model.hidden", "128", "model must be {'hidden': [widths]}"),
    ("config.games", [1, 2], "games must be a whole number"),
    ("config.surprise", 1, "unknown training settings ['surprise']"),
    ("config.games", None, "games and minutes are both unset: a run needs a budget"),  # it would train forever
    ("metrics.elapsed_s", -1e300, "metric elapsed_s must be a number from 0 to 1e+09"),  # a time budget never spent
    ("metrics.best_exact", 3.0, "metric best_exact must be a number from 8 to 64"),
    ("step", 2**40, "its step or game count must be a whole number from 0 to 2,147,483,647"),
    ("step", "12", "its step or game count must be a whole number"),
    ("games", -1, "its step or game count must be a whole number from 0"),
    ("rng_key", "abc", "its rng_key is not two uint32 words"),
    ("metrics.elapsed_s", "slow", "metric 'elapsed_s' is 'slow', not a finite number"),
    ("params.Dense_0.bias", np.full(128, np.nan, np.float32), "holds NaN or infinite weights in ['Dense_0']['bias']"),
    ("params.Dense_0.bias", np.zeros(128, np.int32), "parameter ['Dense_0']['bias'] is not a float32 array"),
    ("params.Dense_0.kernel", np.zeros((64, 3), np.float32), "has shape (64, 3), expected (64, 128)"),
    ("params.Dense_9", {"bias": np.zeros(3, np.float32)}, "has parameters its model (128, 64) does not use"),
    ("opt_state.0.mu.Dense_0.bias", np.full(128, np.inf, np.float32), "corrupt optimiser state"),
    ("opt_state.0.nu.Dense_0.bias", np.full(128, -1.0, np.float32), "corrupt optimiser state"),
    ("opt_state.0", 5, "has an optimiser state that does not fit its config"),
    ("opt_state.0.mu", np.zeros(3, np.float32), "has an optimiser state that does not fit its config"),
    ("params.Dense_0", np.zeros(3, np.float32), "does not match its model (128, 64)"),
]


@pytest.mark.parametrize("field, value, message", CRAFTED, ids=[f"{field}={value!r:.20}" for field, value, _ in CRAFTED])
def test_a_crafted_checkpoint_is_refused_naming_the_file_and_the_field(tmp_path, field, value, message):
    body = _record(BUNDLED_CHECKPOINT)
    _tamper(field, value)(body)
    path = _write(tmp_path / "checkpoint.msgpack", body)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(path) in str(refused.value) and message in str(refused.value), str(refused.value)
    if not field.startswith(("opt_state", "step", "games", "rng_key", "metrics")):  # what an agent reads, too
        with pytest.raises(CheckpointError, match=re.escape(message)):
            load_policy(path)


@pytest.mark.parametrize("argv", [["train", "--resume", "{}", "--games", "2000000"], ["eval", "--agent", "flax:{}"],
                                  ["convert", "--checkpoint", "{}", "--out", "{}/model.tflite"]])
def test_the_commands_refuse_a_crafted_checkpoint_in_one_line(capsys, tmp_path, argv):
    body = _record(BUNDLED_CHECKPOINT)
    body["config"]["batch_size"] = 0
    _write(tmp_path / "checkpoint.msgpack", body)
    status, stderr = run_in_process(capsys, *[part.format(tmp_path) for part in argv])
    assert_refused(status, stderr, "has a bad training config: batch_size must be a whole number from 1 to 8,192")
    assert not (tmp_path / "model.tflite").exists()


def test_a_budget_of_more_updates_than_a_run_can_count_is_refused(tmp_path, capsys):
    body = _record(BUNDLED_CHECKPOINT)
    body["config"].update(batch_size=1, games=2**31 + 20)  # each within its range; together 2^31 + 20 updates
    path = _write(tmp_path / "checkpoint.msgpack", body)
    with pytest.raises(CheckpointError, match="make 2,147,483,668 updates, more than the 2,147,483,647 a run can count"):
        load_checkpoint(path)
    assert_refused(*run_in_process(capsys, "train", "--batch-size", "1", "--games", str(2**31 + 20), "--out",
                                   tmp_path / "run"), "more than the 2,147,483,647 a run can count")


def test_finite_weights_that_overflow_the_network_are_refused_where_they_are_used(tmp_path, capsys):
    """Weights of 1e38 pass the loader (they are finite), but the network's sums overflow: evaluation and conversion
    say so in one line instead of reporting a mean over NaN scores or blaming a temporary file."""
    body = _record(BUNDLED_CHECKPOINT)
    body["params"]["Dense_0"]["kernel"] = np.full((64, 128), 1e38, np.float32)
    path = _write(tmp_path / "checkpoint.msgpack", body)
    status, stderr = run_in_process(capsys, "eval", "--agent", f"flax:{path}", "--exact")
    assert_refused(status, stderr, "the network returns NaN or infinite scores on some boards")
    status, stderr = run_in_process(capsys, "convert", "--checkpoint", path, "--out", tmp_path / "m.tflite", "--force")
    lines = stderr.strip().splitlines()
    assert status == 1 and len(lines) == 1, stderr
    assert f"cannot convert {path}: " in lines[0] and "m.tflite was left untouched" in lines[0], lines[0]
    assert not (tmp_path / "m.tflite").exists()


def test_a_checksum_that_does_not_match_is_reported(tmp_path):
    path = _write(tmp_path / "checkpoint.msgpack", _record(BUNDLED_CHECKPOINT), checksum_ok=False)
    with pytest.raises(CheckpointError, match="is damaged: its contents do not match the checksum"):
        load_checkpoint(path)


def test_no_damaged_byte_of_a_checkpoint_loads_silently(tmp_path):
    """Flipped bits and truncations anywhere in the file: every one is refused with CheckpointError (the sha256 over
    the body catches what the structure checks cannot), and nothing else ever escapes the loader."""
    data = BUNDLED_CHECKPOINT.read_bytes()
    rng = random.Random(7)
    path = tmp_path / "checkpoint.msgpack"
    for trial in range(300):
        damaged = bytearray(data)
        if trial % 4 == 3:
            damaged = damaged[: rng.randrange(len(data))]
        else:
            position = rng.randrange(len(data))
            damaged[position] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


# --- Ctrl-C: at any moment, one line and status 130; nothing half-done is written.

# Each command works for several seconds, so that the signal arrives while it runs: one that arrives while Python
# shuts down, after the work, meets the default handler (finalisation resets it) and ends the process by SIGINT.
@pytest.mark.parametrize("argv", [["eval", "--agent", "flax", "--games", "500000"], ["compare", "--boards", "20000"],
                                  ["convert", "--out", "{}/model.tflite"]], ids=["eval", "compare", "convert"])
@pytest.mark.parametrize("after_s", [0.1, 0.4, 1.0])
def test_ctrl_c_while_a_command_loads_ends_it_at_once_in_one_line(tmp_path, argv, after_s):
    """While JAX, TensorFlow and LiteRT load, a KeyboardInterrupt would land in native start-up code (it aborted
    and crashed processes) or in a garbage-collector callback (printed, then ignored: the command ran on)."""
    run = subprocess.Popen([PLANESTRIKE, *[part.format(tmp_path) for part in argv]], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    time.sleep(after_s)
    if run.poll() is not None:
        pytest.skip("the command finished before the signal")
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 130 and err == "planestrike: interrupted\n" and out == "", (run.returncode, err)
    assert not list(tmp_path.iterdir())  # convert wrote nothing, not even a temporary file


def test_a_second_ctrl_c_stops_training_at_once_in_one_line(tmp_path):
    run = subprocess.Popen([PLANESTRIKE, "train", "--games", "200000", "--out", str(tmp_path / "run"), "--progress",
                            "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert json.loads(run.stdout.readline())["event"] == "start"
    run.send_signal(signal.SIGINT)
    time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 130
    assert err.strip().splitlines() == ["interrupted again: stopped at once without saving; checkpoints written "
                                        "before (every few seconds) are intact"]
