"""SVG snapshots of the main screens at 80x24 and 140x45, with fixed seeds.

The screens are drawn once every agent has loaded (or failed) and answered, so they do not depend on timing;
latencies read a frozen clock and the Flax-LiteRT difference is shown only as below 1e-6. Regenerate after a deliberate change with
``.venv/bin/pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planestrike_tui import roster
from planestrike_tui.widgets import comparison_strip
from planestrike_tui.app import PlanestrikeApp
from planestrike_tui.roster import RosterConfig
from planestrike_tui.screens import training
from tui_helpers import REFERENCE_MODELS, lose_row_by_row, wait_for_agents, wait_until

SIZES = {"80x24": (80, 24), "140x45": (140, 45)}


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(roster, "clock", lambda: 0.0)  # every latency reads 0 µs
    # Flax and LiteRT differ by float rounding (around 1e-12), which depends on the CPU's instruction set.
    monkeypatch.setattr(comparison_strip, "format_difference", lambda diff: "<1e-6" if diff < 1e-6 else f"{diff:.0e}")
    monkeypatch.setattr(comparison_strip, "format_kl", lambda kl: "<1e-6" if kl < 1e-6 else f"{kl:.0e}")
    monkeypatch.setattr(training, "default_run_dir", lambda: Path("runs/app"))


def bundled_app(**config) -> PlanestrikeApp:
    """The app exactly as bare `planestrike` opens it (Flax opponent, bundled models), seed 7."""
    return PlanestrikeApp(RosterConfig(seed=7, **config))


async def settle(pilot) -> None:
    await wait_for_agents(pilot)


def strike_twice(cells: tuple[int, ...] = (27, 36)):
    async def run_before(pilot) -> None:
        await wait_for_agents(pilot)
        game = pilot.app.game
        for action in cells:
            game.strike(action)
            await wait_until(pilot, lambda: game.match.over or game.seats[game.match.to_move] is None, "the answer")
        await wait_for_agents(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_at_start(snap_compare, size):
    assert snap_compare(bundled_app(), terminal_size=SIZES[size], run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_after_two_rounds(snap_compare, size):
    assert snap_compare(bundled_app(), terminal_size=SIZES[size], run_before=strike_twice())


PANEL_SETS = {
    "1": ("flax",),
    "3": ("flax", "tflite:float16", "tflite:int8"),
    "6": ("flax", "tflite", "tflite:float16", "tflite:int8", "hunter", "app"),  # agents that answer in step
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("panels", PANEL_SETS)
def test_panel_layouts(snap_compare, panels, size):
    """1, 3 and 6 panels: at 140x45 everything fits; at 80x24 the opponent's panel, the strip and the status."""
    assert snap_compare(bundled_app(panels=PANEL_SETS[panels]), terminal_size=SIZES[size],
                        run_before=strike_twice())


def test_difference_view(snap_compare):
    """Every variant as its difference in log10 p from Flax, after two rounds: float32 blank, float16 faint,
    int8 strong."""
    async def run_before(pilot) -> None:
        await strike_twice()(pilot)
        await pilot.press("f")

    app = bundled_app(panels=("flax", "tflite", "tflite:float16", "tflite:int8", "hunter"))
    assert snap_compare(app, terminal_size=SIZES["140x45"], run_before=run_before)


def test_main_screen_with_numbers(snap_compare):
    async def run_before(pilot) -> None:
        await strike_twice()(pilot)
        await pilot.press("v")  # log10 p: what the percentages of a confident policy round away

    assert snap_compare(bundled_app(), terminal_size=SIZES["140x45"], run_before=run_before)


def test_reference_model_against_the_hunter(snap_compare):
    """The official app's model loaded with --model: its panel is titled with the file, beside the hunter's."""
    app = bundled_app(opponent="tflite", model=REFERENCE_MODELS / "planestrike_tf.tflite")
    assert snap_compare(app, terminal_size=SIZES["140x45"], run_before=strike_twice((0, 63)))


def test_placement_mode(snap_compare):
    async def run_before(pilot) -> None:
        await wait_for_agents(pilot)
        await pilot.press("p", "r", "up")

    assert snap_compare(bundled_app(opponent="hunter"), terminal_size=SIZES["80x24"], run_before=run_before)


def test_opponent_dialog(snap_compare):
    async def run_before(pilot) -> None:
        await wait_for_agents(pilot)
        await pilot.press("o")
        await wait_until(pilot, lambda: pilot.app.screen.id != "_default" and pilot.app.screen is not pilot.app.game,
                         "the dialog")

    assert snap_compare(bundled_app(), terminal_size=SIZES["80x24"], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_training_screen(snap_compare, size):
    async def run_before(pilot) -> None:
        await wait_for_agents(pilot)
        await pilot.press("t")
        await wait_until(pilot, lambda: pilot.app.screen.id == "training", "the training screen")

    assert snap_compare(bundled_app(opponent="hunter"), terminal_size=SIZES[size], run_before=run_before)


def test_colours_follow_the_theme(snap_compare):
    """Every colour comes from the theme: a light theme (projectors) recolours boards, heatmaps and strip."""
    async def run_before(pilot) -> None:
        pilot.app.theme = "textual-light"
        await strike_twice()(pilot)

    assert snap_compare(bundled_app(), terminal_size=SIZES["140x45"], run_before=run_before)


def test_help_screen(snap_compare):
    async def run_before(pilot) -> None:
        await wait_for_agents(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen", "the help screen")

    assert snap_compare(bundled_app(opponent="hunter", panels=("hunter",)), terminal_size=SIZES["80x24"],
                        run_before=run_before)


def solved(game) -> bool:
    """Every position of the game solved: the regrets and the summary are final."""
    status = str(game.query_one("#status").render()).splitlines()
    return not game.solving and not any("…" in line for line in status if "perfect play" in line)


def test_end_of_a_game_reveals_both_planes_and_sums_it_up(snap_compare):
    async def run_before(pilot) -> None:
        await wait_for_agents(pilot)
        game = pilot.app.game
        await lose_row_by_row(pilot)  # the hunter wins
        await wait_until(pilot, lambda: solved(game), "the game's regrets", timeout=60)
        await pilot.pause()  # the status has grown: let the layout follow

    app = bundled_app(opponent="hunter", panels=("hunter", "optimal"))
    assert snap_compare(app, terminal_size=SIZES["140x45"], run_before=run_before)


def test_spectator_labels_the_watched_board_and_keeps_a_tally(snap_compare):
    """Hunter against the bundled model, paused by the presenter after the first game and three moves of the next."""
    async def run_before(pilot) -> None:
        game = pilot.app.game
        await pilot.press("space")
        await wait_for_agents(pilot)

        async def step() -> None:
            before = sum(board.strikes for board in game.match.boards), game.match_number
            await pilot.press("right")
            await wait_until(pilot, lambda: (sum(b.strikes for b in game.match.boards), game.match_number) != before,
                             "the move")
            await wait_for_agents(pilot)

        while game.match_number == 1:
            await step()
        for _ in range(3):
            await step()
        await wait_until(pilot, lambda: solved(game) and game.tally.scored == 1, "the tally's regrets", timeout=60)
        await pilot.pause()

    app = PlanestrikeApp(RosterConfig(seed=21, spectate=("hunter", "tflite"), panels=("hunter", "tflite")))
    assert snap_compare(app, terminal_size=SIZES["140x45"], run_before=run_before)
