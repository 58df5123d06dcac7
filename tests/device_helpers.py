"""Shared pieces for the devicelink tests: the reference model, keys, virtual phones, the real adb client, and a
fake device that misbehaves on the wire.

Every server these helpers start binds 127.0.0.1 on a free port and is stopped (or killed) on exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assets import OFFICIAL_APP_MODEL

REFERENCE_MODEL = OFFICIAL_APP_MODEL  # the official app's policy, vendored in assets/official_app
REPO = Path(__file__).resolve().parents[1]

# One cache for the whole test session (built runners, the arm64 LiteRT wheel, the virtual phone's exec shim),
# shared with the subprocesses the tests start, and removed at the end: tests never touch the user's cache.
if "PLANESTRIKE_TEST_CACHE" not in os.environ:
    import tempfile

    os.environ["PLANESTRIKE_TEST_CACHE"] = os.environ["PLANESTRIKE_CACHE_DIR"] = tempfile.mkdtemp(
        prefix="planestrike-test-cache-")
    atexit.register(shutil.rmtree, os.environ["PLANESTRIKE_TEST_CACHE"], True)
FAKE_RUNTIME = "ffffffffffffffff"  # the runtime hash test scripts are installed under


def install_runtime_script(phone_or_state_dir, script: str) -> None:
    """Make ``script`` the phone's runtime `start` script: the persistent runner the agent starts is then this
    script (run as ``sh start --model PATH --threads N``). Works on a running phone or its state folder."""
    from devicelink.emulator.sandbox import Sandbox

    sandbox = phone_or_state_dir.sandbox if hasattr(phone_or_state_dir, "sandbox") else \
        Sandbox(Path(phone_or_state_dir) / "data-local-tmp")
    sandbox.install_runtime(FAKE_RUNTIME, script)


def install_standin_runtime(state_dir: Path) -> None:
    """The desktop stand-in runner as the current runtime of a virtual phone's state folder."""
    from devicelink.emulator.sandbox import Sandbox

    Sandbox(Path(state_dir) / "data-local-tmp").install_standin_runtime()


def make_key(directory: Path) -> Path:
    from devicelink.keys import generate_key

    path = directory / "adbkey"
    if not path.exists():
        generate_key(path)
    return path


def trust(state_dir: Path, key: Path) -> None:
    """Put a host key into the virtual phone's adb_keys, as an earlier 'Always allow' would have."""
    state_dir.mkdir(parents=True, exist_ok=True)
    public = key.with_name(key.name + ".pub").read_text().strip()
    with (state_dir / "adb_keys").open("a") as handle:
        handle.write(public + "\n")


def recv_exactly(connection: socket.socket, count: int, peer: str) -> bytes:
    """``count`` bytes from a raw socket; ConnectionResetError naming ``peer`` if it closes first."""
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError(f"{peer} closed the connection")
        data += chunk
    return data


def power_cut_halfway(emulator) -> Callable[[int, int], None]:
    """A push progress callback that kills the virtual phone's process once half the bytes are sent."""
    sent = []

    def cut(chunk: int, total: int) -> None:
        sent.append(chunk)
        if sum(sent) >= total // 2:
            emulator.kill()

    return cut


def free_port() -> int:
    """A free loopback port outside 5555-5585 (the adb server's emulator scan range)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not 5555 <= port <= 5585:
            return port


def install_program(phone, device_path: str, script: str) -> None:
    """Put an executable script on the virtual phone (its shell runs it as a real process)."""
    target = phone.sandbox.host_path(device_path)
    target.write_text(script)
    target.chmod(0o755)


@contextlib.contextmanager
def phone_in_thread(state_dir: Path, accept_all_keys: bool = False, standin_runtime: bool = True, **config):
    """A virtual phone in this process. With ``standin_runtime`` (the default, for the protocol tests) the desktop
    stand-in runner is installed as its runtime; the phone itself never installs one."""
    from devicelink.emulator import VirtualPhone, VirtualPhoneConfig

    phone = VirtualPhone(VirtualPhoneConfig(state_dir, accept_all_keys=accept_all_keys, **config))
    if standin_runtime:
        phone.sandbox.install_standin_runtime()
    with phone:
        yield phone


class EmulatorProcess:
    """`planestrike device emulate` as a real subprocess, so a test can kill it like a phone losing power."""

    def __init__(self, state_dir: Path, port: int = 0, accept_all_keys: bool = True, abi: str | None = None):
        self.state_dir = state_dir
        argv = [sys.executable, "-m", "planestrike_tui.cli", "device", "emulate", "--port", str(port),
                "--state-dir", str(state_dir)] + (["--abi", abi] if abi else [])
        if accept_all_keys:
            argv.append("--accept-all-keys")
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        self.lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                return
        self.kill()
        raise RuntimeError(f"the virtual phone did not start: {''.join(self.lines)}")

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process.stdout.close()

    def terminate(self) -> str:
        """Stop it cleanly (SIGTERM); returns the rest of its output."""
        self.process.send_signal(signal.SIGTERM)
        watchdog = threading.Timer(15, self.process.kill)  # bounded even if SIGTERM is ignored
        watchdog.start()
        try:
            rest = self.process.stdout.read()  # not communicate(): it would skip what readline() already buffered
            self.process.wait()
        finally:
            watchdog.cancel()
        return "".join(self.lines) + rest


@contextlib.contextmanager
def emulator_process(state_dir: Path, port: int = 0, accept_all_keys: bool = True, abi: str | None = None):
    emulator = EmulatorProcess(state_dir, port, accept_all_keys, abi)
    try:
        yield emulator
    finally:
        emulator.kill()


def tool_or_skip(name: str, package: str) -> str:
    """A system tool's path. In CI ($CI set) a missing one fails the test instead of skipping it."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: CI must install Debian's '{package}' package (apt-get install "
                        f"{package})")
        pytest.skip(f"{name} is not installed (apt-get install {package})")
    return found


def arm64_tools_or_skip() -> None:
    """The cross compiler and qemu-aarch64, which the arm64 runtime tests need (CI installs both)."""
    tool_or_skip("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    tool_or_skip("qemu-aarch64", "qemu-user")


def adb_or_skip() -> str:
    """The real adb client's path. In CI (CI=true) a missing adb fails the test instead of skipping it."""
    path = shutil.which("adb")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("adb is not installed: CI must install Debian's 'adb' package (apt-get install adb)")
        pytest.skip("the real adb client is not installed (apt-get install adb)")
    return path


class AdbClient:
    """The real adb client with a private HOME (its key) and its own server port; the server is killed on close."""

    def __init__(self, home: Path):
        self.executable = adb_or_skip()
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.server_port = free_port()
        self.environment = dict(os.environ, HOME=str(home), ANDROID_SDK_HOME=str(home))
        self.environment.pop("ANDROID_ADB_SERVER_PORT", None)
        self.environment.pop("ADB_VENDOR_KEYS", None)

    def __call__(self, *arguments: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([self.executable, "-P", str(self.server_port), *arguments], env=self.environment,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"adb {' '.join(arguments)} exited {result.returncode}: {result.stdout}{result.stderr}")
        return result

    def key(self) -> Path:
        """The client's key, created the way adb creates it on first start."""
        key = self.home / ".android" / "adbkey"
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True)
            self("keygen", str(key))
        return key

    def wait_for_state(self, serial: str, state: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            devices = self("devices").stdout
            if re.search(rf"^{re.escape(serial)}\s+{state}\b", devices, re.MULTILINE):
                return
            time.sleep(0.1)
        raise AssertionError(f"{serial} never became '{state}': {devices}")

    def close(self) -> None:
        self("kill-server", check=False, timeout=15)


@contextlib.contextmanager
def adb_client(home: Path):
    client = AdbClient(home)
    try:
        yield client
    finally:
        client.close()


def fails_in_time(action, error_type, match: str, deadline_s: float, slack_s: float):
    """``action()`` fails with ``error_type`` in one line matching ``match``, less than ``slack_s`` after
    ``deadline_s`` (slack for starting programs on a busy machine); returns the error."""
    started = time.monotonic()
    with pytest.raises(error_type, match=match) as failure:
        action()
    elapsed = time.monotonic() - started
    assert elapsed < deadline_s + slack_s, f"it took {elapsed:.1f} s"
    assert "\n" not in str(failure.value)
    return failure.value


# --- a fake device that misbehaves on the wire ----------------------------------------------------------------------
ADB_HEADER = struct.Struct("<6I")  # command, arg0, arg1, data_length, data_checksum, magic
DEVICE_BANNER = b"device::ro.product.name=fake;ro.product.model=Fake;ro.product.device=fake;features=shell_v2"


def adb_packet(command: bytes, arg0: int = 0, arg1: int = 0, data: bytes = b"", checksum: int | None = None,
               magic: int | None = None, length: int | None = None) -> bytes:
    """One ADB message as a device sends it; ``checksum``, ``magic`` and ``length`` can be set wrong on purpose."""
    code = int.from_bytes(command, "little")
    checksum = sum(data) & 0xFFFFFFFF if checksum is None else checksum
    magic = code ^ 0xFFFFFFFF if magic is None else magic
    return ADB_HEADER.pack(code, arg0, arg1, len(data) if length is None else length, checksum, magic) + data


class FakeLink:
    """The fake device's end of one connection: read the host's packets, send whatever bytes the script likes."""

    def __init__(self, connection: socket.socket):
        self.connection = connection
        connection.settimeout(10)  # a script that waits for a host that never writes fails instead of hanging

    def read_packet(self) -> tuple[bytes, int, int, bytes]:
        header = self._read_exactly(ADB_HEADER.size)
        code, arg0, arg1, length, _, _ = ADB_HEADER.unpack(header)
        return code.to_bytes(4, "little"), arg0, arg1, self._read_exactly(length)

    def _read_exactly(self, count: int) -> bytes:
        return recv_exactly(self.connection, count, "the host")

    def send(self, data: bytes) -> None:
        self.connection.sendall(data)

    def trickle(self, data: bytes, every_s: float) -> None:
        """Send ``data`` a byte at a time: each byte is progress to a timeout that restarts per read."""
        for byte in data:
            self.send(bytes([byte]))
            time.sleep(every_s)

    def handshake(self) -> None:
        """Accept the host without authentication, as a phone that already trusts its key."""
        assert self.read_packet()[0] == b"CNXN"
        self.send(adb_packet(b"CNXN", 0x01000000, 256 * 1024, DEVICE_BANNER))

    def accept_open(self, remote_id: int = 77) -> int:
        """Read the host's OPEN and accept it; returns the host's local id for the stream."""
        command, local_id, _, _ = self.read_packet()
        assert command == b"OPEN"
        self.send(adb_packet(b"OKAY", remote_id, local_id))
        return local_id


class FakeDevice:
    """A raw TCP server on 127.0.0.1 speaking just enough ADB to misbehave: ``script(link)`` runs per connection.

    ``host_closed`` is set once the host has closed a connection, which is how a test sees that a failing client
    let go of its socket rather than leaving it open.
    """

    def __init__(self, script):
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.host_closed = threading.Event()
        self.errors: list[BaseException] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stopping:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(connection,), daemon=True).start()

    def _run(self, connection: socket.socket) -> None:
        with connection:
            try:
                self.script(FakeLink(connection))
                connection.settimeout(10)
                while connection.recv(65536):  # whatever the host still sends, until it closes
                    pass
                self.host_closed.set()
            except (ConnectionResetError, BrokenPipeError):
                self.host_closed.set()
            except BaseException as error:  # a script that fails (or waits 10 s in vain) is reported by close()
                self.errors.append(error)

    def close(self) -> None:
        self._stopping = True
        self.listener.close()
        assert not self.errors, f"the fake device's script failed: {self.errors!r}"


@contextlib.contextmanager
def fake_device(script):
    device = FakeDevice(script)
    try:
        yield device
    finally:
        device.close()
