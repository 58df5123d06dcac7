"""A two-way ADB stream on top of adb-shell, which only offers request-then-read-until-close services, and the
shell protocol v2 framing that commands and the persistent runner speak over it.

adb-shell 0.4.4 has no public way to write into an open stream (upstream issue #224), so this uses its private
``_io_manager`` (hence the exact pin). One trap shapes the code: while waiting for the OKAY that acknowledges our
write, the phone may already send data on the same stream, and adb-shell's reader drops any packet it was not
asked for. So every wait asks for OKAY, WRTE and CLSE together and keeps the data for the next ``read``.

A stream has no clock of its own: use it inside ``DeviceSession.operation``, whose deadline bounds every wait.
"""

from __future__ import annotations

import contextlib
import math
import struct

from adb_shell import constants
from adb_shell.adb_message import AdbMessage
from adb_shell.hidden_helpers import _AdbTransactionInfo

from devicelink.errors import DeviceCommandFailed
from devicelink.transport import MAX_PACKET_BYTES, BoundedAdbDevice, OperationTimeout, ProtocolViolation

_CLOSE_WAIT_S = 2.0  # how long to wait for the phone to echo our CLSE

# Shell protocol v2 packets: [id u8][length u32 LE][payload]
STDIN, STDOUT, STDERR, EXIT, CLOSE_STDIN = range(5)
_SHELL_HEADER = struct.Struct("<BI")


class AdbStream:
    def __init__(self, device: BoundedAdbDevice, destination: str):
        self._device = device
        # No timeouts of adb-shell's own: they restart on every read. The operation's deadline bounds the waits.
        self._info = _AdbTransactionInfo(None, None, None, math.inf, None)
        with device._local_id_lock:
            device._local_id = device._local_id % (2**32 - 1) + 1
            self._info.local_id = device._local_id
        self.destination = destination
        self._received = bytearray()
        self.closed = False
        self._send(constants.OPEN, destination.encode("utf-8") + b"\0", remote_id=0)
        command, remote_id, _, _ = device._io_manager.read([constants.OKAY, constants.CLSE], self._info)
        if command == constants.CLSE:
            self.closed = True
            raise DeviceCommandFailed(f"the phone refused to open '{destination.split(':')[0]}:'")
        self._info.remote_id = remote_id

    def _send(self, command: bytes, data: bytes = b"", remote_id: int | None = None) -> None:
        remote = self._info.remote_id if remote_id is None else remote_id
        self._device._io_manager.send(AdbMessage(command, self._info.local_id, remote, data), self._info)

    def _next(self) -> bytes:
        """Wait for one packet on this stream; keep WRTE data, note CLSE; returns the command."""
        command, _, _, data = self._device._io_manager.read([constants.OKAY, constants.WRTE, constants.CLSE],
                                                            self._info)
        if command == constants.WRTE:
            self._received += data
            self._send(constants.OKAY)
        elif command == constants.CLSE:
            self.closed = True
        return command

    def write(self, data: bytes) -> None:
        chunk = min(max(1024, self._device._maxdata), MAX_PACKET_BYTES)  # the phone's CNXN said; never more than ours
        for start in range(0, len(data), chunk):
            if self.closed:
                raise ConnectionResetError(f"the phone closed '{self.destination}'")
            self._send(constants.WRTE, data[start:start + chunk])
            while self._next() != constants.OKAY:
                if self.closed:
                    raise ConnectionResetError(f"the phone closed '{self.destination}'")

    def read(self) -> bytes:
        """Whatever the phone sent since the last read, waiting for something if nothing is there; b"" once closed."""
        while not self._received and not self.closed:
            self._next()
        data = bytes(self._received)
        self._received.clear()
        return data

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # adbd echoes the CLSE; read it so it does not linger in adb-shell's packet store. A phone that does not
        # echo it (or whose connection is dead) costs at most _CLOSE_WAIT_S: the stream is gone either way.
        with contextlib.suppress(OSError, OperationTimeout), self._device.bounded(_CLOSE_WAIT_S):
            self._send(constants.CLSE)
            while self._device._io_manager.read([constants.CLSE, constants.WRTE], self._info)[0] != constants.CLSE:
                pass


def shell_packet(packet_id: int, payload: bytes = b"") -> bytes:
    return _SHELL_HEADER.pack(packet_id, len(payload)) + payload


class ShellPackets:
    """Cuts what a shell-v2 stream delivers into ``(id, payload)`` packets, however the bytes arrive."""

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The packets completed by ``data``; a header claiming more than an ADB packet holds is refused at once."""
        self._buffer += data
        packets = []
        while len(self._buffer) >= _SHELL_HEADER.size:
            packet_id, length = _SHELL_HEADER.unpack_from(self._buffer)
            if length > MAX_PACKET_BYTES:
                raise ProtocolViolation(f"a shell packet claims {length:,} bytes, more than the {MAX_PACKET_BYTES:,} "
                                        f"a packet may hold")
            end = _SHELL_HEADER.size + length
            if len(self._buffer) < end:
                break
            packets.append((packet_id, bytes(self._buffer[_SHELL_HEADER.size:end])))
            del self._buffer[:end]
        return packets
