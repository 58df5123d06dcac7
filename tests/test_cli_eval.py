"""`planestrike eval` through a real subprocess: the output people and scripts read, and every bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLANESTRIKE = shutil.which("planestrike", path=str(Path(sys.executable).parent))


def run(*args):
    return subprocess.run([PLANESTRIKE, *args], capture_output=True, text=True, timeout=120)


def test_the_console_script_is_installed():
    assert PLANESTRIKE, "pip install -e . should put `planestrike` next to the Python running the tests"


def test_hunter_exact_json_has_the_documented_keys_and_the_anchor():
    result = run("eval", "--agent", "hunter", "--exact", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("agent", "games", "seed", "placements", "exact", "mean_strikes", "ci95", "sd", "p5", "p50", "p95", "max"):
        assert key in report
    assert report["mean_strikes"] == pytest.approx(12.075) and report["exact"] is True and report["games"] == 120


def test_random_sampled_report_is_a_readable_table_and_reproducible():
    first = run("eval", "--agent", "random", "--games", "3000", "--seed", "11")
    again = run("eval", "--agent", "random", "--games", "3000", "--seed", "11")
    assert first.returncode == 0, first.stderr
    assert "mean strikes" in first.stdout and "95% CI" in first.stdout
    strip_time = lambda out: [line for line in out.splitlines() if not line.startswith("time")]  # noqa: E731
    assert strip_time(first.stdout) == strip_time(again.stdout)
    mean = json.loads(run("eval", "--agent", "random", "--games", "3000", "--seed", "11", "--json").stdout)["mean_strikes"]
    assert abs(mean - 8 * 65 / 9) < 0.5


@pytest.mark.parametrize(
    "args, expected",
    [
        (["eval", "--agent", "nonsense"], "use one of random, hunter"),
        (["eval", "--agent", "random", "--exact"], "deterministic"),
        (["eval", "--agent", "hunter:extra"], "takes no argument"),
        (["eval", "--games", "0"], "must be a whole number from 1 to 1,000,000, got 0"),
        (["eval", "--games", "-5"], "must be a whole number from 1 to 1,000,000, got -5"),
        (["eval", "--games", "many"], "whole number"),
        (["eval", "--seed", "-3"], "must be a whole number from 0 to 4,294,967,295, got -3"),
        (["eval", "--placements", "biased"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(args, expected):
    result = run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_unknown_agent_message_lists_every_registered_form():
    from engine.specs import agent_kinds

    result = run("eval", "--agent", "nonsense")
    for kind in agent_kinds().values():
        assert kind.usage in result.stderr


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0 and "eval" in result.stdout


def test_play_options_without_the_command_go_to_play():
    result = run("--seed", "x")  # `planestrike --seed 3` is `planestrike play --seed 3`
    assert result.returncode == 2
    assert result.stderr.startswith("planestrike play: error: argument --seed")
