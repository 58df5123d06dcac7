"""The devices screen: connect a phone, push the active model to it, and make it the opponent or add its panel.

Every call to the phone blocks (a TCP handshake, a person tapping "Allow", a push), so each runs in a thread worker
and reports back with a message tagged with the session it used: an answer from a connection the person has
since replaced is dropped (and that connection closed). The screen loads no agent itself: it dismisses with a
``DeviceChoice`` and the app decides what to do with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, Static
from textual.worker import Worker

from devicelink import known_devices
from devicelink.errors import DeviceError
from devicelink.session import Address, DeviceInfo, DeviceSession, PushedModel, SessionConfig
from engine.errors import PlanestrikeError
from planestrike_tui import device_address
from planestrike_tui.roster import one_line

# Long enough to find the phone, unlock it and read the dialog.
AUTH_TIMEOUT_S = 60.0
AUTH_HINT = ("Unlock the phone and tap [b]Allow[/b] on “Allow USB debugging?” "
             "(tick “Always allow from this computer”).")


@dataclass(frozen=True)
class DeviceChoice:
    """What the person chose: the agent spec for the phone, and whether it becomes the opponent (else a panel)."""

    spec: str  # device:SERIAL or device:SERIAL:MODEL
    as_opponent: bool


@dataclass
class AuthWaiting(Message):
    session: DeviceSession


@dataclass
class DeviceConnected(Message):
    session: DeviceSession
    info: DeviceInfo


@dataclass
class PushProgress(Message):
    session: DeviceSession
    sent: int  # bytes in this chunk
    total: int


@dataclass
class ModelPushed(Message):
    session: DeviceSession
    pushed: PushedModel
    transferred: bool  # False: the phone already had it (found by its sha256)


@dataclass
class DeviceFailed(Message):
    session: DeviceSession
    message: str  # one line


@dataclass
class VirtualPhoneFound(Message):
    serial: str


class DevicesScreen(ModalScreen[DeviceChoice | None]):
    """Dismisses with a ``DeviceChoice``, or None when closed."""

    DEFAULT_CSS = """
    DevicesScreen {
        align: center middle;

        #devices {
            width: 78;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            padding: 0 1;
            background: $surface;
            border: thick $primary 60%;
            border-title-color: $text;
            border-title-style: bold;
        }
        .hint { color: $text-muted; }
        .row { height: auto; margin-top: 1; }
        #serial { width: 1fr; }
        #auth-hint {
            display: none;
            margin-top: 1;
            padding: 0 1;
            background: $warning 20%;
            color: $text;
        }
        &.-waiting-auth #auth-hint { display: block; }
        #status { margin-top: 1; color: $text-muted; }
        #status.-error { color: $error; }
        #info { display: none; margin-top: 1; height: auto; }
        &.-connected #info { display: block; }
        #push-row Label { padding: 0 1 0 0; }
        #progress { width: 1fr; padding: 0 0 0 1; }
        #progress Bar { width: 1fr; }
        #pushed { color: $text-muted; }
        Button { margin-right: 1; }
    }
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        # Letters reach these bindings once the address box has lost focus (connecting moves it to the buttons).
        Binding("p", "push", "Push model"),
        Binding("o", "choose(True)", "Opponent"),
        Binding("a", "choose(False)", "Add panel"),
    ]

    def __init__(self, model: Path | None = None, serial: str | None = None,
                 config: SessionConfig = SessionConfig(auth_timeout_s=AUTH_TIMEOUT_S),
                 find_virtual_phone: Callable[[], str | None] | None = device_address.running_virtual_phone) -> None:
        """``model``: the .tflite file to push (None: the bundled one); ``serial``: the address to start with
        (None: a virtual phone running on this computer, found by ``find_virtual_phone`` in a thread, else the
        phone connected last)."""
        super().__init__()
        self.model = model
        self.initial_serial = serial
        self.last_serial = None if serial else device_address.last_connected()
        self.find_virtual_phone = None if serial else find_virtual_phone
        self.probe: Worker | None = None  # the search for a virtual phone (tests wait on it)
        self.config = config
        self.session: DeviceSession | None = None
        self.info: DeviceInfo | None = None
        self.busy = False  # a push or a connection attempt is running on ``session``
        self.worker: Worker | None = None  # the last job started (tests wait on it)

    def compose(self) -> ComposeResult:
        with Vertical(id="devices"):
            yield Label("Address: HOST:PORT of a phone in 'adb tcpip 5555' mode, or a USB serial", classes="hint")
            with Horizontal(classes="row"):
                yield Input(self.initial_serial or self.last_serial or "",
                            placeholder="192.168.1.20:5555", id="serial", compact=True)
                yield Button("Connect", id="connect", variant="primary", compact=True)
            yield Static(AUTH_HINT, id="auth-hint")
            yield Static("Not connected.", id="status", markup=False)
            yield Static("", id="info")
            with Horizontal(classes="row", id="push-row"):
                yield Label(Content.from_markup("Model [b]$name[/b]", name=self.model_name()))
                yield Button("Push", id="push", compact=True)
                yield ProgressBar(show_eta=False, id="progress")
            yield Static("", id="pushed", markup=False)
            with Horizontal(classes="row"):
                yield Button("Make it the opponent", id="opponent", variant="success", compact=True)
                yield Button("Add its panel", id="panel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#devices").border_title = "Phone"
        self.query_one("#progress").display = False  # until the first push
        if self.last_serial:
            self.show_status(f"Not connected. {self.last_serial} is the phone connected last: enter connects.")
        self.update_controls()
        if self.find_virtual_phone is not None:
            self.probe = self.run_worker(self.probe_in_thread, thread=True, group="probe", exit_on_error=False)

    def probe_in_thread(self) -> None:
        serial = self.find_virtual_phone()
        if serial:
            self.post_from_thread(VirtualPhoneFound(serial))

    @on(VirtualPhoneFound)
    def virtual_phone_found(self, message: VirtualPhoneFound) -> None:
        """The running virtual phone comes before the last phone, unless the person has typed or connected since."""
        box = self.query_one("#serial", Input)
        if self.session is not None or box.value != (self.last_serial or ""):
            return
        box.value = message.serial
        box.cursor_position = len(message.serial)
        self.show_status(f"Not connected. A virtual phone runs on this computer at {message.serial}: enter connects.")

    def model_name(self) -> str:
        return self.model.name if self.model else "bundled (planestrike.tflite)"

    # ------------------------------------------------------------------------------------------- state
    @property
    def connected(self) -> bool:
        return self.info is not None and self.session is not None and self.session.connected

    def update_controls(self) -> None:
        ready = self.connected and not self.busy
        for button in ("#push", "#opponent", "#panel"):
            self.query_one(button, Button).disabled = not ready
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("push", "choose"):
            return True if self.connected and not self.busy else None  # None: shown greyed in the footer
        return True

    def show_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def start(self, job, session: DeviceSession, doing: str) -> None:
        self.busy = True
        self.show_status(doing)
        self.update_controls()
        self.worker = self.run_worker(partial(job, session), thread=True, group="device", exit_on_error=False)

    def post_from_thread(self, message: Message) -> bool:
        """Post from a worker; False when the screen (or the whole app) has closed in the meantime."""
        try:
            return self.post_message(message)
        except RuntimeError:  # the app's event loop is already closed
            return False

    # ----------------------------------------------------------------------------------------- connect
    @on(Input.Submitted, "#serial")
    @on(Button.Pressed, "#connect")
    def connect_requested(self) -> None:
        text = self.query_one("#serial", Input).value.strip()
        if not text:
            self.show_status("Type the phone's address, e.g. 192.168.1.20:5555, or its USB serial.", error=True)
            return
        try:
            address = Address.parse(text)
        except DeviceError as error:
            self.show_status(one_line(error), error=True)
            return
        self.drop_session()  # also ends an earlier attempt still waiting for "Allow"
        self.session = DeviceSession(address, self.config)
        self.start(self.connect_in_thread, self.session, f"Connecting to {address.serial}…")

    def connect_in_thread(self, session: DeviceSession) -> None:
        try:
            session.connect(on_auth_wait=lambda: self.post_from_thread(AuthWaiting(session)))
            info = session.info()
        except BaseException as error:  # whatever goes wrong is one line on this screen, never the app's end
            session.close()
            self.post_from_thread(DeviceFailed(session, one_line(error)))
            return
        # A convenience only: a read-only config folder (remember() says so as a DeviceError) is no failure.
        with contextlib.suppress(OSError, PlanestrikeError):
            known_devices.remember(session.serial)  # the default next time, as after `planestrike device connect`
        if not self.post_from_thread(DeviceConnected(session, info)):
            session.close()  # the screen closed while the phone connected: nobody will use this connection

    @on(AuthWaiting)
    def auth_waiting(self, message: AuthWaiting) -> None:
        if message.session is self.session:
            self.add_class("-waiting-auth")
            self.show_status(f"Waiting for {message.session.serial} to accept this computer "
                             f"(up to {self.config.auth_timeout_s:g} s)…")

    @on(DeviceConnected)
    def device_connected(self, message: DeviceConnected) -> None:
        if message.session is not self.session:
            message.session.close()  # superseded by a newer attempt while it connected
            return
        self.busy = False
        self.info = message.info
        self.remove_class("-waiting-auth")
        self.add_class("-connected")
        self.query_one("#info", Static).update(describe(message.info))
        self.show_status(f"Connected to {message.info.serial}.")
        self.update_controls()
        self.query_one("#opponent", Button).focus()

    @on(DeviceFailed)
    def device_failed(self, message: DeviceFailed) -> None:
        if message.session is not self.session:
            return
        self.busy = False
        self.remove_class("-waiting-auth")
        self.query_one("#progress").display = False  # a push that failed has no progress to show
        if not message.session.connected:  # the connection itself failed or dropped
            self.info = None
            self.remove_class("-connected")
        self.show_status(message.message, error=True)
        self.update_controls()

    def drop_session(self) -> None:
        session, self.session = self.session, None
        self.info = None
        self.busy = False
        self.remove_class("-waiting-auth", "-connected")
        self.query_one("#progress").display = False
        self.query_one("#pushed", Static).update("")  # that was another phone, or the same one before a reconnect
        if session is not None:
            session.close()

    # -------------------------------------------------------------------------------------------- push
    def action_push(self) -> None:
        if self.connected and not self.busy:
            bar = self.query_one("#progress", ProgressBar)
            bar.display = True
            bar.update(total=None, progress=0)  # indeterminate while the phone checks its cache
            self.start(self.push_in_thread, self.session, f"Pushing {self.model_name()}…")

    @on(Button.Pressed, "#push")
    def push_pressed(self) -> None:
        self.action_push()

    def push_in_thread(self, session: DeviceSession) -> None:
        from devicelink.agent import bundled_model

        sent = []
        try:
            model = self.model or bundled_model()

            def progress(chunk: int, total: int) -> None:
                sent.append(chunk)
                self.post_from_thread(PushProgress(session, chunk, total))

            pushed = session.push_model(model, progress=progress)
        except BaseException as error:
            self.post_from_thread(DeviceFailed(session, one_line(error)))
        else:
            self.post_from_thread(ModelPushed(session, pushed, transferred=bool(sent)))

    @on(PushProgress)
    def push_progress(self, message: PushProgress) -> None:
        if message.session is self.session:
            bar = self.query_one("#progress", ProgressBar)
            if bar.total is None:
                bar.update(total=message.total, progress=0)
            bar.advance(message.sent)

    @on(ModelPushed)
    def model_pushed(self, message: ModelPushed) -> None:
        if message.session is not self.session:
            return
        self.busy = False
        self.query_one("#progress", ProgressBar).update(total=message.pushed.size, progress=message.pushed.size)
        how = "Pushed and verified" if message.transferred else "Already on the phone"
        self.query_one("#pushed", Static).update(
            f"{how}: {message.pushed.size:,} bytes\nsha256 {message.pushed.sha256}")
        self.show_status(f"{self.model_name()} is on {message.session.serial}.")
        self.update_controls()

    # ---------------------------------------------------------------------------------------- choosing
    def action_choose(self, as_opponent: bool) -> None:
        if not self.connected or self.busy:
            return
        serial = self.session.serial
        spec = f"device:{serial}:{self.model}" if self.model else f"device:{serial}"
        self.dismiss(DeviceChoice(spec, as_opponent))

    @on(Button.Pressed, "#opponent")
    def opponent_pressed(self) -> None:
        self.action_choose(True)

    @on(Button.Pressed, "#panel")
    def panel_pressed(self) -> None:
        self.action_choose(False)

    def action_close(self) -> None:
        self.dismiss(None)

    def on_unmount(self) -> None:
        # The agent the app loads opens its own connection: this one was only for the screen. Closing it also ends
        # a connection attempt still waiting for "Allow", which would otherwise hold the app open when it quits.
        session, self.session = self.session, None
        if session is not None:
            session.close()


def describe(info: DeviceInfo) -> Content:
    runners = [name for name, present in (("benchmark_model", info.has_benchmark_model),
                                          ("persistent runner", info.has_persistent_runner)) if present]
    runner_text = ", ".join(runners) or "none: run 'planestrike device setup --benchmark-model PATH'"
    # What the phone reports is untrusted text: substituted as $variables, it is never read as markup.
    return Content.from_markup(
        "[b]Device[/b]   $model ($serial)\n"
        "[b]Android[/b]  $android · ABI $abi\n"
        "[b]Runners[/b]  $runners\n"
        "[b]Latency[/b]  $latency ms per round trip (median of 5)",
        model=info.model or "unknown", serial=info.serial, android=info.android_version or "?",
        abi=info.abi or "?", runners=runner_text, latency=f"{info.latency_ms:.2f}")
