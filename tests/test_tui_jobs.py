"""Training, conversion and model loading from the app, against the real `planestrike` subcommands."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from tui_helpers import REFERENCE_MODELS, make_app, wait_for_agents, wait_until

from planestrike_tui.roster import SlotState
from planestrike_tui.screens.conversion import ConversionScreen
from planestrike_tui.screens.training import TrainingScreen

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def fresh_checkpoint(tmp_path_factory) -> Path:
    """An untrained checkpoint written by the training package's own saver (conversion does not care about skill)."""
    import jax

    from training.checkpoint import Checkpoint, save_checkpoint
    from training.config import TrainConfig
    from training.model import init_params

    config = TrainConfig()
    params = init_params(config.model, jax.random.PRNGKey(0))
    directory = tmp_path_factory.mktemp("run")
    save_checkpoint(directory, Checkpoint(params, None, 0, 0, np.zeros(2, np.uint32), config))
    return directory


async def open_conversion(pilot, checkpoint: Path) -> ConversionScreen:
    pilot.app.open_conversion(checkpoint)
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConversionScreen) and pilot.app.screen.is_mounted,
                     "the conversion screen")
    return pilot.app.screen


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def open_training(pilot) -> TrainingScreen:
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, TrainingScreen) and pilot.app.screen.is_mounted,
                     "the training screen")
    return pilot.app.screen


async def test_training_runs_streams_progress_and_stops_cleanly_on_cancel(tmp_path):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        screen = await open_training(pilot)
        screen.query_one("#games").value = "100000000"  # far more than the test waits for
        screen.query_one("#out").value = str(tmp_path / "run")
        await pilot.click("#start")
        # Until the first update (Python and JAX load, then the first chunk compiles: seconds) the line counts.
        waiting = []

        def first_update() -> bool:
            text = text_of(screen, "#stats")
            if not waiting or waiting[-1] != text:
                waiting.append(text)
            return bool(screen.chart.curve.lengths)

        await wait_until(pilot, first_update, "the first progress line", timeout=90)
        waiting = waiting[:-1]  # the last one is the first update's
        pattern = re.compile(r"(Starting the trainer \(loading JAX\)|Compiling)… (\d+) s")
        assert waiting and all(pattern.match(text) for text in waiting), waiting
        seconds = [int(pattern.match(text)[2]) for text in waiting]
        assert seconds == sorted(seconds) and len(set(seconds)) >= 2, f"the seconds count up: {waiting}"
        assert any(text.startswith("Compiling… ") for text in waiting), "the trainer's start object was read"
        assert "games/s" in text_of(screen, "#stats") and "ETA" in text_of(screen, "#progress-label")
        assert screen.query_one("#progress").progress > 0
        assert screen.query_one("#progress").total == -(-100_000_000 // 512), "the updates the trainer announced"
        assert not screen.query_one("#convert").display, "nothing to convert while it trains"
        process = screen.job.process
        await pilot.press("x")
        await wait_until(pilot, lambda: screen.job is None, "the trainer to stop", timeout=60)
        assert process.returncode is not None
        assert text_of(screen, "#outcome").startswith("Stopped. Checkpoint: ")
        assert (tmp_path / "run" / "checkpoint.msgpack").is_file()
        assert screen.query_one("#convert").display and app.focused is screen.query_one("#convert")
        await pilot.pause()  # let the layout settle: the outcome line has just changed the screen's layout
        await pilot.click("#convert")  # training ends by offering conversion of its checkpoint
        await wait_until(pilot, lambda: isinstance(app.screen, ConversionScreen) and app.screen.is_mounted,
                         "the conversion screen")
        assert app.screen.query_one("#checkpoint").value == str(tmp_path / "run" / "checkpoint.msgpack")


async def test_a_training_error_is_shown_without_a_progress_bar_and_the_app_keeps_running():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        screen = await open_training(pilot)
        screen.query_one("#games").value = "-5"
        await pilot.click("#start")
        await wait_until(pilot, lambda: screen.job is None and text_of(screen, "#outcome"), "the failure")
        assert text_of(screen, "#outcome") == (
            "Training failed: argument --games: must be a whole number from 1 to 10,000,000,000, got -5 "
            "(see 'planestrike train --help')"
        )
        assert screen.query_one("#outcome").has_class("-error")
        assert not screen.query_one("#progress-row").visible, "a run that never started shows no bar (at 100%)"
        assert re.fullmatch(r"The trainer ended after \d+ s, before its first update\.", text_of(screen, "#stats"))
        assert not screen.query_one("#convert").display
        assert not screen.query_one("#start").disabled
        await pilot.press("escape")
        await pilot.press("enter")  # back in the game, which goes on
        await wait_until(pilot, lambda: app.game.match.boards[1].strikes == 1, "the hunter's answer")


async def test_conversion_shows_the_parity_report_and_the_model_becomes_active(fresh_checkpoint, tmp_path):
    app = make_app(panels=("flax", "tflite", "hunter"))
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        screen = await open_conversion(pilot, fresh_checkpoint)
        out = tmp_path / "fresh.tflite"
        screen.query_one("#out").value = str(out)
        await pilot.click("#start")
        await wait_until(pilot, lambda: screen.query_one("#report").row_count, "the report", timeout=90)
        rows = {str(row[0]): str(row[1]) for row in (screen.query_one("#report").get_row_at(i)
                                                      for i in range(screen.query_one("#report").row_count))}
        assert rows["Parity gate"] == "passed"
        assert rows["Model"] == str(out)
        assert float(rows["Max |Δp| vs Flax"]) < 1e-5
        assert "FULLY_CONNECTED" in rows["Ops"]
        assert text_of(screen, "#outcome") == f"Converted: {out}. Parity check passed."
        await pilot.click("#activate")
        await wait_until(pilot, lambda: app.screen is app.game, "the game screen")
        flax, tflite = app.roster.first_of("flax"), app.roster.first_of("tflite")
        assert flax.spec == f"flax:{fresh_checkpoint}"
        assert tflite.spec == f"tflite:{out}"
        assert [slot.kind for slot in app.roster.slots.values()] == ["hunter", "flax", "tflite"], \
            "each in the place of the panel it replaced (the opponent's first)"
        await wait_for_agents(pilot, timeout=90)
        assert flax.state is SlotState.READY, flax.error
        assert tflite.state is SlotState.READY, tflite.error
        assert app.game.panels[tflite.spec].border_title == "LiteRT fresh"
        strip = str(app.game.query_one("#comparison").render())
        assert f"Against {flax.title}" in strip  # the reference follows the reloaded panel
        assert "LiteRT fresh" in strip and "same " in strip  # the same net before and after conversion
        assert "different models" not in strip


async def test_a_conversion_error_is_shown(tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        screen = await open_conversion(pilot, tmp_path / "missing")
        await pilot.click("#start")
        await wait_until(pilot, lambda: "failed" in text_of(screen, "#outcome"), "the failure", timeout=60)
        outcome = text_of(screen, "#outcome")  # the converter's own one-line message, without its prefix
        assert outcome.startswith("Conversion failed: ") and "planestrike: error" not in outcome
        assert str(tmp_path / "missing") in outcome and "\n" not in outcome
        assert screen.query_one("#activate").disabled


async def test_loading_a_model_file_from_the_app_adds_its_panel():
    app = make_app(panels=("tflite", "hunter"))
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "ModelDialog", "the dialog")
        app.screen.query_one("#path").value = str(REFERENCE_MODELS / "planestrike_tf.tflite")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.game, "the dialog to close")
        await wait_for_agents(pilot)
        slot = app.roster.get(f"tflite:{REFERENCE_MODELS / 'planestrike_tf.tflite'}")
        assert slot is not None, "a model file gets a panel of its own"
        assert slot.state is SlotState.READY, slot.error
        assert app.game.panels[slot.spec].border_title == "LiteRT planestrike_tf"
        assert {"tflite", slot.spec} <= set(app.game.current_thoughts())


async def test_the_output_follows_the_quantization_and_a_cancelled_conversion_keeps_the_old_model(
        fresh_checkpoint, tmp_path):
    from textual.widgets import Select

    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        screen = await open_conversion(pilot, fresh_checkpoint)
        out = screen.query_one("#out")
        assert Path(out.value) == fresh_checkpoint / "planestrike.tflite"
        screen.query_one("#quantize", Select).value = "dynamic-int8"
        await pilot.pause()
        assert Path(out.value) == fresh_checkpoint / "planestrike.int8.tflite"  # never the float model's file
        screen.query_one("#quantize", Select).value = "float16"
        await pilot.pause()
        assert Path(out.value) == fresh_checkpoint / "planestrike.float16.tflite"

        from assets import BUNDLED_TFLITE_FLOAT16

        target = tmp_path / "kept.float16.tflite"
        earlier = BUNDLED_TFLITE_FLOAT16.read_bytes()  # a model of another checkpoint: must survive the cancel
        target.write_bytes(earlier)
        out.value = str(target)
        await pilot.click("#start")
        await wait_until(pilot, lambda: not screen.query_one("#cancel").disabled, "the cancel button")
        await pilot.pause(1.0)  # the converter is importing TensorFlow
        await pilot.click("#cancel")
        await wait_until(pilot, lambda: text_of(screen, "#outcome").startswith("Cancelled"),
                         f"the cancellation ({text_of(screen, '#outcome')})", timeout=10)
        assert target.read_bytes() == earlier
        assert [p.name for p in tmp_path.iterdir()] == [target.name], "no temporary file left behind"
        assert not screen.query_one("#start").disabled and screen.query_one("#cancel").disabled
        assert screen.query_one("#add-panels").disabled


async def test_convert_all_variants_and_add_them_as_panels(fresh_checkpoint, tmp_path):
    app = make_app(panels=("flax", "hunter"), opponent="hunter")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        screen = await open_conversion(pilot, fresh_checkpoint)
        screen.query_one("#out").value = str(tmp_path / "fresh.tflite")
        await pilot.click("#start-all")
        await wait_until(pilot, lambda: not screen.query_one("#add-panels").disabled, "three conversions",
                         timeout=240)
        models = [tmp_path / name for name in ("fresh.tflite", "fresh.float16.tflite", "fresh.int8.tflite")]
        assert all(model.exists() and model.with_name(model.name + ".json").exists() for model in models)
        await pilot.click("#add-panels")
        await wait_until(pilot, lambda: app.screen is app.game, "the game screen")
        await wait_for_agents(pilot, timeout=60)
        titles = [panel.border_title for panel in app.game.panels.values()]
        assert titles[-3:] == ["LiteRT fresh", "LiteRT fresh.float16", "LiteRT fresh.int8"]
        assert all(slot.state is SlotState.READY for slot in app.roster.slots.values())


@pytest.mark.parametrize("size", [(80, 24), (140, 45)])
async def test_the_load_dialog_shows_its_whole_hint_and_problem(size, tmp_path):
    from textual.geometry import Region

    def shown(widget) -> str:
        """The text drawn in the widget's region, which must lie within the dialog (else the dialog cuts it)."""
        assert widget.screen.query_one("#dialog").content_region.contains_region(widget.region), widget.region
        strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
        return " ".join(" ".join(strip.text.split()) for strip in strips).strip()

    app = make_app()
    async with app.run_test(size=size) as pilot:
        await wait_for_agents(pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "ModelDialog", "the dialog")
        await pilot.pause()
        hint = app.screen.query_one(".hint")
        assert shown(hint) == ("A .tflite file opens in a LiteRT panel of its own, a checkpoint (a .msgpack file or "
                               "a run directory) in a Flax panel. Enter loads it, escape cancels.")
        missing = tmp_path / ("a-long-folder-name-" * 4) / "model.tflite"
        app.screen.query_one("#path").value = str(missing)
        await pilot.press("enter")
        await pilot.pause()
        assert shown(app.screen.query_one("#problem")).replace(" ", "") == \
            f"{missing} does not exist: check the path.".replace(" ", "")
