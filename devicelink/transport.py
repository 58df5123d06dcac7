"""The wire to a phone: adb-shell's TCP transport and packet reader with their defects fixed, every wait bounded.

adb-shell 0.4.4 (pinned) has defects that matter here:

1. ``bulk_write`` returns whatever one ``send()`` on a non-blocking socket managed to write, and nobody checks the
   count: when the kernel's send buffer is smaller than a message, the rest is silently dropped and a large push
   stalls waiting for an OKAY the device can never send.
2. It never sets TCP_NODELAY and writes each message as a header and then a payload, so Nagle's algorithm holds
   the payload until the device's delayed ACK for the header arrives: about 45 ms per small round trip instead
   of well under a millisecond.
3. The stock ``bulk_read`` returns ``b""`` at end of stream and adb-shell spins on it until its read timeout, so a
   phone that went away looked like a slow one.
4. Its timeouts restart on every read: a phone that sends a byte every few seconds, an empty packet now and then,
   or half a packet, holds a call forever.
5. It trusts packet headers: no magic check, any payload length (a header claiming 4 GB is a 4 GB read), and it
   keeps packets for streams nobody is reading without limit.

``ReliableTcpTransport`` fixes 1-3. ``WireIO`` (adb-shell's I/O manager, replaced in ``BoundedAdbDevice``) fixes
4 and 5: all I/O happens inside ``bounded(seconds, max_bytes)``, whose deadline is computed once, so each read or
write waits at most the time left and bytes that trickle in never extend it; each header is checked before its
payload is read, one operation reads at most ``max_bytes``, and parked packets are capped. A wait outside
``bounded()`` is refused: no path can wait on a phone without a deadline.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

from adb_shell import constants
from adb_shell.adb_device import AdbDevice, _AdbIOManager
from adb_shell.adb_message import checksum
from adb_shell.exceptions import TcpTimeoutException
from adb_shell.hidden_helpers import _AdbPacketStore
from adb_shell.transport.tcp_transport import TcpTransport

MAX_PACKET_BYTES = constants.MAX_ADB_DATA  # the payload size adb-shell announces in CNXN: no phone may send more
MAX_OPERATION_BYTES = 8 << 20  # what one operation may read, framing included (a pull may read its file on top)
MAX_PARKED_PACKETS = 32  # packets kept for streams other than the one being read (32 MiB at the very most)
_HEADER = struct.Struct("<6I")  # command, arg0, arg1, data_length, data_checksum, magic
_STLS = int.from_bytes(b"STLS", "little")


class OperationTimeout(Exception):
    """The operation's deadline passed; ``seconds`` is the allowance that set it."""

    def __init__(self, seconds: float):
        super().__init__(f"not done within {seconds:g} s")
        self.seconds = seconds


class ProtocolViolation(Exception):
    """The phone sent something no ADB daemon sends. The message is a phrase naming it."""


class TlsRequested(ProtocolViolation):
    """The phone answered the handshake with STLS (Android 11+ wireless debugging), which adb-shell cannot do."""


class Budget:
    """One operation's deadline and read allowance. A nested operation never outlives the one around it."""

    def __init__(self, seconds: float, max_bytes: int, outer: Budget | None):
        self.outer = outer
        self.max_bytes = max_bytes
        self.received = 0
        self.restart(seconds)

    def restart(self, seconds: float) -> None:
        """Give the operation ``seconds`` from now: once, when a new phase begins (the phone asking its user)."""
        self.deadline, self.seconds = time.monotonic() + seconds, seconds
        if self.outer is not None and self.outer.deadline < self.deadline:
            self.deadline, self.seconds = self.outer.deadline, self.outer.seconds

    def time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OperationTimeout(self.seconds)
        return left

    def charge(self, nbytes: int) -> None:
        budget = self
        while budget is not None:
            budget.received += nbytes
            if budget.received > budget.max_bytes:
                raise ProtocolViolation(f"it sent more than the {budget.max_bytes:,} bytes one operation may read")
            budget = budget.outer


class ReliableTcpTransport(TcpTransport):
    """A ``TcpTransport`` that never drops bytes, does not wait on Nagle's algorithm and reports a closed socket."""

    def __init__(self, host: str, port: int = 5555, send_buffer_bytes: int | None = None):
        super().__init__(host, port)
        # Only tests shrink the send buffer, to make partial writes happen on loopback.
        self._send_buffer_bytes = send_buffer_bytes
        self._interrupted = False

    def connect(self, transport_timeout_s: float | None) -> None:
        super().connect(transport_timeout_s)
        if self._interrupted:  # interrupt() came before there was a socket to shut down
            raise ConnectionAbortedError(f"the connection to {self._host}:{self._port} was cancelled")
        self._connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._send_buffer_bytes is not None:
            self._connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._send_buffer_bytes)

    def interrupt(self) -> None:
        """From another thread: end a read blocked on this connection (it sees the connection closed).

        ``close()`` would take the socket away from under that read; shutting it down wakes the read instead.
        """
        self._interrupted = True  # set before looking at the socket: connect() checks it after creating one
        connection = self._connection
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def bulk_read(self, numbytes: int, transport_timeout_s: float | None) -> bytes:
        data = super().bulk_read(numbytes, transport_timeout_s)
        if not data:
            raise ConnectionResetError(f"{self._host}:{self._port} closed the connection")
        return data

    def bulk_write(self, data: bytes, transport_timeout_s: float | None) -> int:
        view = memoryview(data)
        deadline = None if transport_timeout_s is None else time.monotonic() + transport_timeout_s
        while view:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            _, writeable, _ = select.select([], [self._connection], [], remaining)
            if not writeable:
                sent = len(data) - len(view)
                raise TcpTimeoutException(
                    f"Sending data to {self._host}:{self._port} timed out after {transport_timeout_s} seconds "
                    f"({sent} of {len(data)} bytes sent)"
                )
            try:
                view = view[self._connection.send(view):]
            except BlockingIOError:  # writable by select, but the buffer filled up again in between
                continue
        return len(data)


class _BoundedPacketStore(_AdbPacketStore):
    """adb-shell's store for packets that arrive for another stream than the one being read, with a cap."""

    def put(self, arg0: int, arg1: int, cmd: bytes, data: bytes) -> None:
        if sum(queue.qsize() for streams in self._dict.values() for queue in streams.values()) >= MAX_PARKED_PACKETS:
            raise ProtocolViolation(f"it sent more than {MAX_PARKED_PACKETS} packets for streams nobody is reading")
        super().put(arg0, arg1, cmd, data)


class WireIO(_AdbIOManager):
    """adb-shell's packet reader and writer, every wait bounded by the current operation's ``Budget``."""

    def __init__(self, transport):
        super().__init__(transport)
        self._packet_store = _BoundedPacketStore()
        self._budgets = threading.local()  # per thread: the app's main thread may close while a worker operates

    @property
    def _budget(self) -> Budget | None:
        return getattr(self._budgets, "current", None)

    @_budget.setter
    def _budget(self, budget: Budget | None) -> None:
        self._budgets.current = budget

    @contextlib.contextmanager
    def bounded(self, seconds: float, max_bytes: int = MAX_OPERATION_BYTES) -> Iterator[Budget]:
        budget = self._budget = Budget(seconds, max_bytes, self._budget)
        try:
            yield budget
        finally:
            self._budget = budget.outer

    def _wait(self, call, argument):
        """``call(argument, timeout)`` on the transport, waiting at most the time left in the operation."""
        if self._budget is None:
            raise RuntimeError("devicelink talks to a phone only inside an operation (DeviceSession.operation), "
                               "so that every wait has a deadline")
        try:
            return call(argument, self._budget.time_left())
        except TcpTimeoutException:  # it waited all the time that was left
            raise OperationTimeout(self._budget.seconds) from None

    def _read_bytes_from_device(self, length: int, adb_info) -> bytes:
        data = bytearray()
        while len(data) < length:
            chunk = self._wait(self._transport.bulk_read, length - len(data))
            self._budget.charge(len(chunk))
            data += chunk
        return bytes(data)

    def _read_packet_from_device(self, adb_info) -> tuple[bytes, int, int, bytes]:
        header = self._read_bytes_from_device(_HEADER.size, adb_info)
        command, arg0, arg1, length, data_checksum, magic = _HEADER.unpack(header)
        if command == _STLS:
            raise TlsRequested("it asks for TLS")
        name = constants.WIRE_TO_ID.get(command)
        if name is None or magic != command ^ 0xFFFFFFFF:
            raise ProtocolViolation(f"a packet header that is not ADB (command {header[:4]!r}, magic {magic:#010x})")
        if name == constants.AUTH and arg0 != constants.AUTH_TOKEN:
            raise ProtocolViolation(f"an AUTH packet of type {arg0} (a phone only sends type 1, a token to sign)")
        if length > MAX_PACKET_BYTES:
            raise ProtocolViolation(f"a packet header claims {length:,} bytes of payload, more than the "
                                    f"{MAX_PACKET_BYTES:,} agreed")
        data = self._read_bytes_from_device(length, adb_info) if length else b""
        if checksum(data) != data_checksum:
            raise ProtocolViolation(f"the checksum of a {name.decode()} packet does not match its payload")
        return name, arg0, arg1, data

    def _send(self, msg, adb_info) -> None:
        self._wait(self._transport.bulk_write, msg.pack() + bytes(msg.data))  # one write: header and payload


class BoundedAdbDevice(AdbDevice):
    """adb-shell's ``AdbDevice`` on ``WireIO``: use every method inside ``bounded()``."""

    def __init__(self, transport, banner: str):
        super().__init__(transport, banner=banner)
        self._io_manager = WireIO(transport)

    def bounded(self, seconds: float, max_bytes: int = MAX_OPERATION_BYTES):
        """Everything inside must be done within ``seconds`` of now and read at most ``max_bytes``."""
        return self._io_manager.bounded(seconds, max_bytes)
