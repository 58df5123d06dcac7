"""The game screen, driven like a person would: keys, clicks, the opponent dialog, placement mode."""

from __future__ import annotations

import numpy as np
import pytest

from engine import HunterAgent, Outcome, play_games
from engine.rules import BOARD_SIZE, PLACEMENTS, PLANE_SIZE, cell_name
from engine.solver import regret as solver_regret
from planestrike_tui import placement_editor
from planestrike_tui.roster import SlotState
from planestrike_tui.widgets.agent_panel import AgentPanel
from planestrike_tui.widgets.board import LABEL_WIDTH, BoardWidget
from tui_helpers import make_app, panel_of, slot_of, wait_for_agents, wait_until

pytestmark = pytest.mark.asyncio


def cell_offset(board: BoardWidget, action: int) -> tuple[int, int]:
    """Where to click inside ``board`` (relative to its region, border included) to hit ``action``."""
    row, col = divmod(action, BOARD_SIZE)
    cw = (board.content_size.width - LABEL_WIDTH) // BOARD_SIZE
    ch = (board.content_size.height - 1) // BOARD_SIZE
    dx, dy = board.content_region.x - board.region.x, board.content_region.y - board.region.y
    return dx + LABEL_WIDTH + col * cw + cw // 2, dy + 1 + row * ch + (ch - 1) // 2


async def play_round(pilot, action: int) -> None:
    """The person strikes ``action``; wait for the agent's answer."""
    game = pilot.app.game
    strikes = game.match.boards[1].strikes
    game.strike(action)
    await wait_until(pilot, lambda: game.match.over or game.match.boards[1].strikes == strikes + 1, "the agent's answer")


def hunter_length(placement: int) -> int:
    """Strikes the hunter needs against ``placement`` (it is deterministic)."""
    return int(play_games(HunterAgent(), np.array([placement]))[0])


async def test_strike_by_keys_and_the_agent_answers():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        start = game.cursor
        highlighted = game.current_thoughts()["hunter"].choice  # what the hunter's panel shows it will strike
        await pilot.press("right", "right", "down", "enter")
        struck = start + 2 + BOARD_SIZE
        assert game.match.boards[0].is_tried(struck)
        assert game.match.boards[0].strikes == 1
        await wait_until(pilot, lambda: game.match.boards[1].strikes == 1, "the hunter's answer")
        assert game.match.boards[1].last_action == highlighted
        await wait_for_agents(pilot)  # the panel now shows the hunter's choice for its next strike
        choice = game.current_thoughts()["hunter"].choice
        # Shortened to the panel's width ("p(hit)" goes first); the regret of the choice stays.
        regret = float(solver_regret(game.current_board(), choice))
        panel = game.panels["hunter"]
        assert panel.role == "opponent"
        assert panel.border_subtitle.startswith((f"p(hit) {cell_name(choice)} · {regret:+.3f}",
                                                 f"{cell_name(choice)} · {regret:+.3f}"))


async def test_strike_by_click_and_refuse_a_tried_cell():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        board = app.query_one("#target", BoardWidget)
        action = 5 * BOARD_SIZE + 6  # F7
        await pilot.click("#target", offset=cell_offset(board, action))
        assert game.match.boards[0].is_tried(action), f"clicking {cell_name(action)} did not strike it"
        await wait_until(pilot, lambda: game.match.boards[1].strikes == 1, "the hunter's answer")
        await pilot.click("#target", offset=cell_offset(board, action))
        assert game.match.boards[0].strikes == 1
        assert "already struck" in game.notice


async def test_the_person_wins_and_the_score_counts_it():
    app = make_app(seed=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        agent_plane = PLACEMENTS.cells[game.match.boards[0].placement]
        assert hunter_length(game.match.boards[1].placement) > PLANE_SIZE, "pick a seed where the hunter is slower"
        for action in agent_plane:
            await play_round(pilot, int(action))
        assert game.match.outcome is Outcome.FIRST_WINS
        assert game.score == {"won": 1, "lost": 0, "drawn": 0}
        assert "You win in 8 strikes" in str(app.query_one("#status").render())


async def test_a_draw_when_both_planes_fall_in_the_same_round():
    app = make_app(seed=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        rounds = hunter_length(game.match.boards[1].placement)  # the hunter finishes on this round
        plane = [int(a) for a in PLACEMENTS.cells[game.match.boards[0].placement]]
        misses = [a for a in range(64) if a not in plane][: rounds - PLANE_SIZE]
        for action in misses + plane:  # the person's 8th hit lands on the same round as the hunter's
            await play_round(pilot, action)
        assert game.match.outcome is Outcome.DRAW
        assert game.score["drawn"] == 1
        assert "Draw" in str(app.query_one("#status").render())
        await pilot.press("enter")  # the game is over: strikes are refused
        assert game.match.boards[0].strikes == rounds


async def test_the_agent_wins_and_new_game_starts_afresh():
    app = make_app(seed=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        rounds = hunter_length(game.match.boards[1].placement)
        plane = set(int(a) for a in PLACEMENTS.cells[game.match.boards[0].placement])
        misses = [a for a in range(64) if a not in plane]
        for action in misses[:rounds]:
            await play_round(pilot, action)
        assert game.match.outcome is Outcome.SECOND_WINS
        assert game.score["lost"] == 1
        first_game = game.match_number
        await pilot.press("n")
        assert game.match_number == first_game + 1
        assert game.match.boards[0].strikes == game.match.boards[1].strikes == 0
        assert not game.match.over
        assert game.score["lost"] == 1  # the score survives a new game


async def choose_opponent(pilot, kind: str) -> str:
    """Pick ``kind`` in the opponent dialog (``o``) and wait for it to close; return the option's text."""
    app = pilot.app
    await pilot.press("o")
    await wait_until(pilot, lambda: app.screen.__class__.__name__ == "AgentDialog", "the opponent dialog")
    options = app.screen.query_one("#opponents")
    options.highlighted, option = next((i, o) for i, o in enumerate(options.options) if o.id == kind)
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.screen is app.game, "the dialog to close")
    return str(option.prompt)


async def test_switching_the_opponent_adds_its_panel_and_starts_a_new_game():
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        await pilot.press("enter")
        await choose_opponent(pilot, "random")
        game = app.game
        assert game.seats == (None, "random")
        assert game.match.boards[0].strikes == 0
        await wait_for_agents(pilot)
        assert app.roster.slots["random"].state is SlotState.READY
        assert game.panels["random"].border_title == "Random"
        assert game.panels["random"].role == "opponent"
        assert "opponent" not in game.panels["hunter"].border_subtitle
        await pilot.press("enter")
        await wait_until(pilot, lambda: game.match.boards[1].strikes == 1, "the random agent's answer")


async def test_the_official_apps_model_is_in_the_opponent_list_and_plays():
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        assert "the official Android app's model, 13.19" in await choose_opponent(pilot, "app")
        game = app.game
        await wait_for_agents(pilot)
        assert game.seats == (None, "app") and app.roster.slots["app"].state is SlotState.READY
        assert game.panels["app"].border_title == "Official app"
        assert game.panels["app"] is next(iter(game.panels.values()))  # the opponent's panel comes first
        await pilot.press("enter")
        await wait_until(pilot, lambda: game.match.boards[1].strikes == 1, "the official model's answer")


async def test_placement_mode_moves_and_turns_the_plane_before_the_first_strike():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        start = game.person_plane
        await pilot.press("p")
        assert game.placing
        await pilot.press("r")
        turned = placement_editor.turned(start)
        expected = turned if turned is not None else start
        assert game.person_plane == expected
        for _ in range(BOARD_SIZE):  # far more than the board allows: the plane stops at the edge
            await pilot.press("left")
        assert placement_editor.moved(game.person_plane, 0, -1) is None, "the plane should be at the left edge"
        assert "further" in game.notice
        placed = game.person_plane
        assert game.match.boards[1].plane.reshape(-1)[PLACEMENTS.cells[placed]].all()
        await pilot.press("enter")  # confirms the placement
        assert not game.placing
        await pilot.press("enter")  # and strikes
        assert game.match.boards[0].strikes == 1
        await wait_until(pilot, lambda: game.match.boards[1].strikes == 1, "the hunter's answer")
        assert game.match.boards[1].placement == placed  # the hunter hunts the plane the person placed
        await pilot.press("p")  # too late to move it now
        assert not game.placing


async def test_numbers_toggle_shows_each_probability():
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        panel = game.panels["hunter"]
        thought = game.current_thoughts()["hunter"]
        heatmap = panel.heatmap

        def drawn() -> str:
            return "\n".join(heatmap.render_line(y).text for y in range(heatmap.content_size.height))

        top = f"{100 * thought.probabilities.max():.1f}"
        assert top not in drawn()
        await pilot.press("v")  # log10 p
        assert f"{np.log10(thought.probabilities.max()):.1f}" in drawn()
        await pilot.press("v")  # rank: every untried cell from 1 to 64
        assert {str(n) for n in (1, 2, 63, 64)} <= set(drawn().split())
        await pilot.press("v")  # percent
        assert top in drawn()
        await pilot.press("v")
        assert top not in drawn()


async def test_spectator_mode_plays_agent_against_agent_at_the_chosen_speed():
    app = make_app(panels=("hunter", "random"), opponent="random")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        await pilot.press("s")
        assert game.spectating and game.seats == ("random", "hunter")
        delay = game.autoplay._interval
        await pilot.press("plus", "plus")
        assert game.autoplay._interval < delay
        await wait_until(pilot, lambda: game.match.boards[0].strikes >= 3 and game.match.boards[1].strikes >= 3,
                         "autoplay moves")
        await pilot.press("enter")  # the person cannot strike while spectating
        await pilot.press("s")
        assert not game.spectating and game.seats == (None, "random")
        assert game.match.boards[0].strikes == 0


@pytest.mark.parametrize("name, kind", [("broken.tflite", "tflite"), ("broken.msgpack", "flax")])
async def test_a_broken_model_shows_its_error_in_its_panel_and_the_rest_works(tmp_path, name, kind):
    model = tmp_path / name
    model.write_text("this is not a model\n")
    app = make_app(model=model, panels=("flax", "tflite", "hunter"))
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        slot = slot_of(app, kind)
        assert slot.state is SlotState.FAILED
        assert "\n" not in slot.error and len(slot.error) < 300
        panel: AgentPanel = panel_of(app, kind)
        assert panel.has_class("-failed")
        assert str(panel.query_one(".panel-message").render()) == slot.error
        assert app.roster.slots["hunter"].state is SlotState.READY
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.game.match.boards[1].strikes == 1, "the hunter's answer")


async def test_an_opponent_that_cannot_load_hands_over_to_the_hunter(tmp_path):
    model = tmp_path / "broken.tflite"
    model.write_text("not a model")
    app = make_app(model=model, opponent="tflite", panels=("tflite", "hunter"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        assert slot_of(app, "tflite").state is SlotState.FAILED
        assert game.seats == (None, "hunter")
        assert game.panels["hunter"].role == "opponent"
        await pilot.press("enter")
        await wait_until(pilot, lambda: game.match.boards[1].strikes == 1, "the hunter's answer")


async def test_the_command_palette_switches_the_opponent():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_agents(pilot)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette", "the palette")
        await pilot.press(*"opponent random")
        await wait_until(pilot, lambda: "Opponent: Random" in str(app.screen.query_one("CommandList").get_option_at_index(0).prompt),
                         "the command to be found")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.game.seats == (None, "random"), "the switch")
        await wait_for_agents(pilot)
        assert app.roster.slots["random"].state is SlotState.READY


async def test_a_phone_that_cannot_be_reached_shows_why_in_its_own_panel():
    app = make_app(opponent="device:no-such-phone")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        panel = app.game.panels["device:no-such-phone"]
        assert panel.border_title == "Phone no-such-phone"
        assert app.roster.slots["device:no-such-phone"].state is SlotState.FAILED
        assert "no-such-phone" in str(panel.query_one(".panel-message").render())
        assert app.game.seats == (None, "hunter")  # the game goes on against the hunter


async def test_a_phone_chosen_on_the_devices_screen_gets_its_panel():
    from planestrike_tui.screens.devices import DeviceChoice, DevicesScreen

    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DevicesScreen), "the devices screen")
        app.screen.dismiss(DeviceChoice("device:no-such-phone", as_opponent=False))
        await wait_until(pilot, lambda: "device:no-such-phone" in app.game.panels, "the phone's panel")
        await wait_for_agents(pilot)
        assert app.game.panels["device:no-such-phone"].border_title == "Phone no-such-phone"
        assert app.roster.slots["device:no-such-phone"].state is SlotState.FAILED  # no such phone: its panel says why
        assert app.game.seats == (None, "hunter")
