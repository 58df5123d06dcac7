"""The side-by-side view: panels keyed by spec, added and removed, the colour ramp of a confident policy, the
difference view and the strip's comparison with the reference, on the bundled model and its real quantized
variants."""

from __future__ import annotations

import re

import numpy as np
import pytest
from textual.content import Content

from engine.rules import UNTRIED
from planestrike_tui.roster import MAX_PANELS, SlotState
from planestrike_tui.screens.agent_dialog import AgentDialog, PanelChoiceDialog, spec_from_text
from planestrike_tui.widgets.agent_panel import AgentPanel
from tui_helpers import make_app, wait_for_agents, wait_until

pytestmark = pytest.mark.asyncio

VARIANTS = ("flax", "tflite", "tflite:float16", "tflite:int8", "hunter")


def untried_colours(panel: AgentPanel) -> set[str]:
    """The distinct background colours of a panel's untried cells."""
    heatmap = panel.heatmap
    board = heatmap.board
    colours = set()
    for action in np.flatnonzero(board == UNTRIED):
        segment = heatmap._cell(int(action), 3, heatmap._colours())
        colours.add(str(segment.style.bgcolor))
    return colours


async def test_panels_are_keyed_by_spec_and_titled_with_their_model():
    app = make_app(panels=VARIANTS, opponent="hunter")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot, timeout=120)
        panels = app.game.panels
        assert list(panels) == ["hunter", "flax", "tflite", "tflite:float16", "tflite:int8"]  # the opponent first
        assert [panel.border_title for panel in panels.values()] == [
            "Hunter", "Flax planestrike", "LiteRT planestrike", "LiteRT planestrike.float16",
            "LiteRT planestrike.int8"]
        assert all(slot.state is SlotState.READY for slot in app.roster.slots.values())
        # What the numbers are: strike probabilities for a policy, hit probabilities for the hunter.
        assert "p(hit)" in panels["hunter"].border_subtitle and "p(strike)" in panels["tflite:int8"].border_subtitle
        for panel in panels.values():  # every panel fully on screen at 140x45, none scrolled away
            assert panel.region.bottom <= 44 and panel.region.right <= 140, panel.border_title
        strip = app.game.query_one("#comparison")
        assert strip.region.bottom <= 44


async def test_a_confident_policy_shows_every_untried_cell_on_its_own_colour():
    app = make_app(panels=("tflite",), opponent="tflite")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        panel = app.game.panels["tflite"]
        probabilities = app.game.current_thoughts()["tflite"].probabilities
        assert np.sort(probabilities)[-2] < 1e-5, "the bundled model is confident on its first move"
        assert len(untried_colours(panel)) >= 40  # tens of levels, not the three of a linear ramp
        drawn = "\n".join(panel.heatmap.render_line(y).text for y in range(panel.heatmap.content_size.height))
        assert {"1", "2", "3"} <= set(drawn.split())  # the top choices are numbered


async def test_the_difference_view_shows_quantization_error_and_float32_as_identical():
    app = make_app(panels=VARIANTS, opponent="hunter")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot, timeout=120)
        game = app.game
        for action in (27, 28, 35):  # a few real moves: quantization error grows off the first move
            game.strike(action)
            await wait_until(pilot, lambda: game.seats[game.match.to_move] is None, "the hunter's answer")
        await wait_for_agents(pilot)
        await pilot.press("f")
        panels = game.panels
        assert panels["flax"].reference and panels["tflite:int8"].difference_of == "Flax"
        assert panels["tflite:int8"].border_title == "Δ LiteRT planestrike.int8"

        def intensity(spec: str) -> float:
            heat = panels[spec].heatmap.heat
            return float(np.abs(heat).max())

        assert intensity("tflite") < 0.1, "float32 conversion: no visible difference"
        assert intensity("tflite:float16") > 0.25, "float16: visibly different"
        assert intensity("tflite:int8") > intensity("tflite:float16") + 0.2, "int8: more so than float16"
        assert len(untried_colours(panels["tflite:int8"])) > 10
        await pilot.press("f")
        assert panels["tflite:int8"].difference_of is None


async def test_the_strip_compares_every_panel_with_the_reference_over_the_game():
    app = make_app(panels=VARIANTS, opponent="hunter")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot, timeout=120)
        game = app.game
        game.strike(0)
        await wait_until(pilot, lambda: game.seats[game.match.to_move] is None, "the hunter's answer")
        await wait_for_agents(pilot)
        strip = str(game.query_one("#comparison").render())
        assert "Against Flax planestrike" in strip
        for title in ("LiteRT planestrike.float16", "LiteRT planestrike.int8", "Hunter"):
            line = next(line for line in strip.splitlines() if line.startswith(title + " "))
            assert "max |Δp|" in line and "KL" in line and re.search(r"game [0-2]/2 same", line), line
        assert "different models" not in strip  # every variant comes from the bundled checkpoint
        assert game.agreements["tflite:int8"].moves == 2  # this position and the first
        await pilot.press("g")  # the next panel becomes the reference
        assert game.reference == "tflite"
        assert "Against LiteRT planestrike" in str(game.query_one("#comparison").render())


async def test_a_model_from_another_checkpoint_is_reported_as_a_different_model(tmp_path):
    from litert_helpers import fresh_checkpoint
    from training.convert import ConvertConfig, convert_checkpoint

    out = tmp_path / "fresh.tflite"
    convert_checkpoint(ConvertConfig(checkpoint=fresh_checkpoint(tmp_path / "run"), out=out))
    app = make_app(panels=("flax", f"tflite:{out}"), opponent="flax")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot, timeout=120)
        strip = str(app.game.query_one("#comparison").render())
        assert "different models" in strip and "differs" not in strip


async def test_panels_are_added_and_removed_and_a_replaced_opponents_panel_goes():
    app = make_app(panels=("hunter",), opponent="hunter")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AgentDialog), "the add-panel dialog")
        options = app.screen.query_one("#opponents")
        assert "hunter" not in [option.id for option in options.options]  # it has a panel already
        options.highlighted = next(i for i, o in enumerate(options.options) if o.id == "tflite:int8")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "tflite:int8" in game.panels, "the new panel")
        await wait_for_agents(pilot)
        assert app.roster.slots["tflite:int8"].state is SlotState.READY

        game.set_opponent("random")  # not asked for as a panel: shown while it plays
        await wait_for_agents(pilot)
        assert list(game.panels)[0] == "random"
        game.set_opponent("hunter")
        await wait_for_agents(pilot)
        assert "random" not in game.panels and "random" not in app.roster.slots

        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, PanelChoiceDialog), "the remove dialog")
        choices = app.screen.query_one("#panels-list")
        assert [option.id for option in choices.options] == ["tflite:int8"]  # the opponent's stays
        await pilot.press("enter")
        await wait_until(pilot, lambda: "tflite:int8" not in game.panels, "the panel to go")
        assert list(app.roster.slots) == ["hunter"]
        game.remove_panel("hunter")  # the opponent's is refused
        assert "hunter" in game.panels


async def test_at_most_six_panels():
    app = make_app(panels=VARIANTS, opponent="hunter")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot, timeout=120)
        assert app.game.add_panel("random") is not None
        assert len(app.roster.slots) == MAX_PANELS
        assert app.game.add_panel("app") is None
        assert "app" not in app.roster.slots


async def test_typed_specs_become_panels(tmp_path):  # async only because the module's tests are
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    assert spec_from_text("tflite:int8") == "tflite:int8"
    assert spec_from_text(str(model)) == f"tflite:{model}"
    assert spec_from_text(str(tmp_path)) == f"flax:{tmp_path}"
    assert spec_from_text("emulator-5554") == "device:emulator-5554"
    assert spec_from_text("192.168.1.7:5555") == "device:192.168.1.7:5555"
    for text, problem in (("nope/x.tflite", "does not exist"), ("two words", "is not an agent spec"),
                          ("hunter:x", "takes no argument"), ("hello", "is not an agent spec"),
                          ("[b]", "is not an agent spec"), ("tflite:nope/x.tflite", "does not exist")):
        with pytest.raises(Exception, match=problem):
            spec_from_text(text)


async def test_one_model_is_one_panel_however_it_is_written():  # async: the module's mark
    from assets import BUNDLED_TFLITE, BUNDLED_TFLITE_INT8
    from planestrike_tui.roster import canonical_spec

    assert canonical_spec("tflite:float32") == canonical_spec(f"tflite:{BUNDLED_TFLITE}") == "tflite"
    assert canonical_spec(f"tflite:{BUNDLED_TFLITE_INT8}") == "tflite:int8"
    assert canonical_spec("tflite:./m.tflite") == canonical_spec("tflite:m.tflite")


async def test_a_spec_is_text_not_markup(tmp_path):
    model = tmp_path / "[b]bold.tflite"
    model.write_bytes(b"not a model")
    app = make_app(panels=("hunter", f"tflite:{model}"), opponent="hunter")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        panel = app.game.panels[f"tflite:{model}"]
        assert Content.from_markup(panel.border_title).plain == "LiteRT [b]bold"  # drawn as typed, not bold


async def test_spectating_adds_the_players_panels_and_takes_them_away():
    app = make_app(panels=("flax",), opponent="flax")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        await pilot.press("s")
        assert game.spectating and game.seats == ("flax", "hunter")
        await wait_until(pilot, lambda: game.match.boards[0].strikes >= 1, "the first spectator move", timeout=60)
        assert "hunter" in game.panels
        await pilot.press("s")
        await pilot.pause()
        assert not game.spectating and "hunter" not in game.panels and list(game.panels) == ["flax"]


async def test_after_a_new_reference_the_strip_counts_since_that_strike():
    app = make_app(panels=("flax", "tflite", "hunter"), opponent="hunter")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        game.strike(0)
        await wait_until(pilot, lambda: game.seats[game.match.to_move] is None, "the hunter's answer")
        await wait_for_agents(pilot)
        assert "game 2/2 same" in str(game.query_one("#comparison").render())
        game.set_reference("tflite")
        strip = str(game.query_one("#comparison").render())
        assert "since strike 2 1/1 same" in strip and "Against LiteRT planestrike" in strip


@pytest.mark.parametrize("count", [1, 3, 6])
async def test_every_panel_and_the_strip_fit_140x45_without_scrolling(count):
    panels = ("flax", "tflite", "tflite:float16", "tflite:int8", "hunter", "random")[:count]
    app = make_app(panels=panels, opponent=panels[0])
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot, timeout=120)
        game = app.game
        assert len(game.panels) == count
        for widget in (*game.panels.values(), game.query_one("#comparison"), game.query_one("#status")):
            assert widget.region.bottom <= 44 and widget.region.right <= 140, widget
        assert game.query_one("#main").max_scroll_y == 0
