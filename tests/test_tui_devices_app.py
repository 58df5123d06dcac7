"""The app with the devices screen (key `d`): a phone chosen there becomes the opponent (or gets a panel) and plays,
against the real virtual phone."""

from __future__ import annotations

import pytest

from device_helpers import REFERENCE_MODEL, make_key, phone_in_thread, trust
from planestrike_tui.roster import SlotState
from planestrike_tui.screens.devices import DevicesScreen
from tui_helpers import make_app, wait_for_agents, wait_until

pytestmark = pytest.mark.asyncio


@pytest.fixture
def phone(tmp_path, monkeypatch):
    # The screen and the device agent both sign with planestrike's own key: keep it (and devices.json) in tmp_path.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.android/adbkey
    from devicelink.keys import planestrike_key_path

    key = make_key(planestrike_key_path().parent)
    trust(tmp_path / "phone", key)
    with phone_in_thread(tmp_path / "phone") as phone:
        yield phone


async def open_and_connect(pilot, phone) -> DevicesScreen:
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, DevicesScreen), "the devices screen")
    screen = pilot.app.screen
    screen.query_one("#serial").value = phone.serial
    await pilot.click("#connect")
    await wait_until(pilot, lambda: screen.worker is not None, "the connect worker")
    await screen.worker.wait()
    await wait_until(pilot, lambda: screen.connected, "the phone to connect")
    return screen


@pytest.mark.parametrize("press, opponent", [("o", True), ("a", False)])
async def test_a_phone_chosen_on_the_devices_screen_joins_the_game(phone, press, opponent):
    app = make_app(panels=("hunter", "tflite"), model=REFERENCE_MODEL)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_agents(pilot)
        screen = await open_and_connect(pilot, phone)
        assert screen.model == REFERENCE_MODEL, "the screen pushes the active LiteRT model"
        await pilot.press(press)
        await wait_until(pilot, lambda: app.screen is app.game, "the game screen again")

        def phone_loaded() -> bool:
            slot = app.roster.first_of("device")
            return slot is not None and slot.state is not SlotState.LOADING

        await wait_until(pilot, phone_loaded, "the phone's agent to load", timeout=60)
        slot = app.roster.first_of("device")
        assert slot.state is SlotState.READY, slot.error
        assert slot.spec == f"device:{phone.serial}:{REFERENCE_MODEL}"
        assert (app.game.seats[1] == slot.spec) is opponent
        await wait_for_agents(pilot)
        phone_view = app.game.current_thoughts()[slot.spec].probabilities
        litert_view = app.game.current_thoughts()[app.roster.first_of("tflite").spec].probabilities
        assert (phone_view == litert_view).all(), "the phone runs the same model as desktop LiteRT"


async def test_losing_the_phone_mid_game_marks_its_panel_and_the_game_goes_on(tmp_path, monkeypatch):
    from device_helpers import emulator_process

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with emulator_process(tmp_path / "phone") as emulator:
        spec = f"device:{emulator.serial}:{REFERENCE_MODEL}"
        app = make_app(opponent=spec, panels=("hunter",))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for_agents(pilot)
            assert app.roster.first_of("device").state is SlotState.READY
            port = emulator.port
            emulator.kill()  # the phone loses power (or its cable) between two moves

            app.game.strike(0)  # the person strikes; the phone should answer and cannot
            await wait_until(pilot, lambda: app.roster.first_of("device").state is SlotState.FAILED, "the phone to fail",
                             timeout=60)
            assert app.roster.first_of("device").error  # the panel shows why, in one line
            await wait_until(pilot, lambda: app.game.seats[1] == "hunter", "the hunter to take the phone's seat")
            await wait_for_agents(pilot)
            strikes = app.game.match.boards[0].strikes
            app.game.strike(1)  # the game goes on
            await wait_until(pilot, lambda: app.game.match.boards[0].strikes == strikes + 1, "the next strike")

            with emulator_process(tmp_path / "phone", port=port):  # plugged back in: choosing it again works
                app.game.reload(spec)
                await wait_until(pilot, lambda: app.roster.first_of("device").state is not SlotState.LOADING,
                                 "the phone to load again", timeout=60)
                assert app.roster.first_of("device").state is SlotState.READY, app.roster.first_of("device").error
