"""Shared pieces for the devicelink tests: the reference model, keys, virtual phones and the real adb client.

Every server these helpers start binds 127.0.0.1 on a free port and is stopped (or killed) on exit.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REFERENCE_MODELS = Path(__file__).resolve().parents[2] / "shared" / "reference-models"
REFERENCE_MODEL = REFERENCE_MODELS / "planestrike_tf.tflite"
REPO = Path(__file__).resolve().parents[1]


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


def free_port() -> int:
    """A free loopback port outside 5555-5585 (the adb server's emulator scan range)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not 5555 <= port <= 5585:
            return port


@contextlib.contextmanager
def phone_in_thread(state_dir: Path, accept_all_keys: bool = False, **config):
    from devicelink.emulator import VirtualPhone, VirtualPhoneConfig

    phone = VirtualPhone(VirtualPhoneConfig(state_dir, accept_all_keys=accept_all_keys, **config))
    with phone:
        yield phone


class EmulatorProcess:
    """`planestrike device emulate` as a real subprocess, so a test can kill it like a phone losing power."""

    def __init__(self, state_dir: Path, port: int = 0, accept_all_keys: bool = True):
        self.state_dir = state_dir
        argv = [sys.executable, "-m", "planestrike_tui.cli", "device", "emulate", "--port", str(port),
                "--state-dir", str(state_dir)]
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
def emulator_process(state_dir: Path, port: int = 0, accept_all_keys: bool = True):
    emulator = EmulatorProcess(state_dir, port, accept_all_keys)
    try:
        yield emulator
    finally:
        emulator.kill()


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
