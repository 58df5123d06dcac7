"""The training screen's chart and life cycle, replaying a recorded run so that every screen is deterministic.

``recordings/train_seed0_400k.jsonl`` is the stdout of a real run, made with
``planestrike train --progress jsonl --games 400000 --seed 0 --out runs/app`` (the checkpoint path rewritten to
``runs/app/...``): a ``start`` object, 51 progress objects (49 with an exact evaluation), ``done``. The screen runs
a real child process that prints those lines, through the same ``Job`` and parser as a real run, so nothing
depends on how fast this machine trains. A real training run through the screen is in test_tui_jobs.py.
Regenerate the SVGs with ``.venv/bin/pytest tests/test_tui_training_screen.py --snapshot-update`` and look at them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tui_helpers import make_app, wait_for_agents, wait_until

from planestrike_tui import training_chart
from planestrike_tui.screens import training
from planestrike_tui.screens.training import TrainingScreen, TrainRequest
from planestrike_tui.training_chart import HUNTER_MEAN, OPTIMAL_MEAN, format_games, format_strikes, ticks

RECORDING = Path(__file__).with_name("recordings") / "train_seed0_400k.jsonl"
RECORDED = [json.loads(line) for line in RECORDING.read_text().splitlines()]
PROGRESS = [data for data in RECORDED if "event" not in data]
SIZES = {"80x24": (80, 24), "140x45": (140, 45)}

# Prints the first COUNT lines of the recording (once the file GATE exists, if one is named); with fewer than all
# of them, it then waits as a run still training does (the app's exit interrupts it, as it would the trainer).
REPLAY = """
import os, sys, time
recording, count, total, gate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + 60
while gate and not os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.02)
lines = open(recording).read().splitlines()[:count]
for line in lines:
    print(line, flush=True)
if len(lines) < total:
    time.sleep(120)
"""


@pytest.fixture(autouse=True)
def fixed_run_dir(monkeypatch):
    monkeypatch.setattr(training, "default_run_dir", lambda: Path("runs/app"))


def replaying(monkeypatch, lines: int = len(RECORDED), gate: Path | None = None) -> None:
    """A run started from the screen replays the first ``lines`` lines of the recording (after ``gate`` exists)."""
    monkeypatch.setattr(TrainRequest, "argv", lambda request: [sys.executable, "-c", REPLAY, str(RECORDING),
                                                               str(lines), str(len(RECORDED)), str(gate or "")])


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


def chart_text(screen) -> str:
    chart = screen.query_one("#chart")
    return chart.render().plain


async def open_training(pilot) -> TrainingScreen:
    await wait_for_agents(pilot)
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, TrainingScreen) and pilot.app.screen.is_mounted,
                     "the training screen")
    return pilot.app.screen


async def replay_to_the_end(pilot) -> TrainingScreen:
    screen = await open_training(pilot)
    await pilot.press("enter")  # focus starts on Start
    await wait_until(pilot, lambda: screen.phase == "ended", "the replayed run to end")
    await pilot.pause()
    return screen


async def replay_part(pilot, progress_lines: int) -> TrainingScreen:
    screen = await open_training(pilot)
    await pilot.press("enter")
    await wait_until(pilot, lambda: len(screen.chart.curve.lengths) == progress_lines, "the replayed updates")
    await pilot.pause()
    return screen


# ------------------------------------------------------------------------------------------------ pilot tests
@pytest.mark.asyncio
@pytest.mark.parametrize("size", SIZES)
async def test_a_finished_run_charts_both_series_with_axes_values_and_reference_lines(monkeypatch, size):
    replaying(monkeypatch)
    app = make_app()
    async with app.run_test(size=SIZES[size]) as pilot:
        screen = await replay_to_the_end(pilot)
        curve = screen.chart.curve
        assert curve.lengths == [(data["games"], data["mean_length"]) for data in PROGRESS]
        assert curve.evaluations == [(data["games"], data["eval_exact"]) for data in PROGRESS if "eval_exact" in data]
        chart = chart_text(screen)
        assert "games" in chart and "strikes" in chart, "both axes are titled"
        for tick in ("0", "100k", "200k", "300k", "400k"):
            assert f" {tick} " in f" {chart} ", f"x tick {tick}"
        assert "20" in chart and "40" in chart, "y values in strikes"
        # 57 strikes down to 12 in a few rows: the two lines 0.025 apart share a row, and a label.
        assert f"hunter {HUNTER_MEAN:.3f} · optimum {OPTIMAL_MEAN:.3f}" in chart
        assert chart.count("•") >= 10, "the exact evaluations are points"
        assert "exact evaluation" in text_of(screen, "#legend") and "training games" in text_of(screen, "#legend")

        last = PROGRESS[-1]
        assert text_of(screen, "#stats") == (f"{last['games']:,} games · {last['games_per_s']:,.0f} games/s · "
                                             f"mean length {last['mean_length']:.2f} · exact {last['eval_exact']:.3f}")
        bar = screen.query_one("#progress")
        assert bar.total == bar.progress == 782, "the bar counts the updates the start object announced"
        assert text_of(screen, "#progress-label") == "update 782 of 782 · ETA 0:00"
        assert text_of(screen, "#outcome") == "Finished. Checkpoint: runs/app/checkpoint.msgpack"
        assert screen.query_one("#convert").display and app.focused is screen.query_one("#convert")
        assert screen.query_one("#chart").region.bottom <= SIZES[size][1] - 1, "the chart fits above the footer"
        assert screen.query_one("#chart").region.height >= 12, "tall enough to read"


@pytest.mark.asyncio
async def test_the_close_up_shows_the_last_third_and_separates_the_reference_lines(monkeypatch):
    replaying(monkeypatch)
    app = make_app()
    async with app.run_test(size=SIZES["140x45"]) as pilot:
        screen = await replay_to_the_end(pilot)
        await pilot.press("z")
        await pilot.pause()
        assert screen.chart.zoomed
        rows = chart_text(screen).splitlines()
        hunter = [i for i, row in enumerate(rows) if f"hunter {HUNTER_MEAN:.3f}" in row]
        optimum = [i for i, row in enumerate(rows) if f"optimum {OPTIMAL_MEAN:.3f}" in row]
        assert len(hunter) == len(optimum) == 1 and hunter[0] < optimum[0], "two lines, each labelled, hunter above"
        x_axis = rows[-2]
        assert "400k" in x_axis and "100k" not in x_axis, "only the last third of the games"
        assert "12.20" in "\n".join(rows) and "12.05" in "\n".join(rows)
        await pilot.press("z")
        await pilot.pause()
        assert not screen.chart.zoomed and "100k" in chart_text(screen)


@pytest.mark.asyncio
async def test_while_the_run_goes_on_convert_is_not_offered_and_stop_has_the_focus(monkeypatch):
    replaying(monkeypatch, lines=12)  # start and 11 updates, then the "trainer" keeps running
    app = make_app()
    async with app.run_test(size=SIZES["80x24"]) as pilot:
        screen = await replay_part(pilot, 11)
        assert screen.phase == "training" and screen.job is not None
        assert not screen.query_one("#convert").display, "no checkpoint to convert while training runs"
        assert app.focused is screen.query_one("#stop")
        assert screen.query_one("#start").disabled and screen.query_one("#games").disabled
        assert screen.query_one("#progress").progress == PROGRESS[10]["step"]


@pytest.mark.asyncio
async def test_enter_in_a_field_starts_the_run(monkeypatch):
    replaying(monkeypatch)
    app = make_app()
    async with app.run_test(size=SIZES["80x24"]) as pilot:
        screen = await open_training(pilot)
        games = screen.query_one("#games")
        games.focus()
        await pilot.press("end", "backspace", "1")  # 200001 games: what the person typed is what runs
        started = []
        monkeypatch.setattr(screen, "start", lambda request: started.append(request))
        await pilot.press("enter")
        assert started == [TrainRequest(200_001, 0, Path("runs/app"))]


@pytest.mark.asyncio
async def test_until_the_first_update_the_screen_counts_the_seconds(monkeypatch, tmp_path):
    """Starting (before the trainer's start object), then compiling (after it), with the elapsed seconds."""
    now = [1000.0]
    monkeypatch.setattr(TrainingScreen, "clock", staticmethod(lambda: now[0]))
    gate = tmp_path / "go"
    replaying(monkeypatch, lines=1, gate=gate)  # the start object once the gate opens, then "compiling" for good
    app = make_app()
    async with app.run_test(size=SIZES["80x24"]) as pilot:
        screen = await open_training(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.phase == "starting", "the start")
        now[0] += 3
        await wait_until(pilot, lambda: text_of(screen, "#stats") == "Starting the trainer (loading JAX)… 3 s",
                         "the starting line to count")
        assert not screen.query_one("#progress-row").visible, "no bar before the trainer says how long the run is"
        gate.touch()
        await wait_until(pilot, lambda: screen.phase == "compiling", "the start object")
        now[0] += 9
        await wait_until(pilot, lambda: text_of(screen, "#stats").startswith("Compiling… 12 s"), "the compile line")
        assert screen.query_one("#progress-row").visible
        assert screen.query_one("#progress").total == 782 and screen.query_one("#progress").progress == 0
        assert text_of(screen, "#progress-label") == "update 0 of 782"


# --------------------------------------------------------------------------------------------- the chart alone
def test_the_reference_lines_are_the_engines_exact_means():
    from engine.agents import HunterAgent, OptimalAgent
    from engine.evaluation import evaluate

    assert evaluate(HunterAgent(), exact=True).mean_strikes == pytest.approx(HUNTER_MEAN, abs=1e-12)
    assert evaluate(OptimalAgent(), exact=True).mean_strikes == pytest.approx(OPTIMAL_MEAN, abs=1e-12)


def test_ticks_are_round_values_and_labels_are_short():
    assert ticks(0, 400_384, 6) == [0, 100_000, 200_000, 300_000, 400_000]
    assert ticks(9.7, 59.6, 5) == [10, 20, 30, 40, 50]
    assert ticks(9.7, 59.6, 3) == [20, 40]
    assert [format_games(g) for g in (0, 512, 50_000, 150_000, 1_500_000)] == ["0", "512", "50k", "150k", "1.5M"]
    assert [format_strikes(v, 0.025) for v in (12.05, 12.075)] == ["12.050", "12.075"]
    assert format_strikes(20, 10) == "20" and format_strikes(12.5, 2.5) == "12.5"


def test_a_long_run_keeps_a_bounded_number_of_points():
    curve = training_chart.Curve()
    for step in range(3 * training_chart.MAX_POINTS):
        curve.add(step * 512, 57.0 - step * 1e-3, eval_exact=30.0 if step % 16 == 0 else None)
    assert len(curve.lengths) <= training_chart.MAX_POINTS
    assert curve.lengths[0][0] == 0 and curve.lengths[-1][0] == (3 * training_chart.MAX_POINTS - 1) * 512
    assert [g for g, _ in curve.lengths] == sorted(g for g, _ in curve.lengths)


# ------------------------------------------------------------------------------------------------- snapshots
@pytest.mark.parametrize("size", SIZES)
def test_snapshot_finished_run(snap_compare, monkeypatch, size):
    replaying(monkeypatch)
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=replay_to_the_end)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_close_up(snap_compare, monkeypatch, size):
    replaying(monkeypatch)

    async def run_before(pilot) -> None:
        await replay_to_the_end(pilot)
        await pilot.press("z")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=run_before)


def test_snapshot_run_in_progress(snap_compare, monkeypatch):
    replaying(monkeypatch, lines=12)

    async def run_before(pilot) -> None:
        await replay_part(pilot, 11)

    assert snap_compare(make_app(), terminal_size=SIZES["80x24"], run_before=run_before)


def test_snapshot_compiling(snap_compare, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(TrainingScreen, "clock", staticmethod(lambda: now[0]))
    replaying(monkeypatch, lines=1)

    async def run_before(pilot) -> None:
        screen = await open_training(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.phase == "compiling", "the start object")
        now[0] += 7
        await wait_until(pilot, lambda: text_of(screen, "#stats").startswith("Compiling… 7 s"), "the compile line")

    assert snap_compare(make_app(), terminal_size=SIZES["80x24"], run_before=run_before)
