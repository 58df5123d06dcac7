"""A connection to one phone: commands with exit codes, file transfer, and the model cache.

Every call is one *operation* (``operation()``): all of it must be done within an overall deadline, computed once,
and it may read only so much (transport.py explains why adb-shell's own timeouts are not enough). Everything that
crosses the wire is translated here into ``devicelink.errors``: a dropped connection is ``DeviceLost`` (the session
can ``reconnect()``), a deadline passed ``DeviceTimeout``, bytes no phone sends ``DeviceProtocolError``, a failed
command ``DeviceCommandFailed`` with its exit status. Paths and arguments are always quoted for the phone's shell,
so file names with spaces, quotes or ``$(...)`` reach the phone as written.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import math
import re
import secrets
import shlex
import socket
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from adb_shell import exceptions as adb_errors

from devicelink import layout
from devicelink.errors import (DeviceAuthError, DeviceCommandFailed, DeviceError, DeviceLost, DeviceProtocolError,
                               DeviceTimeout, DeviceUnreachable, DeviceUnsupported)
from devicelink.stream import CLOSE_STDIN, EXIT, STDERR, STDIN, STDOUT, AdbStream, ShellPackets, shell_packet
from devicelink.transport import MAX_OPERATION_BYTES, OperationTimeout, ProtocolViolation, TlsRequested
from engine.files import read_small_file
from engine.limits import MAX_POLICY_FILE_BYTES, OutOfRange, WholeRange

DEFAULT_TCP_PORT = 5555
TCP_PORT = WholeRange(1, 65535)
MAX_OUTPUT_BYTES = 1 << 20  # what a command may print, stdout and stderr together
MAX_PULL_BYTES = MAX_POLICY_FILE_BYTES  # the largest file pulled from the phone (to hash a model, say)
STALE_PARTIAL_MINUTES = 10  # a push's partial copy untouched this long belongs to a push that died
_COMMAND_NOT_FOUND = 127  # the shell's exit status for a missing program
_MODEL_NAME = re.compile(r"^([0-9a-f]{64})\.tflite$")
_NO_READ_TIMEOUT = math.inf  # adb-shell's read timeouts restart per call: the operation's deadline replaces them
# Ours, adb-shell's own checks (of sync replies, of AUTH), and struct errors on short replies.
_PROTOCOL_ERRORS = (ProtocolViolation, adb_errors.InvalidCommandError, adb_errors.InvalidResponseError,
                    adb_errors.InvalidChecksumError, struct.error)


@dataclass(frozen=True)
class SessionConfig:
    connect_timeout_s: float = 5.0  # TCP connect and the ADB handshake, together
    auth_timeout_s: float = 30.0  # from the moment the phone asks its user "Allow USB debugging?"
    command_timeout_s: float = 20.0  # each command, from start to exit status, and each small request (stat, list)
    min_transfer_bytes_per_s: float = 100_000  # a transfer of N bytes may take command_timeout_s + N / this
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
    has_persistent_runner: bool  # a LiteRT runtime is installed (device setup --runtime)
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
            if not host:
                raise DeviceError(f"'{serial}' is not HOST:PORT: the host is missing; write it like "
                                  f"192.168.1.20:5555")
            try:
                number = TCP_PORT.parse(port)
                host = check_host(host.removeprefix("[").removesuffix("]"))
            except OutOfRange as error:
                raise DeviceError(f"'{serial}' is not HOST:PORT: the port {error}; write it like "
                                  f"192.168.1.20:5555") from None
            except ValueError as error:
                raise DeviceError(f"'{serial}' is not HOST:PORT: {error}; write it like 192.168.1.20:5555") from None
            return cls(tcp_serial(host, number), host, number)
        if re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", serial) or serial == "localhost":
            return cls(f"{serial}:{DEFAULT_TCP_PORT}", serial, DEFAULT_TCP_PORT)
        if not serial or not re.fullmatch(r"[A-Za-z0-9._-]+", serial):
            raise DeviceError(f"'{serial}' is neither HOST:PORT nor a USB serial number (see 'planestrike device list')")
        return cls(serial)


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_host(host: str) -> str:
    """``host`` if it is an IP address or a host name DNS can hold (ASCII labels of 1-63 characters, 253 in all);
    else ``ValueError`` saying why (a 100-character label used to fail deep in the socket library)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    if not host or len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"the host {host[:80]!r} is neither an IP address nor a host name (letters, digits and "
                         "hyphens, dot-separated parts of at most 63)")
    return host


def tcp_serial(host: str, port: int) -> str:
    """How a TCP phone is written: ``HOST:PORT``, with an IPv6 address in brackets (``[::1]:5555``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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

    def allowance_s(self, commands: int = 1, nbytes: int = 0) -> float:
        """The deadline for ``commands`` commands and ``nbytes`` of transfer at the slowest rate still accepted."""
        return commands * self.config.command_timeout_s + nbytes / self.config.min_transfer_bytes_per_s

    # --- connecting ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, serial: str, config: SessionConfig = SessionConfig(),
             on_auth_wait: Callable[[], None] | None = None) -> DeviceSession:
        session = cls(Address.parse(serial), config)
        session.connect(on_auth_wait)
        return session

    def connect(self, on_auth_wait: Callable[[], None] | None = None) -> None:
        """Connect and authenticate within ``connect_timeout_s``; once the phone asks its user to tap Allow
        (``on_auth_wait`` runs then), the user has ``auth_timeout_s`` from that moment."""
        from devicelink.keys import load_signer
        from devicelink.transport import BoundedAdbDevice

        self.close()
        signer = load_signer(self.config.key_path)
        transport = self._transport()
        device = BoundedAdbDevice(transport, banner="planestrike")
        self._connecting = transport if self.address.is_tcp else None
        asked_user = []
        where = self.serial
        try:
            with device.bounded(self.config.connect_timeout_s) as budget:
                def auth_callback(_device: object) -> None:
                    asked_user.append(True)
                    budget.restart(self.config.auth_timeout_s)
                    if on_auth_wait is not None:
                        on_auth_wait()

                device.connect(rsa_keys=[signer], transport_timeout_s=self.config.connect_timeout_s,
                               auth_timeout_s=self.config.auth_timeout_s, read_timeout_s=_NO_READ_TIMEOUT,
                               auth_callback=auth_callback)
        except (OperationTimeout, adb_errors.TcpTimeoutException, adb_errors.AdbTimeoutError):
            device.close()
            if asked_user:
                raise DeviceAuthError(
                    f"{where} did not accept this computer within {self.config.auth_timeout_s:g} s: unlock the phone, "
                    f"tap Allow on 'Allow USB debugging?' (tick 'Always allow'), then try again") from None
            raise DeviceUnreachable(f"{where} accepted the connection but did not complete the ADB handshake within "
                                    f"{self.config.connect_timeout_s:g} s: is it an ADB port?") from None
        except TlsRequested:
            device.close()
            raise DeviceUnsupported(
                f"{where} asks for TLS: Android 11+ wireless debugging (pairing) is not supported; connect by "
                f"USB, or run 'adb tcpip 5555' once over USB and use the phone's IP with port 5555") from None
        except _PROTOCOL_ERRORS as error:
            device.close()
            raise DeviceUnreachable(f"{where} does not speak ADB as a phone does ({_phrase(error)}): check that it "
                                    f"is the phone's ADB port ('adb tcpip 5555'), not another service") from None
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

    # --- operations -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def operation(self, doing: str, timeout_s: float | None = None,
                  max_bytes: int = MAX_OPERATION_BYTES) -> Iterator:
        """One operation on the phone: all of it within ``timeout_s`` of now (default: the command timeout), however
        the phone trickles its bytes, reading at most ``max_bytes``. Operations nest; the inner one never outlives
        the outer. Failures become DeviceErrors naming ``doing``; a connection in an unknown state is dropped."""
        if self._device is None:
            raise DeviceLost(f"not connected to {self.serial}: reconnect it (planestrike device connect {self.serial})")
        seconds = timeout_s or self.config.command_timeout_s
        try:
            with self._device.bounded(seconds, max_bytes):
                yield self._device
        except DeviceError:
            raise
        except (adb_errors.PushFailedError, adb_errors.AdbCommandFailureException) as error:
            raise DeviceCommandFailed(f"the phone refused {doing}: {_device_message(error)}") from None
        except (OperationTimeout, adb_errors.TcpTimeoutException, adb_errors.AdbTimeoutError) as error:
            self.close()  # the stream's state is unknown now: start afresh on the next call
            raise DeviceTimeout(f"{self.serial} did not answer in time: {doing} took over "
                                f"{getattr(error, 'seconds', seconds):g} s; check the phone (a program stuck on it, "
                                f"a dropped network), then try again") from None
        except _PROTOCOL_ERRORS as error:
            self.close()
            raise DeviceProtocolError(f"{self.serial} broke the ADB protocol while {doing} ({_phrase(error)}), so "
                                      f"the connection was dropped: reconnect; if it happens again, restart the "
                                      f"phone") from None
        except (OSError, adb_errors.UsbReadFailedError, adb_errors.UsbWriteFailedError) as error:
            self.close()
            raise DeviceLost(f"lost the connection to {self.serial} while {doing} ({_phrase(error)}); "
                             f"check the phone, then reconnect") from None

    def open_stream(self, service: str, timeout_s: float | None = None) -> AdbStream:
        """A stream to ``service`` that outlives this call; each later use needs an ``operation()`` of its own."""
        with self.operation(f"opening {service.split(':')[0]}", timeout_s) as device:
            return AdbStream(device, service)

    # --- commands -------------------------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], stdin: bytes = b"", timeout_s: float | None = None,
            doing: str | None = None) -> CommandResult:
        """Run a command on the phone (shell protocol v2), all of it within ``timeout_s`` (default: the command
        timeout): its exit status, and its stdout and stderr kept apart (at most ``MAX_OUTPUT_BYTES`` together)."""
        output = {STDOUT: bytearray(), STDERR: bytearray()}
        with self.operation(doing or f"running {argv[0]}", timeout_s) as device:
            stream = AdbStream(device, f"shell,v2,raw:{quote(argv)}")
            try:
                if stdin:
                    stream.write(shell_packet(STDIN, stdin))
                stream.write(shell_packet(CLOSE_STDIN))
                exit_code = self._collect(stream, output, argv[0])
            except DeviceError:
                stream.close()  # a refusal of ours (too much output): the connection stays in use, so tidy up
                raise
            # (Any other failure drops the connection: no point waiting for the phone to confirm the close.)
            stream.close()
        return CommandResult(exit_code, bytes(output[STDOUT]), bytes(output[STDERR]))

    def _collect(self, stream: AdbStream, output: dict[int, bytearray], program: str) -> int:
        """Read a command's output into ``output`` until its exit status, which it returns."""
        packets = ShellPackets()
        while True:
            data = stream.read()
            if not data:
                raise DeviceLost(f"{self.serial} closed '{program}' without an exit status: check the phone, then "
                                 f"try again")
            for packet_id, payload in packets.feed(data):
                if packet_id == EXIT:
                    return payload[0] if payload else -1
                if packet_id in output:
                    output[packet_id] += payload
                    if len(output[STDOUT]) + len(output[STDERR]) > MAX_OUTPUT_BYTES:
                        raise DeviceCommandFailed(f"'{program}' printed more than {MAX_OUTPUT_BYTES:,} bytes on "
                                                  f"{self.serial}, more than planestrike reads from a command: is it "
                                                  f"the right program?")

    def check(self, argv: Sequence[str], timeout_s: float | None = None) -> bytes:
        """``run``, raising ``DeviceCommandFailed`` on a non-zero exit status; returns stdout."""
        result = self.run(argv, timeout_s=timeout_s)
        if result.exit_code != 0:
            detail = result.stderr_line() or result.stdout.decode("utf-8", "replace").strip()[-200:]
            raise DeviceCommandFailed(f"'{argv[0]}' failed on {self.serial} with exit status {result.exit_code}"
                                      + (f": {detail}" if detail else ""), result.exit_code, detail)
        return result.stdout

    # --- files --------------------------------------------------------------------------------------------------
    def push(self, data: bytes, device_path: str, mode: int = 0o644,
             progress: Callable[[int, int], None] | None = None) -> None:
        """Copy bytes to a file on the phone. ``progress(bytes_in_this_chunk, total)`` follows the transfer."""
        with self.operation(f"pushing to {device_path}", self.allowance_s(1, len(data))) as device:
            device.push(_ReportingReader(data, progress), device_path, st_mode=0o100000 | mode,
                        read_timeout_s=_NO_READ_TIMEOUT)

    def pull(self, device_path: str, max_bytes: int = MAX_PULL_BYTES) -> bytes:
        """A file from the phone; refused once it turns out larger than ``max_bytes``."""
        buffer = _CappedBuffer(max_bytes)
        try:
            with self.operation(f"pulling {device_path}", self.allowance_s(1, max_bytes),
                                MAX_OPERATION_BYTES + max_bytes) as device:
                device.pull(device_path, buffer, read_timeout_s=_NO_READ_TIMEOUT)
        except _TooLarge:
            raise DeviceCommandFailed(f"{device_path} on {self.serial} is larger than {max_bytes:,} bytes, the most "
                                      f"planestrike pulls for it") from None
        return buffer.getvalue()

    def sha256(self, device_path: str) -> str | None:
        """The sha256 of a file on the phone, computed there; None if it does not exist.

        Phones whose toybox has no sha256sum (older Android) get a pulled copy (``MAX_PULL_BYTES`` at most) hashed
        here.
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
        into place: an interrupted or corrupted push never leaves a model under its final name. All of it is one
        operation: four commands' worth of time plus the transfer at the slowest accepted rate.
        """
        data = read_small_file(model, MAX_POLICY_FILE_BYTES, "TFLite model")
        digest = hashlib.sha256(data).hexdigest()
        final = f"{layout.MODELS_DIR}/{digest}.tflite"
        pushed = PushedModel(digest, len(data), final)
        with self.operation(f"pushing {Path(model).name}", self.allowance_s(4, len(data))):
            if self.sha256(final) == digest:
                return pushed
            # Partial copies left by pushes that died before their rename, ours or another computer's; a recent one
            # may still be in flight, so only those untouched for STALE_PARTIAL_MINUTES go.
            self.run(["find", layout.MODELS_DIR, "-maxdepth", "1", "-name", ".*.partial", "-mmin",
                      f"+{STALE_PARTIAL_MINUTES}", "-delete"])
            temporary = f"{layout.MODELS_DIR}/.{digest[:16]}.{secrets.token_hex(4)}.partial"
            self.push(data, temporary, progress=progress)
            on_phone = self.sha256(temporary)
            if on_phone != digest:
                self.run(["rm", "-f", temporary])
                raise DeviceError(f"the copy of {Path(model).name} on {self.serial} does not match (sha256 "
                                  f"{(on_phone or 'missing')[:12]} instead of {digest[:12]}): push it again; if it "
                                  f"keeps happening, the connection is corrupting data")
            self.check(["mv", "-f", temporary, final])
        return pushed

    def models(self) -> list[PushedModel]:
        with self.operation(f"listing {layout.MODELS_DIR}") as device:
            entries = device.list(layout.MODELS_DIR, read_timeout_s=_NO_READ_TIMEOUT)
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
                              f": see 'planestrike device models --device {self.serial}'")
        self.check(["rm", "-f", matches[0].device_path])
        return matches[0]

    # --- what the app shows ---------------------------------------------------------------------------------------
    def latency_ms(self, samples: int = 5) -> float:
        """Median round trip of a tiny request (a sync STAT): the link's latency, no process started."""
        times = []
        with self.operation("measuring latency") as device:
            for _ in range(samples):
                start = time.perf_counter()
                device.stat(layout.DEVICE_TMP, read_timeout_s=_NO_READ_TIMEOUT)
                times.append((time.perf_counter() - start) * 1000)
        return sorted(times)[len(times) // 2]

    def info(self) -> DeviceInfo:
        script = (f"getprop ro.product.model; getprop ro.build.version.release; getprop ro.product.cpu.abi; "
                  f"test -x {layout.BENCHMARK_MODEL} && echo benchmark_model; "
                  f"test -f {layout.RUNTIME_CURRENT} && echo persistent_runner; true")
        result = self.run(["sh", "-c", script], doing="asking the phone what it is")
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


class _TooLarge(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """Where adb-shell's pull writes: it refuses to grow past ``limit``, so a phone cannot send an endless file."""

    def __init__(self, limit: int):
        super().__init__()
        self._limit = limit

    def write(self, data: bytes) -> int:
        if self.tell() + len(data) > self._limit:
            raise _TooLarge
        return super().write(data)


def _phrase(error: BaseException) -> str:
    """An exception's message as a short phrase on one line, or its type when it has none."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 160 else text[:160] + "..."


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
