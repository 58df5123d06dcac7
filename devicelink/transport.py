"""adb-shell's TCP transport with its two defects fixed.

adb-shell 0.4.4 (pinned) has two bugs that matter here:

1. ``bulk_write`` returns whatever one ``send()`` on a non-blocking socket managed to write, and nobody checks the
   count: when the kernel's send buffer is smaller than a message, the rest is silently dropped and a large push
   stalls waiting for an OKAY the device can never send.
2. It never sets TCP_NODELAY and writes each message as a header and then a payload, so Nagle's algorithm holds
   the payload until the device's delayed ACK for the header arrives: about 45 ms per small round trip instead
   of well under a millisecond.

``ReliableTcpTransport`` writes until every byte is out (waiting for the socket to become writable, bounded by the
transport timeout) and sets TCP_NODELAY on connect. It also reports a closed connection as one: the stock
``bulk_read`` returns ``b""`` at end of stream and adb-shell spins on it until its read timeout (10 s by default),
so a phone that went away looked like a slow one.
"""

from __future__ import annotations

import select
import socket
import time

from adb_shell.exceptions import TcpTimeoutException
from adb_shell.transport.tcp_transport import TcpTransport


class ReliableTcpTransport(TcpTransport):
    """A ``TcpTransport`` that never drops bytes and does not wait on Nagle's algorithm."""

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
