"""The LiteRT agent: any Plane Strike .tflite plays, found by shape; anything else is refused in one line."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from litert_helpers import APP_MODEL, PLANESTRIKE, TF_AGENTS_MODEL, assert_one_line_error, run_cli

from engine.evaluation import evaluate
from engine.specs import parse_agent_spec
from training.litert_agent import LiteRTAgent
from training.litert_model import ModelFileError, read_model


@pytest.fixture(autouse=True)
def isolated_probe_cache(tmp_path, monkeypatch):
    """Every test probes for real: no verdict cached by an earlier test or an earlier run on this machine."""
    from training import litert_probe

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(litert_probe, "_verdicts", {})


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Real .tflite files: ours from fresh params, one whose weights are NaN, and two made directly with TF.

    Made in a subprocess: TensorFlow loaded into a pytest-xdist worker slows its shutdown enough to be interrupted.
    """
    root = tmp_path_factory.mktemp("litert-models")
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import litert_helpers; " \
           f"litert_helpers.make_test_models({str(root)!r})"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    return root


def test_the_app_model_is_found_by_shape_and_scores_exactly_as_the_app_plays():
    agent = LiteRTAgent(APP_MODEL)
    assert [t.name for t in agent.info.inputs] == ["flatten_input"]
    assert [t.name for t in agent.info.outputs] == ["Identity"]
    assert agent.info.ops == ("RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX")
    assert agent.deterministic
    assert round(evaluate(agent, exact=True).mean_strikes, 4) == 13.1917


def test_eval_cli_plays_the_app_model_to_13_1917_with_no_native_log_noise(tmp_path):
    result = run_cli("eval", "--agent", f"tflite:{APP_MODEL}", "--exact", "--json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line stays hidden
    report = json.loads(result.stdout.splitlines()[-1])
    assert round(report["mean_strikes"], 4) == 13.1917 and report["games"] == 120


def test_our_converted_model_and_a_flat_input_model_play_through_the_spec(models):
    for name in ("ours.tflite", "flat_input.tflite"):
        agent = parse_agent_spec(f"tflite:{models / name}")
        boards = np.zeros((3, 8, 8), np.float32)
        boards[1, 0, 0], boards[2, 4, 4] = 1.0, -1.0
        batch = agent.probabilities_batch(boards)
        assert batch.shape == (3, 64) and np.allclose(batch.sum(axis=1), 1.0, atol=1e-5)
        assert np.array_equal(batch[1], agent.probabilities(boards[1]))
        assert agent.choose(boards[1]) != 0  # cell 0 is tried on that board: masked argmax never picks it
        assert evaluate(agent, exact=True).games == 120


def test_the_tf_agents_model_is_refused_with_every_reason():
    with pytest.raises(ModelFileError) as caught:
        LiteRTAgent(TF_AGENTS_MODEL)
    message = str(caught.value)
    assert "\n" not in message and str(TF_AGENTS_MODEL) in message
    for reason in ("4 inputs", "action_0_observation:0", "int32", "an action, not 64 float32 probabilities",
                   "FlexMultinomial", "Select TF ops runtime"):
        assert reason in message


def _bad_file(kind: str, tmp_path, models):
    path = tmp_path / f"{kind}.tflite"
    app = APP_MODEL.read_bytes()
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a model\n" * 20)
    elif kind == "truncated":
        path.write_bytes(app[: len(app) // 2])
    elif kind == "flipped":  # random bytes over the tensor tables at the end of the file
        data = bytearray(app)
        data[-1500:-1400] = np.random.default_rng(3).integers(0, 256, 100, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
    else:
        return models / f"{kind}.tflite"
    return path


BAD_FILES = {
    "missing": "no such file",
    "directory": "is a directory",
    "empty": "the file is empty",
    "text": "it is a text file",
    "truncated": "corrupt TFLite model",
    "flipped": "corrupt TFLite model",
    "wrong_shapes": "not a Plane Strike policy",
    "nan": "NaN",
    "tf_agents": "FlexMultinomial",
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_every_bad_file_is_one_clean_line_naming_it_in_the_cli(kind, tmp_path, models):
    path = TF_AGENTS_MODEL if kind == "tf_agents" else _bad_file(kind, tmp_path, models)
    result = run_cli("eval", "--agent", f"tflite:{path}", "--exact", cache=tmp_path / "cache")
    assert_one_line_error(result, str(path), BAD_FILES[kind])


FUZZ = """
import sys
from pathlib import Path
import numpy as np
from training.litert_agent import LiteRTAgent
from training.litert_model import ModelFileError, read_model

for path in sorted(Path(sys.argv[1]).iterdir()):
    try:
        agent = LiteRTAgent(path)
        agent.choose(np.zeros((8, 8), np.float32))
        print("valid", path.name, flush=True)
    except ModelFileError as error:
        clean = "\\n" not in str(error) and str(path) in str(error)
        print("error" if clean else "unclear-error", path.name, flush=True)
    except Exception as error:
        print("unexpected", path.name, type(error).__name__, flush=True)
"""


def test_hundreds_of_corrupted_models_never_crash_the_process(tmp_path, models):
    """Truncations, random bytes and bit flips all over two real models: every load ends in a valid model or one
    clean error line, and the process that loads them survives (it runs in a subprocess, so a crash would show
    as its exit status, not as a dead pytest)."""
    rng = np.random.default_rng(2026)
    variants = tmp_path / "variants"
    variants.mkdir()
    sources = [APP_MODEL.read_bytes(), (models / "ours.tflite").read_bytes()]
    for i in range(300):
        data = bytearray(sources[i % 2])
        kind = i % 5
        if kind == 0:
            data = data[: int(rng.integers(0, len(data)))]
        elif kind == 1:  # random bytes anywhere
            for spot in rng.integers(0, len(data), int(rng.integers(1, 16))):
                data[spot] = int(rng.integers(0, 256))
        elif kind in (2, 3):  # bytes, then single bits, in the tables at the end (shapes, offsets, op codes)
            for spot in rng.integers(len(data) - 3000, len(data), int(rng.integers(1, 4))):
                data[spot] = int(rng.integers(0, 256)) if kind == 2 else data[spot] ^ (1 << int(rng.integers(0, 8)))
        else:  # the header and root table at the start
            for spot in rng.integers(0, 600, int(rng.integers(1, 4))):
                data[spot] = int(rng.integers(0, 256))
        (variants / f"{i:03d}.tflite").write_bytes(bytes(data))

    result = subprocess.run([sys.executable, "-c", FUZZ, str(variants)], capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 0, f"the loading process died: status {result.returncode}\n{result.stderr[-2000:]}"
    outcomes = [line.split()[0] for line in result.stdout.splitlines()]
    assert len(outcomes) == 300
    assert set(outcomes) <= {"valid", "error"}, [line for line in result.stdout.splitlines() if "error " not in line
                                                 and "valid " not in line]
    assert outcomes.count("error") > 150 and outcomes.count("valid") > 10  # both paths really exercised


def test_a_probe_verdict_is_kept_by_sha256(tmp_path, monkeypatch):
    from training import litert_probe

    copy = tmp_path / "copy.tflite"
    copy.write_bytes(APP_MODEL.read_bytes())
    LiteRTAgent(copy)
    cached = list((tmp_path / "cache" / "planestrike" / "litert-probe").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("403c809fd130cfa4") and cached[0].read_text() == "ok"

    def no_second_probe(data):
        raise AssertionError("the same model was probed twice")

    monkeypatch.setattr(litert_probe._worker, "verdict", no_second_probe)
    monkeypatch.setattr(litert_probe, "_verdicts", {})  # as in a new process: only the disk cache remains
    assert LiteRTAgent(APP_MODEL).info.sha256 == LiteRTAgent(copy).info.sha256


def test_listing_agent_kinds_stays_light():
    """engine.specs imports every registered kind to list them: the tflite kind must not drag LiteRT or TF in."""
    code = "import sys, training.litert_agent; print(sorted(m for m in ('tensorflow', 'jax', 'ai_edge_litert') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_fast_single_board_choice_is_the_engines_masked_argmax(models):
    """``LiteRTAgent.choose`` skips the batch machinery; it must still pick exactly what the engine's rule picks."""
    from engine.agents import masked_argmax
    from training.parity import game_boards

    boards = game_boards(500, seed=4)
    for path in (APP_MODEL, models / "ours.tflite"):
        agent = LiteRTAgent(path)
        expected = masked_argmax(agent.probabilities_batch(boards), boards)
        assert [agent.choose(board) for board in boards] == expected.tolist()


def _verdict_file(tmp_path: Path) -> Path:
    from training import litert_probe

    return litert_probe._cache_file(read_model(APP_MODEL)[1].sha256)


@pytest.mark.parametrize("planted", ["fifo", "endless", "text"])
def test_a_hostile_verdict_cache_is_ignored_and_the_model_probed_again(tmp_path, planted):
    """Only a file holding exactly 'ok' is a remembered verdict: a FIFO there would block, a link to /dev/zero
    would be read forever, and text would be printed as the verdict."""
    cache = _verdict_file(tmp_path)
    cache.parent.mkdir(parents=True)
    if planted == "fifo":
        os.mkfifo(cache)
    elif planted == "endless":
        cache.symlink_to("/dev/zero")
    else:
        cache.write_text("the file is damaged\nreally\n")
    started = time.monotonic()
    assert LiteRTAgent(APP_MODEL).info.path == APP_MODEL
    assert time.monotonic() - started < 10


def test_a_failure_that_says_nothing_about_the_model_is_not_remembered(tmp_path, monkeypatch):
    """A probe killed from outside (the OOM killer, a busy machine's timeout) must not brand a good model damaged."""
    from training import litert_probe

    real = litert_probe._worker.verdict
    answers = iter([("it crashed the LiteRT interpreter (SIGKILL): the file is damaged", False)])
    monkeypatch.setattr(litert_probe._worker, "verdict", lambda data: next(answers, None) or real(data))
    with pytest.raises(ModelFileError, match="SIGKILL"):
        LiteRTAgent(APP_MODEL)
    assert not _verdict_file(tmp_path).exists()
    assert LiteRTAgent(APP_MODEL).info.path == APP_MODEL  # probed again, for real: it is fine
    assert _verdict_file(tmp_path).read_text() == "ok"


def test_the_probe_is_not_fooled_by_a_training_package_in_the_current_folder(tmp_path):
    """The probe child runs `python -m training.litert_probe`; a `training/` of the user's own in the current folder
    (common in ML projects) must not be the one it runs."""
    shadow = tmp_path / "project" / "training"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    (shadow / "litert_probe.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    result = subprocess.run([PLANESTRIKE, "eval", "--agent", "app", "--exact", "--json"], capture_output=True,
                            text=True, timeout=120, cwd=shadow.parent, env={**os.environ,
                                                                            "XDG_CACHE_HOME": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mean_strikes"] == pytest.approx(13.191666, abs=1e-6)


def test_shorthands_name_the_bundled_conversions_and_anything_path_like_is_a_file():
    from assets import BUNDLED_TFLITE, BUNDLED_TFLITE_FLOAT16, BUNDLED_TFLITE_INT8
    from training.litert_agent import model_path

    assert model_path(None) == model_path("float32") == BUNDLED_TFLITE
    assert model_path("float16") == BUNDLED_TFLITE_FLOAT16 and model_path("int8") == BUNDLED_TFLITE_INT8
    for argument in ("./int8", "models/int8", "int8.tflite", "float16.tflite", "my-model"):
        assert model_path(argument) == Path(argument)  # a path separator or .tflite: always a file
    for spec, name in [("tflite", "LiteRT planestrike"), ("tflite:float32", "LiteRT planestrike"),
                       ("tflite:float16", "LiteRT planestrike.float16"), ("tflite:int8", "LiteRT planestrike.int8")]:
        agent = parse_agent_spec(spec)
        assert agent.name == name and agent.path == model_path(spec.partition(":")[2] or None)


def test_a_missing_bundled_variant_says_how_to_make_it(monkeypatch, tmp_path):
    from training import litert_agent

    missing = tmp_path / "planestrike.int8.tflite"
    monkeypatch.setitem(litert_agent.BUNDLED_VARIANTS, "int8", missing)
    monkeypatch.setitem(litert_agent._REMAKE, missing, "planestrike convert --quantize dynamic-int8")
    with pytest.raises(ModelFileError, match=r"bundled model is missing.*'planestrike convert --quantize dynamic-int8'"):
        parse_agent_spec("tflite:int8")


def test_a_model_knows_its_source_checkpoint_only_from_a_sidecar_that_describes_it(tmp_path):
    """``source_checkpoint_sha256`` lets the app tell 'another model' from 'a bad conversion of this one'."""
    import hashlib
    import shutil

    from assets import BUNDLED_CHECKPOINT, BUNDLED_TFLITE
    from training.flax_agent import FlaxAgent
    from training.litert_agent import BUNDLED_VARIANTS

    checkpoint = hashlib.sha256(BUNDLED_CHECKPOINT.read_bytes()).hexdigest()
    assert FlaxAgent.from_checkpoint(BUNDLED_CHECKPOINT).source_checkpoint_sha256 == checkpoint
    for model in BUNDLED_VARIANTS.values():
        assert LiteRTAgent(model).source_checkpoint_sha256 == checkpoint
    assert LiteRTAgent(APP_MODEL).source_checkpoint_sha256 is None  # no sidecar: unknown
    assert parse_agent_spec("hunter").source_checkpoint_sha256 is None  # the base class says: unknown

    copy = tmp_path / "copy.tflite"
    shutil.copy(BUNDLED_TFLITE, copy)
    sidecar = json.loads(BUNDLED_TFLITE.with_name(BUNDLED_TFLITE.name + ".json").read_text())
    (tmp_path / "copy.tflite.json").write_text(json.dumps(sidecar))
    assert LiteRTAgent(copy).source_checkpoint_sha256 == checkpoint
    for broken in ({**sidecar, "sha256": "0" * 64},  # describes another model (a crash between the two writes)
                   {**sidecar, "source_checkpoint": None}, {**sidecar, "source_checkpoint": {"sha256": "x"}}):
        (tmp_path / "copy.tflite.json").write_text(json.dumps(broken))
        assert LiteRTAgent(copy).source_checkpoint_sha256 is None
    (tmp_path / "copy.tflite.json").write_text("{not json")
    assert LiteRTAgent(copy).source_checkpoint_sha256 is None
