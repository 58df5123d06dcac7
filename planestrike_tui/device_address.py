"""The address the devices screen starts with: a virtual phone running on this computer, else the phone connected last.

The virtual phone (``planestrike device emulate``) leaves no record that it runs; it is found where it listens by
default, 127.0.0.1:15555, by asking whatever listens there for the start of an ADB handshake: a port that accepts
but does not answer like adbd is no phone. The probe has an overall deadline and runs in a thread worker.

The phone connected last is ``devicelink.known_devices``' default, the one store that ``planestrike device
connect`` and the devices screen both update (atomically; a missing or damaged file reads as "none"), so the
command line and the app agree on which phone that is.
"""

from __future__ import annotations

import socket
import struct
import time

from adb_shell import constants
from adb_shell.adb_message import AdbMessage

VIRTUAL_PHONE_HOST = "127.0.0.1"
PROBE_TIMEOUT_S = 1.0  # for the whole probe: connecting, sending, the daemon's first answer

_HEADER = struct.Struct("<6I")  # command, arg0, arg1, data length, data checksum, magic (command ^ 0xffffffff)
# What adbd answers a host's CNXN with: a token to sign (AUTH), its own CNXN (no auth), or STLS (wireless debugging).
_ANSWERS = {int.from_bytes(name, "little") for name in (b"AUTH", b"CNXN", b"STLS")}


def default_virtual_phone_port() -> int:
    from planestrike_tui.commands.device import DEFAULT_EMULATOR_PORT

    return DEFAULT_EMULATOR_PORT


def speaks_adb(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether an ADB daemon listens at ``host:port``: it answers a CNXN with an ADB message, within ``timeout_s``.
    Nothing is authorised or opened (the connection closes after the first answer), so a phone shows no prompt."""
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            hello = AdbMessage(constants.CNXN, constants.VERSION, constants.MAX_ADB_DATA, b"host::planestrike-probe\0")
            connection.sendall(hello.pack() + hello.data)  # pack() is the 24-byte header only
            answer = b""
            while len(answer) < _HEADER.size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                connection.settimeout(remaining)
                chunk = connection.recv(_HEADER.size - len(answer))
                if not chunk:
                    return False
                answer += chunk
    except OSError:  # refused, unreachable, timed out, reset
        return False
    command, *_, magic = _HEADER.unpack(answer)
    return command in _ANSWERS and magic == command ^ 0xFFFFFFFF


def running_virtual_phone(port: int | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """The serial of the virtual phone listening on this computer (``127.0.0.1:PORT``), or None."""
    from devicelink.session import tcp_serial

    port = default_virtual_phone_port() if port is None else port
    return tcp_serial(VIRTUAL_PHONE_HOST, port) if speaks_adb(VIRTUAL_PHONE_HOST, port, timeout_s) else None


def last_connected() -> str | None:
    """The phone connected last (by the app or ``planestrike device connect``), or None."""
    from devicelink import known_devices
    from engine.errors import PlanestrikeError

    try:
        return known_devices.load()["default"]
    except PlanestrikeError:  # no usable HOME for the config folder: nothing remembered
        return None
