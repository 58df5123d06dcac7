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
from typing import BinaryIO

from devicelink.emulator.sandbox import Sandbox
from devicelink.emulator.wire import OKAY, WRTE, ProtocolError


class StreamClosed(Exception):
    """The host closed the stream, the connection went away, or the host stopped acknowledging what it is sent."""


# Flow control allows one unacknowledged WRTE per stream; one more is tolerated, a third means the host ignores it.
MAX_UNACKNOWLEDGED_WRITES = 2


class Stream:
    """The device's end of one ADB stream. ``timeout_s`` bounds every wait for the host once it owes us something."""

    def __init__(self, send: Callable[[int, bytes], Awaitable[None]], max_payload: int, timeout_s: float):
        self._send = send  # (command, data) -> sends the message with this stream's ids
        self._max_payload = max_payload
        self.timeout_s = timeout_s
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._okay = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self.closed = False

    # --- called by the connection -------------------------------------------------------------------------------
    def host_wrote(self, data: bytes) -> None:
        if self._inbox.qsize() >= MAX_UNACKNOWLEDGED_WRITES:
            raise ProtocolError("the host keeps writing to a stream without waiting for its OKAY")
        self._inbox.put_nowait(data)

    def host_acknowledged(self) -> None:
        self._okay.set()

    def host_closed(self) -> None:
        self.closed = True
        self._inbox.put_nowait(None)
        self._okay.set()

    # --- called by services -------------------------------------------------------------------------------------
    async def read(self) -> bytes | None:
        """The next bytes the host wrote, or None once it closed the stream. Acknowledges them (OKAY).

        No deadline: a stream may sit idle (a runner waiting for the next move); see ``_SyncInput`` for the waits
        that have one.
        """
        data = await self._inbox.get()
        if data is None:
            self._inbox.put_nowait(None)
            return None
        # Like adbd: the OKAY for a host write goes out before any reply the data causes.
        await self._send(OKAY, b"")
        return data

    async def write(self, data: bytes) -> None:
        """Send bytes to the host, one WRTE at a time, each waiting (``timeout_s`` at most) for the host's OKAY."""
        async with self._write_lock:
            for start in range(0, len(data), self._max_payload):
                if self.closed:
                    raise StreamClosed
                self._okay.clear()
                await self._send(WRTE, data[start:start + self._max_payload])
                try:
                    async with asyncio.timeout(self.timeout_s):
                        await self._okay.wait()
                except TimeoutError:
                    raise StreamClosed(f"the host acknowledged nothing for {self.timeout_s:g} s") from None
            if self.closed:
                raise StreamClosed

Service = Callable[[Stream], Awaitable[None]]

# shell protocol v2 packet ids
STDIN, STDOUT, STDERR, EXIT, CLOSE_STDIN, WINDOW_SIZE = range(6)
_PACKET = struct.Struct("<BI")
SHELL_PACKET_MAX = 1024 * 1024  # a longer packet from the host ends the command: it would be buffered whole


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
    # PWD too: without it a shell's `pwd` shows the folder's real path, not the one commands use (see Sandbox)
    environment = dict(os.environ, TMPDIR=str(sandbox.shell_root), HOME=str(sandbox.shell_root),
                       PWD=str(sandbox.shell_root), **sandbox.environment,
                       PATH=f"{sandbox.system_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")
    return await asyncio.create_subprocess_exec(
        *argv, cwd=sandbox.shell_root, env=environment, start_new_session=True,
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
    """Kill what is left and wait for it, so no process or pipe outlives its stream (or the event loop).

    The pipes are read to their end first: asyncio's ``wait()`` returns only once they are closed, and a pipe
    whose reading was paused (the host stopped reading the output) would never be, holding the stream forever."""
    _kill(process)
    feeder.cancel()
    await asyncio.gather(feeder, return_exceptions=True)
    if not process.stdin.is_closing():
        process.stdin.close()
    waiting = asyncio.ensure_future(asyncio.gather(_drain(process.stdout), _drain(process.stderr), process.wait()))
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        await waiting  # killed already, so this is quick; leaving it would leak its pipes past the event loop
        raise


async def _drain(pipe: asyncio.StreamReader | None) -> None:
    if pipe is not None:
        while await pipe.read(64 * 1024):
            pass


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
                if length > SHELL_PACKET_MAX:
                    _kill(process)
                    return
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
    forwarders = [asyncio.create_task(forward(process.stdout, STDOUT)), asyncio.create_task(forward(process.stderr, STDERR))]
    try:
        await asyncio.gather(*forwarders)
        await send_packet(EXIT, bytes([_exit_status(await process.wait())]))
    finally:
        for task in forwarders:  # one may still run when the other failed (the stream closed): _reap reads on
            task.cancel()
        await asyncio.gather(*forwarders, return_exceptions=True)
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
# Limits, as adbd's: a path of at most SYNC_PATH_MAX bytes, each name in it at most NAME_MAX, DATA chunks of at
# most SYNC_DATA_MAX. Anything else gets a FAIL with the reason, and the sync stream ends (as adbd ends it).
SYNC_PATH_MAX = 1024
NAME_MAX = 255
SYNC_DATA_MAX = 64 * 1024
FILE_BLOCK = 1024 * 1024  # bytes carried per trip to a file-work thread: pushes arrive in chunks as small as 2 KiB
_REQUEST = struct.Struct("<4sI")
_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
          stat.S_IFBLK: "a device", stat.S_IFLNK: "a symlink"}


class SyncRefused(Exception):
    """A sync request the phone answers with FAIL; the message is the reason the host shows."""


class _SyncInput:
    """A byte buffer over the stream, read by exact sizes.

    Between requests the host may take its time; once a request has begun, or while a push is in progress, every
    piece must arrive within the stream's ``timeout_s``, however the bytes trickle in.
    """

    def __init__(self, stream: Stream):
        self._stream = stream
        self._buffer = bytearray()

    async def _more(self) -> None:
        data = await self._stream.read()
        if data is None:
            raise StreamClosed
        self._buffer += data

    async def exactly(self, size: int, idle: bool = False) -> bytes:
        if idle and not self._buffer:
            await self._more()
        try:
            async with asyncio.timeout(self._stream.timeout_s):
                while len(self._buffer) < size:
                    await self._more()
        except TimeoutError:
            raise SyncRefused(f"the host did not send the rest within {self._stream.timeout_s:g} s") from None
        result = bytes(self._buffer[:size])
        del self._buffer[:size]
        return result


async def _sync(stream: Stream, sandbox: Sandbox) -> None:
    incoming = _SyncInput(stream)
    try:
        while True:
            request, length = _REQUEST.unpack(await incoming.exactly(_REQUEST.size, idle=True))
            if request == b"QUIT":
                return
            try:
                await _answer(stream, incoming, sandbox, request, length)
            except SyncRefused as refusal:
                await stream.write(_fail(str(refusal)))
                return
    except StreamClosed:
        return


async def _answer(stream: Stream, incoming: _SyncInput, sandbox: Sandbox, request: bytes, length: int) -> None:
    """One request, whose header has been read; ``SyncRefused`` for anything that must be answered with FAIL."""
    if request not in (b"STAT", b"LIST", b"SEND", b"RECV"):
        raise SyncRefused(f"unknown sync request {request!r}")
    if length > SYNC_PATH_MAX:
        raise SyncRefused(f"path too long: {length} bytes, at most {SYNC_PATH_MAX}")
    name = (await incoming.exactly(length)).decode("utf-8", errors="surrogateescape")
    path, _, mode = name.rpartition(",") if request == b"SEND" else (name, "", "")
    _check_name(path)
    try:
        if request == b"STAT":
            await stream.write(b"STAT" + await sandbox.run(_stat_of, sandbox, path))
        elif request == b"LIST":
            await _list(stream, sandbox, path)
        elif request == b"RECV":
            await _send_file(stream, sandbox, path)
        else:
            await _receive_file(stream, incoming, sandbox, path, mode)
    except ConnectionError:
        raise  # the connection is gone: nobody to send a FAIL to
    except OSError as error:  # from the file work: no such file, no space left, a name the disk refuses...
        raise SyncRefused(f"{path}: {error.strerror or error}") from None


def _check_name(path: str) -> None:
    if "\0" in path:
        raise SyncRefused(f"{path!r}: a path cannot contain a NUL byte")
    longest = max((len(os.fsencode(part)) for part in path.split("/")), default=0)
    if longest > NAME_MAX:
        raise SyncRefused(f"name too long: one is {longest} bytes, at most {NAME_MAX}")


def _fail(message: str) -> bytes:
    encoded = message.encode("utf-8", errors="replace")
    return b"FAIL" + struct.pack("<I", len(encoded)) + encoded


def _stat_fields(host_path: Path | None) -> bytes:
    """lstat's mode, size and mtime; zeros for a missing file (or one outside the folder), as adbd's STAT v1."""
    try:
        info = os.lstat(host_path) if host_path is not None else None
    except OSError:
        info = None
    if info is None:
        return struct.pack("<3I", 0, 0, 0)
    return struct.pack("<3I", info.st_mode & 0xFFFFFFFF, info.st_size & 0xFFFFFFFF, int(info.st_mtime) & 0xFFFFFFFF)


def _stat_of(sandbox: Sandbox, path: str) -> bytes:
    return _stat_fields(sandbox.host_path(path))


def _names(folder: Path | None) -> list[str]:
    return [".", "..", *sorted(os.listdir(folder))] if folder is not None and folder.is_dir() else []


def _dents(folder: Path, names: list[str]) -> bytes:
    reply = bytearray()
    for name in names:
        encoded = os.fsencode(name)
        reply += b"DENT" + _stat_fields(folder / name) + struct.pack("<I", len(encoded)) + encoded
    return bytes(reply)


async def _list(stream: Stream, sandbox: Sandbox, path: str) -> None:
    folder = await sandbox.run(sandbox.host_path, path)
    names = await sandbox.run(_names, folder)
    for start in range(0, len(names), 256):  # a big folder goes out in pieces, not as one reply in memory
        await stream.write(await sandbox.run(_dents, folder, names[start:start + 256]))
    await stream.write(b"DONE" + struct.pack("<4I", 0, 0, 0, 0))


def _refuse_unless_regular(path: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise SyncRefused(f"{path} is {_KINDS.get(stat.S_IFMT(mode), 'something else')}, not a regular file")


def _open_for_reading(sandbox: Sandbox, path: str) -> BinaryIO:
    """The file behind ``path``, opened without blocking (a FIFO is refused, never waited on)."""
    host_path = sandbox.host_path(path)
    if host_path is None:
        raise SyncRefused("Permission denied")
    descriptor = os.open(host_path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        _refuse_unless_regular(path, os.fstat(descriptor).st_mode)
    except SyncRefused:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "rb")


async def _send_file(stream: Stream, sandbox: Sandbox, path: str) -> None:
    """RECV: the file as DATA chunks, then DONE."""
    handle = await sandbox.run(_open_for_reading, sandbox, path)
    try:
        while block := await sandbox.run(handle.read, FILE_BLOCK):
            pieces = (block[start:start + SYNC_DATA_MAX] for start in range(0, len(block), SYNC_DATA_MAX))
            await stream.write(b"".join(b"DATA" + struct.pack("<I", len(piece)) + piece for piece in pieces))
    finally:
        handle.close()
    await stream.write(b"DONE" + struct.pack("<I", 0))


def _open_for_writing(sandbox: Sandbox, path: str) -> tuple[Path, Path, BinaryIO]:
    """(target, partial file, its handle): a push writes to a fresh partial file, renamed over the target at DONE."""
    target = sandbox.host_path(path)
    if target is None:
        raise SyncRefused("Permission denied")
    try:
        _refuse_unless_regular(path, os.lstat(target).st_mode)
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)  # the "fixed_push_mkdir" feature
    partial = sandbox.partial_path(target)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    return target, partial, os.fdopen(descriptor, "wb")


def _finish(handle: BinaryIO, rest: bytes, partial: Path, target: Path, mode: int, mtime: int) -> None:
    handle.write(rest)
    os.fchmod(handle.fileno(), stat.S_IMODE(mode))
    handle.close()
    os.utime(partial, (mtime, mtime))
    os.replace(partial, target)


def _discard(handle: BinaryIO, partial: Path) -> None:
    handle.close()
    partial.unlink(missing_ok=True)


async def _receive_file(stream: Stream, incoming: _SyncInput, sandbox: Sandbox, path: str, mode: str) -> None:
    """SEND "path,mode": DATA chunks then DONE(mtime), answered with OKAY. Like adbd, a transfer that fails or is cut
    short leaves nothing behind; unlike adbd's, it also leaves the file it would have replaced as it was."""
    if not mode.isdigit():
        raise SyncRefused(f"bad SEND request: mode {mode!r} is not a number")
    target, partial, handle = await sandbox.run(_open_for_writing, sandbox, path)
    finished = False
    try:
        block = bytearray()
        while True:
            chunk_id, length = _REQUEST.unpack(await incoming.exactly(_REQUEST.size))
            if chunk_id == b"DONE":
                break
            if chunk_id != b"DATA":
                raise SyncRefused(f"unexpected {chunk_id!r} while receiving {path}")
            if length > SYNC_DATA_MAX:
                raise SyncRefused(f"a DATA chunk of {length} bytes: at most {SYNC_DATA_MAX}")
            block += await incoming.exactly(length)
            if len(block) >= FILE_BLOCK:
                full, block = block, bytearray()
                await sandbox.run(handle.write, full)
        await sandbox.run(_finish, handle, block, partial, target, int(mode), length)
        finished = True
    finally:
        if not finished:
            await sandbox.run(_discard, handle, partial)
    await stream.write(b"OKAY" + struct.pack("<I", 0))
