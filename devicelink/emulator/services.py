"""What a stream can open on the virtual phone: shell (legacy and v2), exec, sync v1 and socket streams.

Each service is a coroutine that talks to the host through a ``Stream`` (read what the host wrote, write back with
flow control). ``open_service(name, sandbox)`` returns that coroutine, or None for a service the phone refuses.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

from devicelink.emulator.sandbox import Sandbox
from devicelink.emulator.wire import OKAY, WRTE


class StreamClosed(Exception):
    """The host closed the stream (or the connection went away) while a service was using it."""


class Stream:
    """The device's end of one ADB stream."""

    def __init__(self, send: Callable[[int, bytes], Awaitable[None]], max_payload: int):
        self._send = send  # (command, data) -> sends the message with this stream's ids
        self._max_payload = max_payload
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._okay = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self.closed = False

    # --- called by the connection -------------------------------------------------------------------------------
    def host_wrote(self, data: bytes) -> None:
        self._inbox.put_nowait(data)

    def host_acknowledged(self) -> None:
        self._okay.set()

    def host_closed(self) -> None:
        self.closed = True
        self._inbox.put_nowait(None)
        self._okay.set()

    # --- called by services -------------------------------------------------------------------------------------
    async def read(self) -> bytes | None:
        """The next bytes the host wrote, or None once it closed the stream. Acknowledges them (OKAY)."""
        data = await self._inbox.get()
        if data is None:
            self._inbox.put_nowait(None)
            return None
        # Like adbd: the OKAY for a host write goes out before any reply the data causes.
        await self._send(OKAY, b"")
        return data

    async def write(self, data: bytes) -> None:
        """Send bytes to the host, one WRTE at a time, each waiting for the host's OKAY (flow control)."""
        async with self._write_lock:
            for start in range(0, len(data), self._max_payload):
                if self.closed:
                    raise StreamClosed
                self._okay.clear()
                await self._send(WRTE, data[start:start + self._max_payload])
                await self._okay.wait()
            if self.closed:
                raise StreamClosed

Service = Callable[[Stream], Awaitable[None]]

# shell protocol v2 packet ids
STDIN, STDOUT, STDERR, EXIT, CLOSE_STDIN, WINDOW_SIZE = range(6)
_PACKET = struct.Struct("<BI")


async def open_service(name: str, sandbox: Sandbox) -> Service | None:
    kind, _, argument = name.partition(":")
    if kind == "shell" or kind.startswith("shell,"):
        options = kind.split(",")[1:]
        command = sandbox.rewrite_command(argument)
        if "v2" in options:
            return lambda stream: _shell_v2(stream, command, sandbox)
        return lambda stream: _raw_process(stream, command, sandbox)
    if kind == "exec":
        return lambda stream: _raw_process(stream, sandbox.rewrite_command(argument), sandbox)
    if kind == "sync":
        return lambda stream: _sync(stream, sandbox)
    if kind in ("tcp", "localabstract"):
        return await _open_socket(kind, argument)
    return None


# --- processes ---------------------------------------------------------------------------------------------------
async def _start_process(command: str, sandbox: Sandbox, merge_stderr: bool) -> asyncio.subprocess.Process:
    argv = ["/bin/sh", "-c", command] if command else ["/bin/sh"]
    environment = dict(os.environ, TMPDIR=str(sandbox.root), HOME=str(sandbox.root),
                       PATH=f"{sandbox.system_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")
    return await asyncio.create_subprocess_exec(
        *argv, cwd=sandbox.root, env=environment, start_new_session=True,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
    )


def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the process and everything it started (its session), as adbd does when the stream closes."""
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def _reap(process: asyncio.subprocess.Process, feeder: asyncio.Task) -> None:
    """Kill what is left and wait for it, so no process or pipe outlives its stream (or the event loop)."""
    _kill(process)
    feeder.cancel()
    await asyncio.gather(feeder, return_exceptions=True)
    if not process.stdin.is_closing():
        process.stdin.close()
    waiting = asyncio.ensure_future(process.wait())
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        await waiting  # killed already, so this is quick; leaving it would leak its pipes past the event loop
        raise


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode & 0xFF


async def _write_stdin(process: asyncio.subprocess.Process, data: bytes) -> None:
    try:
        process.stdin.write(data)
        await process.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the process stopped reading; its exit status will say why


async def _shell_v2(stream: Stream, command: str, sandbox: Sandbox) -> None:
    """`shell,v2,...:cmd`: stdin, stdout and stderr as separate packets, then the exit status."""
    process = await _start_process(command, sandbox, merge_stderr=False)

    async def send_packet(packet_id: int, payload: bytes) -> None:
        await stream.write(_PACKET.pack(packet_id, len(payload)) + payload)

    async def forward(pipe: asyncio.StreamReader, packet_id: int) -> None:
        while chunk := await pipe.read(64 * 1024):
            await send_packet(packet_id, chunk)

    async def feed() -> None:
        buffer = b""
        while (data := await stream.read()) is not None:
            buffer += data
            while len(buffer) >= _PACKET.size:
                packet_id, length = _PACKET.unpack_from(buffer)
                if len(buffer) < _PACKET.size + length:
                    break
                payload, buffer = buffer[_PACKET.size:_PACKET.size + length], buffer[_PACKET.size + length:]
                if packet_id == STDIN:
                    await _write_stdin(process, payload)
                elif packet_id == CLOSE_STDIN:
                    process.stdin.close()
        _kill(process)  # the host closed the stream: nobody is left to read the output

    # The feeder keeps reading (and acknowledging) until the stream is gone, so a close-stdin that arrives after
    # the process exited is still consumed and never holds up the exit packet.
    feeder = asyncio.create_task(feed())
    try:
        await asyncio.gather(forward(process.stdout, STDOUT), forward(process.stderr, STDERR))
        await send_packet(EXIT, bytes([_exit_status(await process.wait())]))
    finally:
        await _reap(process, feeder)


async def _raw_process(stream: Stream, command: str, sandbox: Sandbox) -> None:
    """Legacy `shell:cmd` and `exec:cmd`: raw bytes both ways, stderr merged into stdout, no exit status."""
    process = await _start_process(command, sandbox, merge_stderr=True)

    async def feed() -> None:
        while (data := await stream.read()) is not None:
            await _write_stdin(process, data)
        _kill(process)

    feeder = asyncio.create_task(feed())
    try:
        while chunk := await process.stdout.read(64 * 1024):
            await stream.write(chunk)
        await process.wait()
    finally:
        await _reap(process, feeder)


# --- sockets -----------------------------------------------------------------------------------------------------
async def _open_socket(kind: str, argument: str) -> Service | None:
    """`tcp:PORT` connects to this machine's loopback, `localabstract:NAME` to a Linux abstract socket."""
    try:
        if kind == "tcp":
            reader, writer = await asyncio.open_connection("127.0.0.1", int(argument))
        else:
            reader, writer = await asyncio.open_unix_connection("\0" + argument)
    except (OSError, ValueError):
        return None  # adbd answers a failed connect with CLSE

    async def relay(stream: Stream) -> None:
        async def to_socket() -> None:
            while (data := await stream.read()) is not None:
                writer.write(data)
                await writer.drain()
            writer.close()  # the host closed the stream: end the socket too, which ends the loop below

        upstream = asyncio.create_task(to_socket())
        try:
            while chunk := await reader.read(64 * 1024):
                await stream.write(chunk)
        finally:
            upstream.cancel()
            writer.close()

    return relay


# --- sync v1 -----------------------------------------------------------------------------------------------------
SYNC_DATA_MAX = 64 * 1024
_REQUEST = struct.Struct("<4sI")


class _SyncInput:
    """A byte buffer over the stream, read by exact sizes."""

    def __init__(self, stream: Stream):
        self._stream = stream
        self._buffer = bytearray()

    async def exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            data = await self._stream.read()
            if data is None:
                raise StreamClosed
            self._buffer += data
        result = bytes(self._buffer[:size])
        del self._buffer[:size]
        return result


async def _sync(stream: Stream, sandbox: Sandbox) -> None:
    incoming = _SyncInput(stream)
    try:
        while True:
            request, length = _REQUEST.unpack(await incoming.exactly(_REQUEST.size))
            if request == b"QUIT":
                return
            if request not in (b"STAT", b"LIST", b"SEND", b"RECV") or length > 1024:
                await stream.write(_fail(f"unknown sync request {request!r}"))
                return
            path = (await incoming.exactly(length)).decode("utf-8", errors="surrogateescape")
            if request == b"STAT":
                await stream.write(b"STAT" + _stat_fields(sandbox.host_path(path)))
            elif request == b"LIST":
                await stream.write(_list(sandbox.host_path(path)))
            elif request == b"RECV":
                await _send_file(stream, sandbox.host_path(path))
            elif not await _receive_file(stream, incoming, sandbox, path):
                return
    except StreamClosed:
        return


def _fail(message: str) -> bytes:
    encoded = message.encode("utf-8")
    return b"FAIL" + struct.pack("<I", len(encoded)) + encoded


def _stat_fields(host_path: Path | None) -> bytes:
    try:
        info = os.lstat(host_path) if host_path is not None else None
    except OSError:
        info = None
    if info is None:
        return struct.pack("<3I", 0, 0, 0)
    return struct.pack("<3I", info.st_mode & 0xFFFFFFFF, info.st_size & 0xFFFFFFFF, int(info.st_mtime) & 0xFFFFFFFF)


def _list(host_path: Path | None) -> bytes:
    reply = bytearray()
    if host_path is not None and host_path.is_dir():
        for name in [".", "..", *sorted(os.listdir(host_path))]:
            encoded = os.fsencode(name)
            reply += b"DENT" + _stat_fields(host_path / name) + struct.pack("<I", len(encoded)) + encoded
    return bytes(reply + b"DONE" + struct.pack("<4I", 0, 0, 0, 0))


async def _send_file(stream: Stream, host_path: Path | None) -> None:
    if host_path is None:
        await stream.write(_fail("Permission denied"))
        return
    try:
        handle = open(host_path, "rb")
    except OSError as error:
        await stream.write(_fail(error.strerror or "cannot open"))
        return
    with handle:
        while chunk := handle.read(SYNC_DATA_MAX):
            await stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
    await stream.write(b"DONE" + struct.pack("<I", 0))


async def _receive_file(stream: Stream, incoming: _SyncInput, sandbox: Sandbox, spec: str) -> bool:
    """SEND "path,mode": DATA chunks then DONE(mtime). False if the transfer failed and the stream must end."""
    path, _, mode_text = spec.rpartition(",")
    host_path = sandbox.host_path(path)
    if host_path is None or not mode_text.isdigit():
        await stream.write(_fail("Permission denied" if host_path is None else f"bad SEND request {spec!r}"))
        return False
    completed = False
    try:
        host_path.parent.mkdir(parents=True, exist_ok=True)  # the "fixed_push_mkdir" feature
        with open(host_path, "wb") as handle:
            while True:
                chunk_id, length = _REQUEST.unpack(await incoming.exactly(_REQUEST.size))
                if chunk_id == b"DONE":
                    mtime = length
                    break
                if chunk_id != b"DATA" or length > SYNC_DATA_MAX:
                    await stream.write(_fail(f"unexpected {chunk_id!r} while receiving {path}"))
                    return False
                handle.write(await incoming.exactly(length))
        os.chmod(host_path, stat.S_IMODE(int(mode_text)))
        os.utime(host_path, (mtime, mtime))
        completed = True
    except (IsADirectoryError, NotADirectoryError, PermissionError) as error:
        await stream.write(_fail(f"{path}: {error.strerror}"))
        return False
    finally:
        if not completed and host_path.is_file():  # like adbd: an aborted transfer leaves no partial file
            host_path.unlink()
    await stream.write(b"OKAY" + struct.pack("<I", 0))
    return True
