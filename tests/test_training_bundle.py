"""`python -m training.bundle`: a finished run's best snapshot becomes the bundled checkpoint, with a report whose
recipe (one `planestrike train` command per stage) reproduces it bit for bit, and `--check` says whether a rerun
did. The bundled assets themselves are checked against their report too."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest

from assets import BUNDLED_CHECKPOINT, BUNDLED_EVAL_REPORT
from planestrike_tui.cli import main as planestrike
from training import bundle
from training.checkpoint import BEST_NAME, Checkpoint, load_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.finetune import params_sha256

SMALL = ["--batch-size", "16", "--hidden", "16"]


@pytest.fixture
def private_assets(tmp_path, monkeypatch):
    """bundle() writes here instead of the repository's assets/."""
    folder = tmp_path / "assets"
    folder.mkdir()
    monkeypatch.setattr(bundle, "BUNDLED_CHECKPOINT", folder / "checkpoint.msgpack")
    monkeypatch.setattr(bundle, "BUNDLED_EVAL_REPORT", folder / "eval_report.json")
    return folder


def run_stages(commands: list[str]) -> None:
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "planestrike"
        assert planestrike(words[1:]) == 0, command


def test_a_two_stage_recipe_is_bundled_and_its_rerun_checks_out_bit_for_bit(tmp_path, private_assets, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    run_stages([f"planestrike train --games 64 --seed 1 --out {first} {' '.join(SMALL)}",
                f"planestrike train --init {first / BEST_NAME} --games 64 --explore 0.5 --seed 2 --out {second} "
                f"--batch-size 16"])
    record = bundle.bundle(second)
    best = load_checkpoint(second / BEST_NAME)
    assert (private_assets / "checkpoint.msgpack").read_bytes() == best.path.read_bytes()
    assert json.loads((private_assets / "eval_report.json").read_text()) == record
    stages = record["stages"]
    assert len(stages) == 2 and record["command"] == " && ".join(stages)
    assert stages[0].endswith(f"--seed 1 --out {first}") and f"--init {first / BEST_NAME}" in stages[1]
    assert record["params_sha256"] == params_sha256(best.params)

    # The recipe from scratch, as the report spells it: the same parameters, and --check says so.
    shutil.rmtree(first)
    shutil.rmtree(second)
    run_stages(stages)
    capsys.readouterr()
    same, line = bundle.check(second)
    assert same and "has the bundled parameters bit for bit" in line
    assert bundle.main(["--check", str(second)]) == 0

    # Another seed is another model: --check fails, naming both digests.
    other = tmp_path / "other"
    run_stages([f"planestrike train --init {first / BEST_NAME} --games 64 --explore 0.5 --seed 3 --out {other} "
                f"--batch-size 16"])
    capsys.readouterr()
    same, line = bundle.check(other)
    assert not same and "differs from the bundle" in line and record["params_sha256"][:16] in line
    assert bundle.main(["--check", str(other)]) == 1


def test_an_unfinished_run_is_refused_in_one_line(tmp_path, private_assets, capsys):
    run = tmp_path / "run"
    assert planestrike(["train", "--games", "64", "--out", str(run), *SMALL]) == 0
    checkpoint = load_checkpoint(run)
    # The same run given a larger budget: it has not finished that one.
    config = json.loads(json.dumps(checkpoint.config.to_dict()))
    assert config["games"] == 64
    save_checkpoint(run, Checkpoint(checkpoint.params, checkpoint.opt_state, checkpoint.step, checkpoint.games,
                                    checkpoint.rng_key, TrainConfig.from_dict({**config, "games": 6400}),
                                    checkpoint.metrics))
    capsys.readouterr()
    assert bundle.main([str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stopped at update 4 of 400" in err and "--resume" in err
    assert not list(private_assets.iterdir()), "nothing was bundled"


def test_the_bundled_checkpoint_is_the_one_its_report_describes():
    report = json.loads(BUNDLED_EVAL_REPORT.read_text())
    bundled = load_checkpoint(BUNDLED_CHECKPOINT)
    assert report["params_sha256"] == params_sha256(bundled.params)
    assert report["command"] == " && ".join(report["stages"])
    assert report["updates"] == bundled.step and report["config"] == bundled.config.to_dict()
    assert bundled.config.stages(report["stages"][-1].rsplit("--out ", 1)[1]) == tuple(report["stages"])
