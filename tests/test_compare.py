"""`planestrike compare`: the same boards for every agent, pairwise differences, per-move latency."""

import json

import numpy as np
import pytest
from litert_helpers import APP_MODEL, assert_one_line_error, fresh_checkpoint, run_cli

from training.compare import CompareConfig, compare_agents, strike_distribution
from training.parity import game_boards

PAIR_KEYS = {"a", "b", "max_abs_diff", "mean_abs_diff", "kl", "argmax_agreement"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real checkpoint and its real conversion."""
    from training.convert import ConvertConfig, convert_checkpoint

    directory = tmp_path_factory.mktemp("compare-run")
    fresh_checkpoint(directory, seed=5)
    convert_checkpoint(ConvertConfig(checkpoint=directory))
    return directory


def test_flax_against_its_own_tflite_agrees_everywhere(run_dir, tmp_path):
    flax, tflite = f"flax:{run_dir}", f"tflite:{run_dir / 'planestrike.tflite'}"
    result = run_cli("compare", "--agents", f"{flax},{tflite}", "--boards", "200", "--json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert set(report) == {"boards", "agents", "pairs"} and report["boards"] == 200
    assert list(report["agents"]) == [flax, tflite]
    for timing in report["agents"].values():
        assert set(timing) == {"latency_us_p50", "latency_us_p95"}
        assert 0 < timing["latency_us_p50"] <= timing["latency_us_p95"]
    [pair] = report["pairs"]
    assert set(pair) == PAIR_KEYS and (pair["a"], pair["b"]) == (flax, tflite)
    assert pair["max_abs_diff"] <= 1e-5 and pair["argmax_agreement"] == 1.0
    assert 0 <= pair["kl"] < 1e-6 and pair["mean_abs_diff"] <= pair["max_abs_diff"]


def test_every_pair_of_three_different_agents_is_reported():
    agents = ("hunter", "random", f"tflite:{APP_MODEL}")
    report = compare_agents(CompareConfig(agents=agents, boards=300, seed=1)).to_dict()
    assert [(p["a"], p["b"]) for p in report["pairs"]] == [(agents[0], agents[1]), (agents[0], agents[2]),
                                                            (agents[1], agents[2])]
    by_pair = {(p["a"], p["b"]): p for p in report["pairs"]}
    hunter_random, hunter_app = by_pair[agents[:2]], by_pair[(agents[0], agents[2])]
    # The random agent spreads its strikes evenly; the hunter and the app's trained model both aim at the plane.
    assert hunter_random["argmax_agreement"] < hunter_app["argmax_agreement"] < 1
    assert hunter_random["kl"] > 0 and hunter_app["kl"] > 0
    assert all(np.isfinite(p[key]) for p in report["pairs"] for key in PAIR_KEYS - {"a", "b"})


def test_identical_scores_have_zero_kl_and_the_strike_distribution_ignores_tried_cells():
    boards = game_boards(50, seed=2)
    scores = np.random.default_rng(0).random((50, 64))
    distribution = strike_distribution(scores, boards)
    assert np.allclose(distribution.sum(axis=1), 1.0)
    assert (distribution[boards.reshape(50, 64) != 0] == 0).all()
    from training.compare import _pair

    same = _pair("x", "y", scores, scores, boards)
    assert same.kl == 0 and same.max_abs_diff == 0 and same.argmax_agreement == 1


def test_cli_table_is_readable(tmp_path):
    result = run_cli("compare", "--agents", f"hunter,tflite:{APP_MODEL}", "--boards", "200", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "200 boards" in result.stdout and "p95 us" in result.stdout
    assert f"hunter / tflite:{APP_MODEL}" in result.stdout and "same cell" in result.stdout


@pytest.mark.parametrize("agents, fragments", [
    ("hunter", ["at least two agents"]),
    ("hunter,hunter", ["the same agent twice"]),
    ("hunter,chess", ["unknown agent 'chess'"]),
    ("hunter,,random", ["empty agent"]),
    ("hunter,tflite:/nonexistent.tflite", ["/nonexistent.tflite", "no such file"]),
])
def test_cli_errors_are_one_line(tmp_path, agents, fragments):
    assert_one_line_error(run_cli("compare", "--agents", agents, "--boards", "50", cache=tmp_path), *fragments)
