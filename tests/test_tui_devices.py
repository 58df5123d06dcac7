"""The devices screen against the real virtual phone: connect, the "tap Allow" wait, errors, push, the choice.

Each test runs a tiny app that opens the screen on its own and records what the screen dismisses with. The phone
is `devicelink.emulator`'s ADB daemon on loopback (a free port), so every connect, push and sha256 goes over the
real protocol. Workers are awaited through their handles: `pilot.press()` may return before a worker starts.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import pytest
from textual.app import App
from textual.widgets import Input, ProgressBar, Static

from devicelink import known_devices, layout
from devicelink.session import DeviceSession, SessionConfig
from device_helpers import REFERENCE_MODEL, free_port, phone_in_thread, trust
from planestrike_tui import device_address
from planestrike_tui.screens.devices import DeviceChoice, DevicesScreen
from tui_helpers import wait_until

pytestmark = pytest.mark.asyncio


class DevicesApp(App):
    """Opens the devices screen at once, and keeps what it dismissed with."""

    def __init__(self, screen: DevicesScreen) -> None:
        super().__init__()
        self.devices = screen
        self.results: list[DeviceChoice | None] = []

    def on_mount(self) -> None:
        self.push_screen(self.devices, self.results.append)


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch):
    """The screen remembers the last phone in planestrike's config directory: keep it (and any state) out of the
    user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def devices_screen(key, model=REFERENCE_MODEL, find_virtual_phone=None, **config) -> DevicesScreen:
    """The screen; it looks for a virtual phone only with ``find_virtual_phone`` (one at the default port, from
    someone else's `planestrike device emulate`, must not change what these tests see)."""
    return DevicesScreen(model=model, config=SessionConfig(key_path=key, command_timeout_s=10, **config),
                         find_virtual_phone=find_virtual_phone)


def text(screen: DevicesScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def run_job(pilot, screen: DevicesScreen, *keys: str) -> None:
    """Press ``keys`` and wait for the worker they start to finish and its result to be shown."""
    before = screen.worker
    await pilot.press(*keys)
    await wait_until(pilot, lambda: screen.worker is not before, "the screen to start a worker")
    await screen.worker.wait()
    await wait_until(pilot, lambda: not screen.busy, "the worker's result to reach the screen")
    await pilot.pause()  # and the layout to follow it: a click aims at where widgets are now


async def connect(pilot, screen: DevicesScreen, serial: str, typed: bool = False) -> None:
    """Enter ``serial`` in the address box (typed key by key, or pasted) and connect with enter."""
    box = screen.query_one("#serial", Input)
    box.value = "" if typed else serial
    assert await pilot.click("#serial")
    if typed:
        await pilot.press(*serial)
    await run_job(pilot, screen, "enter")


async def test_connecting_shows_the_phone_and_its_runners(phone, key):
    screen = devices_screen(key)
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        assert screen.query_one("#opponent").disabled, "nothing to choose before a phone is connected"
        await connect(pilot, screen, phone.serial, typed=True)
        assert text(screen, "#status") == f"Connected to {phone.serial}."
        info = text(screen, "#info")
        assert "Planestrike_Virtual_Phone" in info and phone.serial in info
        assert "Android  14 · ABI " in info
        assert "benchmark_model, persistent runner" in info
        assert screen.info.latency_ms > 0 and f"{screen.info.latency_ms:.2f} ms per round trip" in info
        assert not screen.query_one("#opponent").disabled
        assert app.focused is screen.query_one("#opponent"), "connecting moves focus to the actions"
        assert screen.query_one("#devices").region.bottom <= 24, "the dialog fits an 80x24 terminal"


async def test_waiting_for_allow_shows_the_hint_then_connects(tmp_path, key):
    # A phone that does not know this computer's key: it shows "Allow USB debugging?" until someone taps Allow.
    with phone_in_thread(tmp_path / "phone") as phone:
        screen = devices_screen(key, auth_timeout_s=20)
        app = DevicesApp(screen)
        async with app.run_test(size=(80, 24)) as pilot:
            screen.query_one("#serial", Input).value = phone.serial
            assert await pilot.click("#connect")
            await wait_until(pilot, lambda: screen.has_class("-waiting-auth"), "the tap-Allow hint")
            assert screen.query_one("#auth-hint").display and screen.query_one("#auth-hint").region.height > 0
            assert "tap Allow" in text(screen, "#auth-hint")
            assert "to accept this computer" in text(screen, "#status")
            assert screen.query_one("#push").disabled
            assert phone.allow_waiting_keys() == 1
            await screen.worker.wait()
            await wait_until(pilot, lambda: not screen.busy, "the connection")
            assert not screen.has_class("-waiting-auth")
            assert text(screen, "#status") == f"Connected to {phone.serial}."
            assert "Planestrike_Virtual_Phone" in text(screen, "#info")


async def test_closing_while_the_phone_waits_for_allow_ends_the_attempt_at_once(tmp_path, key, monkeypatch):
    # Closing the screen cancels its worker, but a thread cannot be stopped from outside: watch connect() itself.
    returned = threading.Event()
    original_connect = DeviceSession.connect

    def watched_connect(session, *args, **kwargs):
        try:
            return original_connect(session, *args, **kwargs)
        finally:
            returned.set()

    monkeypatch.setattr(DeviceSession, "connect", watched_connect)
    with phone_in_thread(tmp_path / "phone") as phone:  # does not know the key
        screen = devices_screen(key, auth_timeout_s=30)
        app = DevicesApp(screen)
        async with app.run_test(size=(80, 24)) as pilot:
            screen.query_one("#serial", Input).value = phone.serial
            assert await pilot.click("#connect")
            await wait_until(pilot, lambda: screen.has_class("-waiting-auth"), "the tap-Allow hint")
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.results, "the screen to close")
            # Without the cancellation, connect() would wait out the 30 s auth timeout (and hold the app open).
            await wait_until(pilot, returned.is_set, "connect() to return", timeout=5)
            assert app.results == [None]


async def test_a_closed_port_and_a_bad_address_are_one_line_each(key):
    screen = devices_screen(key)
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await connect(pilot, screen, f"127.0.0.1:{free_port()}")  # nothing listens there
        status = text(screen, "#status")
        assert "refused the connection" in status and "\n" not in status
        assert screen.query_one("#status").has_class("-error")
        assert screen.query_one("#opponent").disabled and screen.session is not None and not screen.session.connected

        screen.query_one("#serial", Input).value = "not a phone!"
        assert await pilot.click("#connect")  # refused before any worker starts
        assert "is neither HOST:PORT nor a USB serial" in text(screen, "#status")
        assert app.results == [] and app.screen is screen


async def test_push_shows_the_verified_sha256_and_then_finds_it_cached(phone, key):
    digest = hashlib.sha256(REFERENCE_MODEL.read_bytes()).hexdigest()
    screen = devices_screen(key)
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await connect(pilot, screen, phone.serial)
        await run_job(pilot, screen, "p")
        assert text(screen, "#pushed") == (f"Pushed and verified: {REFERENCE_MODEL.stat().st_size:,} bytes\n"
                                           f"sha256 {digest}")
        bar = screen.query_one("#progress", ProgressBar)
        assert bar.total == bar.progress == REFERENCE_MODEL.stat().st_size
        on_phone = phone.sandbox.root / layout.MODELS_DIR.removeprefix(layout.DEVICE_TMP + "/") / f"{digest}.tflite"
        assert on_phone.read_bytes() == REFERENCE_MODEL.read_bytes()

        await run_job(pilot, screen, "p")
        assert text(screen, "#pushed").startswith("Already on the phone: ")
        assert text(screen, "#pushed").endswith(f"sha256 {digest}")


async def test_a_phone_lost_during_a_push_is_one_line_and_the_screen_goes_on(tmp_path, key):
    trust(tmp_path / "phone", key)
    with phone_in_thread(tmp_path / "phone") as phone:
        screen = devices_screen(key)
        app = DevicesApp(screen)
        async with app.run_test(size=(80, 24)) as pilot:
            await connect(pilot, screen, phone.serial)
            phone.stop_thread()  # the phone goes away: its connections close
            await run_job(pilot, screen, "p")
            status = text(screen, "#status")
            assert phone.serial in status and "\n" not in status
            assert screen.query_one("#status").has_class("-error")
            assert screen.query_one("#opponent").disabled, "a lost phone cannot be chosen"
            assert app.screen is screen and app.results == []


@pytest.mark.parametrize(("press", "as_opponent"), [("o", True), ("a", False), ("enter", True)])
async def test_the_choice_is_dismissed_to_the_app(phone, key, press, as_opponent):
    screen = devices_screen(key)
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await connect(pilot, screen, phone.serial)
        session = screen.session
        await pilot.press(press)
        await wait_until(pilot, lambda: app.results, "the screen to dismiss")
        assert app.results == [DeviceChoice(f"device:{phone.serial}:{REFERENCE_MODEL}", as_opponent)]
        assert not session.connected, "the screen's own connection is closed: the agent opens its own"


async def test_buttons_choose_too_and_the_bundled_model_gives_a_bare_spec(phone, key):
    screen = devices_screen(key, model=None)
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await connect(pilot, screen, phone.serial)
        assert await pilot.click("#panel"), "the click landed on the button"
        await wait_until(pilot, lambda: app.results, "the screen to dismiss")
        assert app.results == [DeviceChoice(f"device:{phone.serial}", as_opponent=False)]


async def test_escape_closes_without_a_choice_and_the_last_phone_is_remembered(phone, key):
    screen = devices_screen(key)
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await connect(pilot, screen, phone.serial)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.results, "the screen to close")
        assert app.results == [None]

    again = devices_screen(key)
    app = DevicesApp(again)
    async with app.run_test(size=(80, 24)) as pilot:
        assert again.query_one("#serial", Input).value == phone.serial
        assert app.focused is again.query_one("#serial", Input)
        await pilot.press("escape")  # the address box does not swallow escape
        await wait_until(pilot, lambda: app.results, "the screen to close")
        assert app.results == [None]


# ------------------------------------------------------------------------------------ the address filled in
async def test_a_running_virtual_phone_is_filled_in_before_the_last_phone(phone, key):
    known_devices.remember("192.168.1.20:5555")  # a phone connected earlier
    screen = devices_screen(key, find_virtual_phone=lambda: device_address.running_virtual_phone(port=phone.port))
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await screen.probe.wait()
        await wait_until(pilot, lambda: screen.query_one("#serial", Input).value == phone.serial, "the virtual phone")
        assert "A virtual phone runs on this computer" in text(screen, "#status")
        await run_job(pilot, screen, "enter")  # the address box has the focus: enter connects to it
        assert text(screen, "#status") == f"Connected to {phone.serial}."


async def test_without_a_virtual_phone_the_last_phone_is_filled_in(key):
    known_devices.remember("192.168.1.20:5555")
    screen = devices_screen(key, find_virtual_phone=lambda: device_address.running_virtual_phone(port=free_port()))
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await screen.probe.wait()
        await pilot.pause()
        assert screen.query_one("#serial", Input).value == "192.168.1.20:5555"
        assert "connected last" in text(screen, "#status")


async def test_what_the_person_typed_is_kept_when_the_virtual_phone_is_found_later(phone, key):
    found = threading.Event()

    def slow_probe() -> str:
        assert found.wait(10)
        return phone.serial

    screen = devices_screen(key, find_virtual_phone=slow_probe)
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"10.0.0.7:5555")
        found.set()
        await screen.probe.wait()
        await pilot.pause()
        assert screen.query_one("#serial", Input).value == "10.0.0.7:5555"
        assert phone.serial not in text(screen, "#status")


async def test_a_damaged_list_of_phones_is_ignored(tmp_path, key):
    store = tmp_path / "config" / "planestrike" / "devices.json"
    store.parent.mkdir(parents=True)
    store.write_bytes(b'{"default": ["not", "a serial"], "known": 7')
    screen = devices_screen(key)
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)):
        assert screen.query_one("#serial", Input).value == ""
        assert text(screen, "#status") == "Not connected."


async def test_a_config_folder_that_cannot_be_written_does_not_stop_the_connection(phone, key, tmp_path,
                                                                                     monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the config folder would be")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocked))
    screen = devices_screen(key)
    app = DevicesApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await connect(pilot, screen, phone.serial)
        assert text(screen, "#status") == f"Connected to {phone.serial}.", "remembering the phone is a convenience"
        assert not screen.query_one("#opponent").disabled


async def test_only_a_port_that_answers_like_adbd_is_a_virtual_phone(phone):
    assert device_address.speaks_adb("127.0.0.1", phone.port)
    assert device_address.running_virtual_phone(port=phone.port) == phone.serial
    assert not device_address.speaks_adb("127.0.0.1", free_port())  # nothing listens

    with socket.socket() as server:  # accepts, then answers something that is not ADB
        server.bind(("127.0.0.1", 0))
        server.listen()

        def answer_http() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(64)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer_http)
        thread.start()
        assert not device_address.speaks_adb("127.0.0.1", server.getsockname()[1])
        thread.join(5)

    with socket.socket() as server:  # accepts and never answers: the probe gives up at its deadline
        server.bind(("127.0.0.1", 0))
        server.listen()
        started = time.monotonic()
        assert not device_address.speaks_adb("127.0.0.1", server.getsockname()[1], timeout_s=0.3)
        assert time.monotonic() - started < 2.0
