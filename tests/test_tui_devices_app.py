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
            slot = app.roster.get("device")
            return slot is not None and slot.state is not SlotState.LOADING

        await wait_until(pilot, phone_loaded, "the phone's agent to load", timeout=60)
        slot = app.roster.get("device")
        assert slot.state is SlotState.READY, slot.error
        assert slot.spec == f"device:{phone.serial}:{REFERENCE_MODEL}"
        assert (app.game.seats[1] == "device") is opponent
        await wait_for_agents(pilot)
        phone_view = app.game.current_thoughts()["device"].probabilities
        litert_view = app.game.current_thoughts()["tflite"].probabilities
        assert (phone_view == litert_view).all(), "the phone runs the same model as desktop LiteRT"
