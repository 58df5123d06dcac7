"""Conversion: builtin ops only, the parity gate in every quantization mode, the sidecar, and safe writes."""

import dataclasses
import datetime
import hashlib
import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from litert_helpers import TF_AGENTS_MODEL, assert_one_line_error, fresh_checkpoint, run_cli

from engine.evaluation import evaluate
from engine.rules import UNTRIED
from training.checkpoint import CheckpointError
from training.convert import (QUANTIZATIONS, ConversionError, ConvertConfig, ParityError, check_builtin_ops,
                              convert_checkpoint, convert_policy, variant_name)
from training.litert_agent import LiteRTAgent
from training.litert_model import read_model
from training.model import ModelConfig, init_params
from training.parity import THRESHOLDS, ParityConfig, ParityThresholds, compare_probabilities, game_boards

REFERENCE_OPS = ["RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]


@pytest.fixture(autouse=True)
def isolated_probe_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    fresh_checkpoint(directory, seed=0)
    return directory


@pytest.fixture(scope="module")
def converted(checkpoint_dir):
    """The same checkpoint converted in the three modes, each to its default place next to the checkpoint."""
    return {mode: convert_checkpoint(ConvertConfig(checkpoint=checkpoint_dir, quantize=mode)) for mode in QUANTIZATIONS}


def test_each_mode_has_its_own_default_name_so_no_variant_overwrites_another(converted, checkpoint_dir):
    assert [variant_name(mode) for mode in QUANTIZATIONS] == [
        "planestrike.tflite", "planestrike.float16.tflite", "planestrike.int8.tflite"]
    assert variant_name() == "planestrike.tflite"
    for mode, report in converted.items():
        assert report.model == checkpoint_dir / variant_name(mode) == ConvertConfig(checkpoint_dir, quantize=mode).output_path()
        assert report.sidecar == checkpoint_dir / f"{variant_name(mode)}.json"
        assert json.loads(report.sidecar.read_text())["quantization"] == mode  # each still beside its own sidecar
        assert read_model(report.model)[1].sha256 == report.metadata["sha256"]  # none overwritten by the next
    assert ConvertConfig(checkpoint_dir, out=checkpoint_dir / "x.tflite", quantize="float16").output_path() == \
        checkpoint_dir / "x.tflite"  # --out still wins
    with pytest.raises(ConversionError, match="unknown quantization 'int4'"):
        variant_name("int4")


def test_float32_model_lands_next_to_the_checkpoint_with_builtin_ops_and_the_seed_input(converted, checkpoint_dir):
    report = converted["none"]
    assert report.model == checkpoint_dir / "planestrike.tflite" and report.model.exists()
    info = read_model(report.model)[1]
    assert list(info.ops) == REFERENCE_OPS and info.custom_ops == ()
    assert [t.to_dict() for t in info.inputs] == [{"name": "input", "shape": [1, 8, 8], "dtype": "float32"}]
    assert [(t.shape, t.dtype) for t in info.outputs] == [((1, 64), "float32")]


def test_float32_parity_is_within_1e_5_with_the_same_choice_on_every_board(converted):
    parity = converted["none"].parity
    assert parity.passed and parity.boards >= 1000
    assert parity.max_abs_diff <= 1e-5 and parity.argmax_agreement == 1.0


@pytest.mark.parametrize("mode", ["float16", "dynamic-int8"])
def test_quantized_models_pass_their_own_thresholds_and_are_smaller(converted, mode):
    report, float32 = converted[mode], converted["none"]
    assert report.parity.thresholds == THRESHOLDS[mode] and report.parity.passed
    assert report.parity.max_abs_diff > float32.parity.max_abs_diff  # really quantized, not a float32 copy
    assert report.metadata["bytes"] < 0.6 * float32.metadata["bytes"]
    assert read_model(report.model)[1].custom_ops == ()  # DEQUANTIZE and friends are builtins


def test_the_sidecar_describes_the_model_exactly(converted, checkpoint_dir):
    report = converted["none"]
    sidecar = json.loads(report.sidecar.read_text())
    assert report.sidecar == checkpoint_dir / "planestrike.tflite.json" and sidecar == report.metadata
    assert sidecar["sha256"] == hashlib.sha256(report.model.read_bytes()).hexdigest()
    assert sidecar["bytes"] == report.model.stat().st_size
    source = checkpoint_dir / "checkpoint.msgpack"
    assert sidecar["source_checkpoint"] == {"path": "checkpoint.msgpack",  # relative to the model's directory
                                            "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    assert sidecar["model_config"] == {"hidden": [128, 64]} and sidecar["quantization"] == "none"
    assert sidecar["ops"] == REFERENCE_OPS
    assert sidecar["inputs"][0]["name"] == "input" and sidecar["outputs"][0]["shape"] == [1, 64]
    assert sidecar["parity"]["passed"] is True
    assert sidecar["parity"]["max_abs_diff"] == report.parity.max_abs_diff
    assert sidecar["eval"]["exact_mean_strikes"] == round(evaluate(LiteRTAgent(report.model), exact=True).mean_strikes, 6)
    assert {"python", "jax", "flax", "tensorflow", "ai-edge-litert", "numpy"} <= set(sidecar["tools"])
    assert datetime.datetime.fromisoformat(sidecar["date"]).tzinfo is not None


def test_a_failed_gate_leaves_the_previous_model_untouched_and_force_keeps_it_loudly(converted, checkpoint_dir):
    before = {path.name: path.read_bytes() for path in checkpoint_dir.iterdir()}
    impossible = ParityConfig(thresholds=ParityThresholds(max_abs_diff=1e-12, mean_abs_diff=1.0, min_agreement=1.0))
    config = ConvertConfig(checkpoint=checkpoint_dir, quantize="float16", parity=impossible)
    with pytest.raises(ParityError) as caught:
        convert_checkpoint(config)
    message = str(caught.value)
    assert "max |difference|" in message and "> 1e-12" in message and "left untouched" in message
    assert {path.name: path.read_bytes() for path in checkpoint_dir.iterdir()} == before  # no temp files either

    kept = convert_checkpoint(ConvertConfig(checkpoint=checkpoint_dir, quantize="float16", parity=impossible,
                                            force=True, out=checkpoint_dir / "forced.tflite"))
    assert kept.forced and not kept.parity.passed and kept.model.exists()
    assert json.loads(kept.sidecar.read_text())["parity"]["passed"] is False


def test_a_checkpoint_with_nan_weights_is_refused_and_writes_nothing(tmp_path):
    fresh_checkpoint(tmp_path, nan=True)
    with pytest.raises(CheckpointError, match=r"holds NaN or infinite weights in \['Dense_0'\]\['bias'\]"):
        convert_checkpoint(ConvertConfig(checkpoint=tmp_path))
    assert [path.name for path in tmp_path.iterdir() if path.name != "cache"] == ["checkpoint.msgpack"]


def test_nan_parameters_convert_to_a_model_the_gate_refuses_before_writing(tmp_path):
    config = ModelConfig()
    params = jax.tree_util.tree_map(lambda x: np.full_like(np.asarray(x), np.nan), init_params(config, jax.random.PRNGKey(0)))
    with pytest.raises(ConversionError, match="unusable: the model returns NaN.*left untouched"):
        convert_policy(config, params, ConvertConfig(out=tmp_path / "nan.tflite"))
    assert not (tmp_path / "nan.tflite").exists()


def test_flex_and_custom_ops_are_refused_by_name():
    with pytest.raises(ConversionError, match="FlexMultinomial .*Select TF ops"):
        check_builtin_ops(read_model(TF_AGENTS_MODEL)[1])


def test_parity_boards_come_from_real_games_at_every_stage():
    boards = game_boards(1200, seed=0)
    flat = boards.reshape(len(boards), 64)
    tried = (flat != UNTRIED).sum(axis=1)
    assert boards.shape == (1200, 8, 8) and boards.dtype == np.float32
    assert (tried < 64).all()  # every board still has a move
    assert tried.min() == 0 and tried.max() >= 40  # from the empty board to crowded late games
    assert len(np.unique(flat, axis=0)) == 1200  # distinct positions, not one opening repeated
    assert ((flat == 1).sum(axis=1) > 0).mean() > 0.5  # most boards carry hits to follow up
    assert np.array_equal(boards, game_boards(1200, seed=0))
    assert not np.array_equal(boards, game_boards(1200, seed=1))


def test_cli_converts_quietly_and_reports_json(tmp_path):
    fresh_checkpoint(tmp_path / "run", seed=3)
    result = run_cli("convert", "--checkpoint", tmp_path / "run", "--out", tmp_path / "model.tflite", "--json",
                     cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # TensorFlow's and the converter's start-up noise is silenced
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["model"] == str(tmp_path / "model.tflite") and report["passed"] and not report["forced"]
    assert report["ops"] == REFERENCE_OPS and report["parity"]["max_abs_diff"] <= 1e-5
    assert json.loads((tmp_path / "model.tflite.json").read_text())["sha256"] == report["sha256"]


@pytest.mark.parametrize("args, fragments", [
    (["--checkpoint", "{tmp}/nowhere"], ["{tmp}/nowhere", "does not exist"]),
    (["--checkpoint", "{tmp}/run", "--out", "{tmp}/missing-dir/model.tflite"], ["missing-dir", "does not exist"]),
    (["--checkpoint", "{tmp}/run", "--out", "{tmp}/run"], ["is a directory"]),
    (["--quantize", "int4"], ["invalid choice: 'int4'"]),
])
def test_cli_errors_are_one_line(tmp_path, args, fragments):
    fresh_checkpoint(tmp_path / "run")
    args = [arg.format(tmp=tmp_path) for arg in args]
    result = run_cli("convert", *args, cache=tmp_path / "cache")
    assert_one_line_error(result, *[fragment.format(tmp=tmp_path) for fragment in fragments])
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["checkpoint.msgpack"]


def test_tensorflow_is_imported_only_when_converting():
    code = ("import sys, training.convert, training.litert_agent, planestrike_tui.commands.convert; "
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("mode", QUANTIZATIONS)
def test_the_bundled_models_are_the_conversions_of_the_bundled_checkpoint(mode):
    """Retraining the bundled checkpoint without reconverting it (`planestrike convert`, and again with
    `--quantize float16` and `--quantize dynamic-int8`) fails here."""
    import assets
    from training.flax_agent import FlaxAgent

    model = {"none": assets.BUNDLED_TFLITE, "float16": assets.BUNDLED_TFLITE_FLOAT16,
             "dynamic-int8": assets.BUNDLED_TFLITE_INT8}[mode]
    assert model.name == variant_name(mode)  # where `planestrike convert --quantize MODE` writes it
    sidecar = json.loads(model.with_name(model.name + ".json").read_text())
    assert mode != "none" or model.with_name(model.name + ".json") == assets.BUNDLED_TFLITE_METADATA
    assert sidecar["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert sidecar["source_checkpoint"] == {"path": "checkpoint.msgpack",
                                            "sha256": hashlib.sha256(assets.BUNDLED_CHECKPOINT.read_bytes()).hexdigest()}
    assert sidecar["quantization"] == mode and sidecar["ops"] == list(read_model(model)[1].ops)
    assert sidecar["parity"]["passed"] and sidecar["parity"]["thresholds"] == dataclasses.asdict(THRESHOLDS[mode])
    tflite = evaluate(LiteRTAgent(model), exact=True).mean_strikes
    assert round(tflite, 6) == sidecar["eval"]["exact_mean_strikes"]
    if mode == "none":
        assert tflite == evaluate(FlaxAgent.from_checkpoint(assets.BUNDLED_CHECKPOINT), exact=True).mean_strikes


@pytest.mark.parametrize("mode", ["float16", "dynamic-int8"])
def test_the_bundled_quantized_models_still_pass_their_gate_when_measured_again(mode):
    from assets import BUNDLED_CHECKPOINT, BUNDLED_TFLITE_FLOAT16, BUNDLED_TFLITE_INT8
    from training.checkpoint import load_policy
    from training.convert import run_parity_gate

    model = {"float16": BUNDLED_TFLITE_FLOAT16, "dynamic-int8": BUNDLED_TFLITE_INT8}[mode]
    model_config, params = load_policy(BUNDLED_CHECKPOINT)
    report = run_parity_gate(LiteRTAgent(model), model_config, params, ConvertConfig(quantize=mode))
    assert report.passed, report.failures()


def test_a_tie_broken_by_rounding_is_not_a_different_decision():
    """Seen on the bundled model: every untried cell ~1e-38 in Flax, exactly 0 in LiteRT, so the lowest-index
    tie-break picks another cell. The strict agreement reports it; the gate does not count it as a disagreement."""
    boards = np.zeros((3, 8, 8), np.float32)
    boards[:, 0, :4] = -1.0  # cells 0-3 tried
    reference = np.zeros((3, 64))
    reference[:, 0] = 1.0  # all the mass on a tried cell
    reference[0, 9] = 1.6e-38  # board 0: Flax prefers cell 9 by 1.6e-38
    reference[1, 9], reference[1, 4] = 0.6, 0.3  # board 1: a real preference for cell 9
    reference[2, 9] = 0.5  # board 2: both agree on cell 9
    candidate = reference.copy()
    candidate[0, 9] = 0.0  # LiteRT rounds it to 0: the tie-break now picks cell 4
    candidate[1, 9], candidate[1, 4] = 0.3, 0.6  # a different decision
    report = compare_probabilities(reference, candidate, boards, THRESHOLDS["dynamic-int8"])
    assert report.argmax_agreement == pytest.approx(1 / 3) and report.rounding_ties == 1
    assert report.decision_agreement == pytest.approx(2 / 3) and report.disagreements == [0, 1]
    assert not report.passed and "66.67% of 3 boards" in report.failures()[-1]
