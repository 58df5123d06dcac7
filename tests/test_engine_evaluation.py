"""The evaluation harness reproduces the known skill anchors."""

import numpy as np
import pytest

from engine import HunterAgent, PlanestrikeError, RandomAgent, evaluate, play_games
from engine.agents import Agent


def test_hunter_exact_mean_is_12_075():
    report = evaluate(HunterAgent(), exact=True)
    assert report.games == 120 and report.exact and report.ci95 == 0.0
    assert report.mean_strikes == pytest.approx(12.075, abs=1e-12)
    assert report.min >= 8 and report.max <= 64


def test_hunter_sampled_mean_agrees_with_the_exact_one_within_its_confidence_interval():
    report = evaluate(HunterAgent(), games=20_000, seed=0)
    assert abs(report.mean_strikes - 12.075) <= report.ci95 * 1.5  # allows for a rare unlucky seed
    assert 0.02 < report.ci95 < 0.04


def test_random_agent_mean_is_8_times_65_over_9():
    report = evaluate(RandomAgent(seed=0), games=20_000, seed=0)
    assert abs(report.mean_strikes - 8 * 65 / 9) <= report.ci95 * 1.5


def test_exact_evaluation_is_refused_for_a_stochastic_agent():
    with pytest.raises(PlanestrikeError, match="deterministic"):
        evaluate(RandomAgent(0), exact=True)


def test_legacy_exact_mean_weights_placements_by_the_legacy_distribution():
    hunter = HunterAgent()
    from engine import placement_probabilities

    lengths = play_games(hunter, np.arange(120))
    legacy = evaluate(hunter, exact=True, placements="legacy")
    assert legacy.mean_strikes == pytest.approx(float(lengths @ placement_probabilities("legacy")))
    assert legacy.games == 115


def test_same_seed_same_boards_same_result():
    a = evaluate(RandomAgent(seed=5), games=500, seed=5)
    b = evaluate(RandomAgent(seed=5), games=500, seed=5)
    assert a.mean_strikes == b.mean_strikes and a.p50 == b.p50


def test_an_agent_that_breaks_the_rules_is_reported():
    class Cheater(Agent):
        name = "Cheater"

        def choose_batch(self, boards):
            return np.zeros(len(boards), dtype=np.int64)  # always cell 0, even when tried

        def probabilities_batch(self, boards):
            return np.zeros((len(boards), 64), np.float32)

    with pytest.raises(PlanestrikeError, match="already tried"):
        evaluate(Cheater(), games=3)
