"""The transport fixes: no silently dropped bytes, TCP_NODELAY, a closed connection reported at once, and no wait
on a phone outside an operation's deadline."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

import pytest
from adb_shell.transport.tcp_transport import TcpTransport

from devicelink.errors import DeviceTimeout
from devicelink.session import DeviceSession, SessionConfig
from devicelink.transport import ReliableTcpTransport
from device_helpers import make_key, phone_in_thread, trust


class SlowReader:
    """A loopback server that accepts one connection and reads it only once told to, so the sender's buffer fills."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = bytearray()
        self.start_reading = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        connection, _ = self.listener.accept()
        self.start_reading.wait(10)
        connection.settimeout(5)
        with connection:
            try:
                while chunk := connection.recv(65536):
                    self.received += chunk
            except OSError:
                pass

    def close(self) -> None:
        self.start_reading.set()
        self.thread.join(10)
        self.listener.close()


def small_buffer_transport(cls, port: int):
    transport = cls("127.0.0.1", port)
    transport.connect(5)
    transport._connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return transport


def test_stock_transport_reports_a_partial_write_that_adb_shell_never_checks():
    """The defect the subclass fixes: one send() on the non-blocking socket, the rest silently left behind."""
    server = SlowReader()
    transport = small_buffer_transport(TcpTransport, server.port)
    payload = os.urandom(4 * 1024 * 1024)
    try:
        written = transport.bulk_write(payload, 5)
    finally:
        transport.close()
        server.close()
    assert written < len(payload)


def test_reliable_transport_delivers_every_byte_through_a_small_send_buffer():
    server = SlowReader()
    transport = small_buffer_transport(ReliableTcpTransport, server.port)
    payload = os.urandom(1024 * 1024)
    server.start_reading.set()
    try:
        assert transport.bulk_write(payload, 10) == len(payload)
    finally:
        transport.close()  # the reader sees the end of stream and stops
        server.close()
    assert bytes(server.received) == payload


def test_reliable_transport_sets_tcp_nodelay_and_stock_does_not():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        stock, fixed = TcpTransport("127.0.0.1", port), ReliableTcpTransport("127.0.0.1", port)
        stock.connect(5)
        fixed.connect(5)
        try:
            assert stock._connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            assert fixed._connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            stock.close()
            fixed.close()


def test_a_closed_connection_is_reported_at_once_instead_of_spinning_until_the_read_timeout():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        transport = ReliableTcpTransport("127.0.0.1", listener.getsockname()[1])
        transport.connect(5)
        connection, _ = listener.accept()
        connection.close()
        start = time.monotonic()
        with pytest.raises(ConnectionResetError):
            transport.bulk_read(24, 5)
        assert time.monotonic() - start < 2
        transport.close()


def test_a_large_push_through_a_tiny_send_buffer_arrives_whole(tmp_path, monkeypatch):
    """The regression test for the stall: a 3 MB push with a 4 KiB send buffer, byte-identical on the phone."""
    key = make_key(tmp_path)
    trust(tmp_path / "phone", key)
    original_transport = DeviceSession._transport

    def tiny_buffer_transport(session):
        transport = original_transport(session)
        transport._send_buffer_bytes = 4096
        return transport

    monkeypatch.setattr(DeviceSession, "_transport", tiny_buffer_transport)
    payload = os.urandom(3 * 1024 * 1024)
    with phone_in_thread(tmp_path / "phone") as phone:
        with DeviceSession.open(phone.serial, SessionConfig(key_path=key, command_timeout_s=10)) as session:
            assert session._device._io_manager._transport._connection.getsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF) <= 16384
            session.push(payload, "/data/local/tmp/big.bin")
            assert session.sha256("/data/local/tmp/big.bin") == hashlib.sha256(payload).hexdigest()


def test_a_transport_interrupted_before_its_socket_exists_does_not_connect():
    """interrupt() may come from another thread before connect() has made the socket: connect() must refuse."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        transport = ReliableTcpTransport("127.0.0.1", listener.getsockname()[1])
        transport.interrupt()
        with pytest.raises(ConnectionAbortedError, match="cancelled"):
            transport.connect(5)
        transport.close()


def test_a_wait_outside_an_operation_is_refused_at_once(session):
    stream = session.open_stream("shell,v2,raw:cat")
    with pytest.raises(RuntimeError, match="only inside an operation"):
        stream.read()


def test_an_operation_inside_another_never_outlives_it(session):
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match="running sleep took over 0.5 s"):
        with session.operation("waiting for a sleep", 0.5):
            session.run(["sleep", "5"])  # its own deadline, the command timeout, is 10 s
    assert time.monotonic() - started < 1.5
