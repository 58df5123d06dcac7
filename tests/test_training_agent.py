"""The trained policy as an agent: the bundled checkpoint, its eval report, and the ``flax`` spec."""

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from assets import BUNDLED_CHECKPOINT, BUNDLED_EVAL_REPORT
from engine.evaluation import evaluate
from engine.specs import parse_agent_spec
from planestrike_tui.cli import main
from training.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def bundled():
    agent = parse_agent_spec("flax")
    yield agent
    agent.close()


@pytest.mark.parametrize("spec", ["flax", "tflite"])
def test_the_bundled_agent_plays_the_proven_optimum_exactly(spec, bundled):
    """Masked argmax, lowest index on ties, as the app plays it: 486 misses over the 120 placements, 241/20."""
    agent = bundled if spec == "flax" else parse_agent_spec(spec)
    try:
        report = evaluate(agent, exact=True)
    finally:
        if agent is not bundled:
            agent.close()
    assert Fraction(report.mean_strikes).limit_denominator(120) == Fraction(241, 20)
    recorded = json.loads(BUNDLED_EVAL_REPORT.read_text())
    assert recorded["exact_mean"] == pytest.approx(report.mean_strikes, abs=1e-9)
    assert {"command", "stages", "params_sha256", "seed", "date", "git_revision"} <= set(recorded)
    assert all(stage.startswith("planestrike train ") for stage in recorded["stages"])


def test_bundled_agent_is_named_after_its_file_and_deterministic(bundled):
    assert bundled.name == "Flax (checkpoint.msgpack)" and bundled.kind == "flax" and bundled.deterministic
    boards = np.zeros((3, 8, 8), np.float32)
    boards[1, 3, 3] = 1.0
    boards[2, :, :] = -1.0
    boards[2, 7, 7] = 0.0  # a single untried cell must be the choice
    probabilities = bundled.probabilities_batch(boards)
    assert probabilities.shape == (3, 64) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(bundled.probabilities(boards[1]), probabilities[1])  # batch size does not matter
    assert bundled.choose(boards[2]) == 63
    assert list(bundled.choose_batch(boards)) == list(bundled.choose_batch(boards))


def test_spec_with_a_path_names_it_and_bad_files_are_one_clear_error(tmp_path):
    agent = parse_agent_spec(f"flax:{BUNDLED_CHECKPOINT}")
    assert agent.name == f"Flax ({BUNDLED_CHECKPOINT})"
    broken = tmp_path / "broken.msgpack"
    broken.write_bytes(BUNDLED_CHECKPOINT.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=f"checkpoint {broken} is truncated or corrupt"):
        parse_agent_spec(f"flax:{broken}")


def test_the_cli_evaluates_the_bundled_agent(capsys):
    assert main(["eval", "--agent", "flax", "--exact", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["agent"] == "Flax (checkpoint.msgpack)" and report["exact"] and report["mean_strikes"] == pytest.approx(12.05)


def test_the_agent_module_loads_jax_only_when_an_agent_is_built():
    """engine.specs imports every registered kind's module to list the kinds: that must stay cheap."""
    code = "import sys, training.flax_agent; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
