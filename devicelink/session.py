"""A connection to one phone: commands with exit codes, file transfer, and the model cache.

Everything that crosses the wire is translated here into ``devicelink.errors``: a dropped connection is
``DeviceLost`` (the session can ``reconnect()``), a failed command is ``DeviceCommandFailed`` with its exit status.
Paths and arguments are always quoted for the phone's shell, so file names with spaces, quotes or ``$(...)``
reach the phone as written.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import secrets
import shlex
import socket
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from devicelink import layout
from devicelink.errors import (DeviceAuthError, DeviceCommandFailed, DeviceError, DeviceLost, DeviceTimeout,
                               DeviceUnreachable, DeviceUnsupported)
from devicelink.stream import AdbStream

DEFAULT_TCP_PORT = 5555
_COMMAND_NOT_FOUND = 127  # the shell's exit status for a missing program
_MODEL_NAME = re.compile(r"^([0-9a-f]{64})\.tflite$")

# shell protocol v2 packet ids
_STDIN, _STDOUT, _STDERR, _EXIT, _CLOSE_STDIN = range(5)
_PACKET = struct.Struct("<BI")


@dataclass(frozen=True)
class SessionConfig:
    connect_timeout_s: float = 5.0  # TCP connect and the ADB handshake
    auth_timeout_s: float = 30.0  # how long to wait for someone to tap "Allow" on the phone
    command_timeout_s: float = 20.0  # the longest a command or transfer may go without the phone answering
    key_path: Path | None = None  # None: ~/.android/adbkey if present, else planestrike's own key


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: bytes
    stderr: bytes

    def stderr_line(self) -> str:
        lines = self.stderr.decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""


@dataclass(frozen=True)
class PushedModel:
    sha256: str
    size: int
    device_path: str


@dataclass(frozen=True)
class DeviceInfo:
    serial: str
    model: str
    android_version: str
    abi: str
    has_benchmark_model: bool
    has_persistent_runner: bool
    latency_ms: float  # median round trip of a small request


@dataclass(frozen=True)
class Address:
    """Where a phone is: ``HOST:PORT`` over TCP (``adb tcpip 5555`` mode) or a USB serial number."""

    serial: str
    host: str | None = None
    port: int | None = None

    @property
    def is_tcp(self) -> bool:
        return self.host is not None

    @classmethod
    def parse(cls, serial: str) -> Address:
        serial = serial.strip()
        host, sep, port = serial.rpartition(":")
        if sep:
            if not port.isdigit() or not 0 < int(port) < 65536 or not host:
                raise DeviceError(f"'{serial}' is not HOST:PORT: write it like 192.168.1.20:5555")
            return cls(serial, host.strip("[]"), int(port))
        if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", serial) or serial == "localhost":
            return cls(f"{serial}:{DEFAULT_TCP_PORT}", serial, DEFAULT_TCP_PORT)
        if not serial or not re.fullmatch(r"[A-Za-z0-9._-]+", serial):
            raise DeviceError(f"'{serial}' is neither HOST:PORT nor a USB serial number (see 'planestrike device list')")
        return cls(serial)


def quote(argv: Sequence[str]) -> str:
    """One shell command line from arguments, each quoted for the phone's POSIX shell (mksh)."""
    return " ".join(shlex.quote(str(argument)) for argument in argv)


class DeviceSession:
    """One connection to one phone. Use it from one thread at a time; a phone accepts several sessions at once."""

    def __init__(self, address: Address, config: SessionConfig = SessionConfig()):
        self.address = address
        self.config = config
        self._device = None
        self._connecting = None  # the TCP transport of a connect() in progress, so close() can end it

    @property
    def serial(self) -> str:
        return self.address.serial

    @property
    def connected(self) -> bool:
        return self._device is not None

    # --- connecting ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, serial: str, config: SessionConfig = SessionConfig(),
             on_auth_wait: Callable[[], None] | None = None) -> DeviceSession:
        session = cls(Address.parse(serial), config)
        session.connect(on_auth_wait)
        return session

    def connect(self, on_auth_wait: Callable[[], None] | None = None) -> None:
        """Connect and authenticate. ``on_auth_wait`` runs when the phone starts asking its user to tap Allow."""
        from adb_shell import exceptions as adb_errors
        from adb_shell.adb_device import AdbDevice

        from devicelink.keys import load_signer

        self.close()
        signer = load_signer(self.config.key_path)
        transport = self._transport()
        device = AdbDevice(transport, default_transport_timeout_s=self.config.command_timeout_s, banner="planestrike")
        self._connecting = transport if self.address.is_tcp else None
        asked_user = []

        def auth_callback(_device: object) -> None:
            asked_user.append(True)
            if on_auth_wait is not None:
                on_auth_wait()

        where = self.serial
        try:
            device.connect(rsa_keys=[signer], transport_timeout_s=self.config.connect_timeout_s,
                           auth_timeout_s=self.config.auth_timeout_s, read_timeout_s=self.config.connect_timeout_s,
                           auth_callback=auth_callback)
        except (adb_errors.TcpTimeoutException, adb_errors.AdbTimeoutError):
            device.close()
            if asked_user:
                raise DeviceAuthError(
                    f"{where} did not accept this computer within {self.config.auth_timeout_s:g} s: unlock the phone, "
                    f"tap Allow on 'Allow USB debugging?' (tick 'Always allow'), then try again") from None
            raise DeviceUnreachable(f"{where} accepted the connection but did not answer the ADB handshake within "
                                    f"{self.config.connect_timeout_s:g} s: is it an ADB port?") from None
        except adb_errors.InvalidCommandError as error:
            device.close()
            if "STLS" in str(error):
                raise DeviceUnsupported(
                    f"{where} asks for TLS: Android 11+ wireless debugging (pairing) is not supported; connect by "
                    f"USB, or run 'adb tcpip 5555' once over USB and use the phone's IP with port 5555") from None
            raise DeviceUnreachable(f"{where} does not speak ADB ({error})") from None
        except adb_errors.DeviceAuthError as error:
            device.close()
            raise DeviceAuthError(f"{where} refused this computer's key ({error})") from None
        except (socket.timeout, TimeoutError):
            device.close()
            raise DeviceUnreachable(f"nothing answered at {where} within {self.config.connect_timeout_s:g} s: check "
                                    f"the address and that the phone is on this network in 'adb tcpip 5555' mode") from None
        except ConnectionRefusedError:
            device.close()
            raise DeviceUnreachable(f"{where} refused the connection: check the port, and that the phone is in "
                                    f"'adb tcpip 5555' mode (run it once over USB after each reboot)") from None
        except OSError as error:
            device.close()
            raise DeviceUnreachable(_os_error_advice(where, error)) from None
        except Exception as error:
            device.close()
            if self.address.is_tcp:
                raise
            # USB failures arrive from libusb (usb1.USBError*) and adb-shell's USB exceptions, with many types.
            raise DeviceUnreachable(_usb_error_advice(where, error)) from None
        finally:
            self._connecting = None
        self._device = device

    def _transport(self):
        if self.address.is_tcp:
            from devicelink.transport import ReliableTcpTransport

            return ReliableTcpTransport(self.address.host, self.address.port)
        try:
            from adb_shell.transport.usb_transport import UsbTransport
        except ImportError:
            raise DeviceUnsupported(f"'{self.serial}' looks like a USB serial, and USB needs the 'usb' extra: "
                                    f"pip install 'planestrike[usb]' (or use HOST:PORT after 'adb tcpip 5555')") from None
        from adb_shell.exceptions import UsbDeviceNotFoundError

        try:
            return UsbTransport.find_adb(serial=self.serial)
        except UsbDeviceNotFoundError:
            raise DeviceUnreachable(f"no USB phone with serial {self.serial}: plug it in, enable USB debugging in "
                                    f"Developer options, and check 'planestrike device list'") from None

    def reconnect(self, on_auth_wait: Callable[[], None] | None = None) -> None:
        self.connect(on_auth_wait)

    def close(self) -> None:
        """Drop the connection. Called from another thread, it also ends a TCP connect() still waiting for the
        handshake or for someone to tap Allow: that connect() raises DeviceUnreachable at once."""
        connecting = self._connecting
        if connecting is not None:
            connecting.interrupt()
        if self._device is not None:
            with contextlib.suppress(Exception):
                self._device.close()
            self._device = None

    def __enter__(self) -> DeviceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _wire(self, doing: str) -> Iterator:
        """Turn adb-shell and socket failures during ``doing`` into DeviceLost (and drop the dead connection)."""
        from adb_shell import exceptions as adb_errors

        if self._device is None:
            raise DeviceLost(f"not connected to {self.serial}: reconnect it (planestrike device connect {self.serial})")
        try:
            yield self._device
        except DeviceError:
            raise
        except (adb_errors.PushFailedError, adb_errors.AdbCommandFailureException) as error:
            raise DeviceCommandFailed(f"the phone refused {doing}: {_device_message(error)}") from None
        except (adb_errors.TcpTimeoutException, adb_errors.AdbTimeoutError):
            self.close()  # the stream's state is unknown now: start afresh on the next call
            raise DeviceTimeout(f"{self.serial} stopped answering while {doing} (nothing within the timeout); "
                                f"if a program on the phone hangs, raise the timeout or fix the program") from None
        except (OSError, adb_errors.InvalidCommandError, adb_errors.InvalidResponseError,
                adb_errors.InvalidChecksumError, adb_errors.UsbReadFailedError, adb_errors.UsbWriteFailedError) as error:
            self.close()
            raise DeviceLost(f"lost the connection to {self.serial} while {doing} ({error}); "
                             f"check the phone, then reconnect") from None

    # --- streams and commands -----------------------------------------------------------------------------------
    def open_stream(self, service: str, timeout_s: float | None = None) -> AdbStream:
        with self._wire(f"opening {service.split(':')[0]}") as device:
            return AdbStream(device, service, timeout_s or self.config.command_timeout_s)

    @contextlib.contextmanager
    def stream_errors(self, doing: str) -> Iterator:
        """For callers driving an ``AdbStream`` themselves: the same error translation as the session's calls."""
        with self._wire(doing):
            yield

    def run(self, argv: Sequence[str], stdin: bytes = b"", timeout_s: float | None = None) -> CommandResult:
        """Run a command on the phone (shell protocol v2): its exit status, stdout and stderr, kept apart."""
        command = quote(argv)
        doing = f"running {argv[0]}"
        stream = self.open_stream(f"shell,v2,raw:{command}", timeout_s)
        stdout, stderr, exit_code, buffer = bytearray(), bytearray(), None, b""
        with self._wire(doing):
            try:
                if stdin:
                    stream.write(_PACKET.pack(_STDIN, len(stdin)) + stdin)
                stream.write(_PACKET.pack(_CLOSE_STDIN, 0))
                while exit_code is None:
                    data = stream.read()
                    if not data:
                        raise DeviceLost(f"{self.serial} closed '{argv[0]}' without an exit status")
                    buffer += data
                    while len(buffer) >= _PACKET.size:
                        packet_id, length = _PACKET.unpack_from(buffer)
                        if len(buffer) < _PACKET.size + length:
                            break
                        payload = buffer[_PACKET.size:_PACKET.size + length]
                        buffer = buffer[_PACKET.size + length:]
                        if packet_id == _STDOUT:
                            stdout += payload
                        elif packet_id == _STDERR:
                            stderr += payload
                        elif packet_id == _EXIT and payload:
                            exit_code = payload[0]
            finally:
                stream.close()
        return CommandResult(exit_code, bytes(stdout), bytes(stderr))

    def check(self, argv: Sequence[str], timeout_s: float | None = None) -> bytes:
        """``run``, raising ``DeviceCommandFailed`` on a non-zero exit status; returns stdout."""
        result = self.run(argv, timeout_s=timeout_s)
        if result.exit_code != 0:
            detail = result.stderr_line() or result.stdout.decode("utf-8", "replace").strip()[-200:]
            raise DeviceCommandFailed(f"'{argv[0]}' failed on {self.serial} with exit status {result.exit_code}"
                                      + (f": {detail}" if detail else ""), result.exit_code, detail)
        return result.stdout

    # --- files --------------------------------------------------------------------------------------------------
    def push(self, source: Path | bytes, device_path: str, mode: int = 0o644,
             progress: Callable[[int, int], None] | None = None) -> None:
        """Copy a local file (or bytes) to the phone. ``progress(bytes_in_this_chunk, total)`` follows the transfer."""
        if isinstance(source, bytes):
            data = source
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as error:
                raise DeviceError(f"cannot read {source}: {error.strerror}") from None
        with self._wire(f"pushing to {device_path}") as device:
            device.push(_ReportingReader(data, progress), device_path, st_mode=0o100000 | mode)

    def pull(self, device_path: str) -> bytes:
        buffer = io.BytesIO()
        with self._wire(f"pulling {device_path}") as device:
            device.pull(device_path, buffer)
        return buffer.getvalue()

    def sha256(self, device_path: str) -> str | None:
        """The sha256 of a file on the phone, computed there; None if it does not exist.

        Phones whose toybox has no sha256sum (older Android) get a pulled copy hashed here instead.
        """
        # Read through stdin: sha256sum escapes odd file names in its output ("\\" prefix for a newline).
        result = self.run(["sh", "-c", 'test -f "$1" || exit 2; sha256sum < "$1"', "sha256", device_path])
        if result.exit_code == 2:
            return None
        if result.exit_code == _COMMAND_NOT_FOUND:
            return hashlib.sha256(self.pull(device_path)).hexdigest()
        digest = result.stdout.split(b" ", 1)[0].decode("ascii", "replace")
        if result.exit_code != 0 or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise DeviceCommandFailed(f"sha256sum failed on {self.serial} for {device_path} (exit status "
                                      f"{result.exit_code}): {result.stderr_line()}", result.exit_code)
        return digest

    # --- the model cache ----------------------------------------------------------------------------------------
    def push_model(self, model: Path, progress: Callable[[int, int], None] | None = None) -> PushedModel:
        """Make the model available on the phone under its sha256, pushing it only if it is not there yet.

        The bytes go to a temporary name, the phone computes their sha256, and only a matching copy is renamed
        into place: an interrupted or corrupted push never leaves a model under its final name.
        """
        try:
            data = Path(model).read_bytes()
        except OSError as error:
            raise DeviceError(f"cannot read the model {model}: {error.strerror}") from None
        digest = hashlib.sha256(data).hexdigest()
        final = f"{layout.MODELS_DIR}/{digest}.tflite"
        pushed = PushedModel(digest, len(data), final)
        if self.sha256(final) == digest:
            return pushed
        temporary = f"{layout.MODELS_DIR}/.{digest[:16]}.{secrets.token_hex(4)}.partial"
        self.push(data, temporary, progress=progress)
        on_phone = self.sha256(temporary)
        if on_phone != digest:
            self.run(["rm", "-f", temporary])
            raise DeviceError(f"the copy of {Path(model).name} on {self.serial} does not match (sha256 "
                              f"{(on_phone or 'missing')[:12]} instead of {digest[:12]}): push it again; if it keeps "
                              f"happening, the connection is corrupting data")
        self.check(["mv", "-f", temporary, final])
        return pushed

    def models(self) -> list[PushedModel]:
        with self._wire(f"listing {layout.MODELS_DIR}") as device:
            entries = device.list(layout.MODELS_DIR)
        found = []
        for entry in entries:
            name = bytes(entry.filename).decode("utf-8", "replace")
            match = _MODEL_NAME.match(name)
            if match:
                found.append(PushedModel(match.group(1), entry.size, f"{layout.MODELS_DIR}/{name}"))
        return sorted(found, key=lambda model: model.sha256)

    def remove_model(self, sha256_prefix: str) -> PushedModel:
        prefix = sha256_prefix.lower()
        matches = [model for model in self.models() if model.sha256.startswith(prefix)]
        if not prefix or len(matches) != 1:
            raise DeviceError(f"{'no' if not matches else 'more than one'} pushed model starts with '{sha256_prefix}'"
                              f": see 'planestrike device models {self.serial}'")
        self.check(["rm", "-f", matches[0].device_path])
        return matches[0]

    # --- what the app shows ---------------------------------------------------------------------------------------
    def latency_ms(self, samples: int = 5) -> float:
        """Median round trip of a tiny request (a sync STAT): the link's latency, no process started."""
        times = []
        with self._wire("measuring latency") as device:
            for _ in range(samples):
                start = time.perf_counter()
                device.stat(layout.DEVICE_TMP)
                times.append((time.perf_counter() - start) * 1000)
        return sorted(times)[len(times) // 2]

    def info(self) -> DeviceInfo:
        script = (f"getprop ro.product.model; getprop ro.build.version.release; getprop ro.product.cpu.abi; "
                  f"test -x {layout.BENCHMARK_MODEL} && echo benchmark_model; "
                  f"test -x {layout.PERSISTENT_RUNNER} && echo persistent_runner; true")
        result = self.run(["sh", "-c", script])
        lines = result.stdout.decode("utf-8", "replace").splitlines() + ["", "", ""]
        return DeviceInfo(self.serial, lines[0].strip(), lines[1].strip(), lines[2].strip(),
                          "benchmark_model" in lines[3:], "persistent_runner" in lines[3:], self.latency_ms())


class _ReportingReader(io.BytesIO):
    """Bytes for adb-shell's push that report each chunk as it is taken (its own callback needs a real file)."""

    def __init__(self, data: bytes, progress: Callable[[int, int], None] | None):
        super().__init__(data)
        self._total = len(data)
        self._progress = progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if chunk and self._progress is not None:
            self._progress(len(chunk), self._total)
        return chunk


def _device_message(error: Exception) -> str:
    text = str(error.args[0] if error.args else error)
    return text.removeprefix("bytearray(b'").removesuffix("')").removeprefix("Command failed: ")


def _os_error_advice(where: str, error: OSError) -> str:
    return f"cannot reach {where}: {error.strerror or error}: check the address and the network"


def _usb_error_advice(where: str, error: Exception) -> str:
    text = f"{type(error).__name__}: {error}"
    if "BUSY" in text.upper():
        return (f"the USB device {where} is busy: another adb server holds it. Run 'adb kill-server' "
                f"(and close Android Studio), then try again")
    if "ACCESS" in text.upper():
        return f"no permission to open the USB device {where}: add a udev rule for it (see docs/device.md)"
    return f"cannot talk to {where} over USB ({text})"
