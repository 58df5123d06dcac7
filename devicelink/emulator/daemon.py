"""The virtual phone's ADB daemon: CNXN and AUTH, then streams (OPEN/OKAY/WRTE/CLSE) handed to services.

One ``_Connection`` per host connection. ``VirtualPhone`` owns the listening socket and can run in its own thread
(tests, benchmarks, the app's demo mode) or in the caller's event loop (``planestrike device emulate``).

Hosts are untrusted until authorised, and even then must not be able to stall the phone for everyone: every
connection, stream and wait has a limit (``VirtualPhoneConfig`` and the constants below; docs/device.md lists them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devicelink.cache import cache_dir
from devicelink.emulator import auth, cpu, state, wire
from devicelink.emulator.sandbox import Sandbox
from devicelink.emulator.services import Stream, StreamClosed, open_service

log = logging.getLogger(__name__)

# Only features implemented here: shell protocol v2, and SEND creating missing parent directories.
FEATURES = "shell_v2,fixed_push_mkdir"

LISTEN_BACKLOG = 16  # connections the kernel holds before they are accepted
MAX_STREAMS = 64  # open streams per connection; one more OPEN is refused (CLSE)
MAX_SIGNATURES = 10  # signatures a host may try before it is dropped (a real host has a key or two)


@dataclass
class VirtualPhoneConfig:
    state_dir: Path  # holds adb_keys and the folder standing in for /data/local/tmp
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    accept_all_keys: bool = False  # trust any key the host offers, as if the user always tapped "Allow"
    model: str = "Planestrike_Virtual_Phone"
    abi: str | None = None  # arm64-v8a or x86_64; None: arm64-v8a when qemu-aarch64 can run it (cpu.default_abi)
    require_tls: bool = False  # answer CNXN with STLS, as a phone's wireless-debugging port does (TLS not provided)
    # "Allow USB debugging?" shown; gets the key's user@host label, made safe to print
    on_key_waiting: Callable[[str], None] | None = field(default=None, repr=False)
    handshake_timeout_s: float = 10.0  # from connecting to authorised, however the bytes trickle in
    approval_timeout_s: float = 60.0  # how long an "Allow USB debugging?" prompt waits (the app waits 60 s)
    # Once authorised: the longest the rest of a message may take to arrive, a message to be sent, the host to
    # acknowledge a WRTE, or the next piece of a sync request or push to arrive.
    peer_timeout_s: float = 30.0
    max_connections: int = 32  # one more is closed at once
    max_unauthenticated: int = 8  # connections not yet authorised (waiting prompts included); one more is closed

    @property
    def adb_keys(self) -> Path:
        return self.state_dir / "adb_keys"

    @property
    def sandbox_dir(self) -> Path:
        return self.state_dir / "data-local-tmp"


class VirtualPhone:
    def __init__(self, config: VirtualPhoneConfig):
        """Lay out the state folder; a one-line ``DeviceError`` if it cannot be used (``state.unusable``)."""
        self.config = config
        try:
            self.cpu = cpu.prepare(config.abi, cache_dir("virtual-phone"))
        except (ValueError, OSError, subprocess.SubprocessError) as error:
            raise state.unusable(f"cannot start the virtual phone: {error}") from None
        with state.setting_up(config.state_dir):
            state.create_state_dir(config.state_dir, config.adb_keys)
            config.sandbox_dir.mkdir(exist_ok=True)
            self.sandbox = Sandbox(config.sandbox_dir, self.cpu.environment)
            self.sandbox.remove_interrupted_pushes()
            self.sandbox.install_standins()
            self.sandbox.install_system({
                "ro.product.model": config.model, "ro.product.name": config.model, "ro.product.device": "virtual",
                "ro.build.version.release": "14", "ro.build.version.sdk": "34", "ro.product.cpu.abi": self.cpu.abi,
                "ro.product.cpu.abilist": self.cpu.abi,
            })
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._accepting: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = config.port

    @property
    def serial(self) -> str:
        host = self.config.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"  # an IPv6 address in brackets

    @property
    def banner(self) -> bytes:
        name = self.config.model
        return (f"device::ro.product.name={name};ro.product.model={name};ro.product.device=virtual;"
                f"features={FEATURES}").encode()  # no trailing NUL: real adb would misread the features

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.sandbox.start()
        try:
            self._server = await asyncio.start_server(self._accept, self.config.host, self.config.port,
                                                      backlog=LISTEN_BACKLOG)
        except BaseException:
            self.sandbox.stop()
            raise
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            await connection.close()
        if self._accepting:
            await asyncio.gather(*self._accepting, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self.sandbox.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        unauthenticated = sum(not connection.online for connection in self._connections)
        if (len(self._connections) >= self.config.max_connections
                or unauthenticated >= self.config.max_unauthenticated):
            log.info("refusing %s: %d connections, %d not authorised (at most %d and %d)",
                     writer.get_extra_info("peername"), len(self._connections), unauthenticated,
                     self.config.max_connections, self.config.max_unauthenticated)
            writer.close()
            return
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        self._accepting.add(asyncio.current_task())
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)
            self._accepting.discard(asyncio.current_task())

    def allow_waiting_keys(self) -> int:
        """Tap "Allow" on every pending "Allow USB debugging?" prompt; returns how many were waiting.

        Safe to call from any thread.
        """
        if self._loop is None:
            return 0
        future = asyncio.run_coroutine_threadsafe(self._allow_waiting_keys(), self._loop)
        return future.result(timeout=5)

    async def _allow_waiting_keys(self) -> int:
        waiting = [c for c in self._connections if c.waiting_key is not None]
        for connection in waiting:
            await connection.allow_waiting_key()
        return len(waiting)

    # --- running in a background thread (tests, benchmarks, demos) ---------------------------------------------
    def start_in_thread(self) -> VirtualPhone:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start())
            except BaseException as error:  # reported to the starting thread below
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"virtual-phone-{id(self):x}", daemon=True)
        self._thread.start()
        ready.wait(timeout=10)
        if failure:
            raise failure[0]
        return self

    def stop_thread(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> VirtualPhone:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()


class _Connection:
    """One host: handshake, then the stream table."""

    def __init__(self, phone: VirtualPhone, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.phone = phone
        self.config = phone.config
        self.reader = reader
        self.writer = writer
        self.version = wire.VERSION_MIN
        self.max_payload = 4096
        self.online = False
        self.token = b""
        self.signatures_tried = 0
        self.waiting_key: auth.PublicKey | None = None
        self.deadline: asyncio.Timeout | None = None  # until authorised (see serve)
        self.streams: dict[int, tuple[int, Stream]] = {}  # our id -> (host's id, stream)
        self.tasks: set[asyncio.Task] = set()
        self.next_id = 1
        self.send_lock = asyncio.Lock()
        self.closing = False

    @property
    def checksums(self) -> bool:
        return self.version < wire.VERSION_SKIP_CHECKSUM

    async def send(self, message: wire.Message) -> None:
        async with self.send_lock:
            self.writer.write(wire.pack(message, self.checksums))
            try:
                async with asyncio.timeout(self.config.peer_timeout_s):
                    await self.writer.drain()
            except TimeoutError:
                self.writer.transport.abort()  # ends serve() too, which cleans up
                raise ConnectionResetError(f"the host read nothing for {self.config.peer_timeout_s:g} s") from None

    def reschedule(self, seconds: float | None) -> None:
        """Move the handshake deadline to ``seconds`` from now (None: authorised, no deadline)."""
        self.deadline.reschedule(None if seconds is None else asyncio.get_running_loop().time() + seconds)

    async def serve(self) -> None:
        peer = self.writer.get_extra_info("peername")
        try:
            async with asyncio.timeout(self.config.handshake_timeout_s) as self.deadline:
                while True:
                    limit = wire.MAX_PAYLOAD if self.online else wire.HANDSHAKE_MAX_PAYLOAD
                    message = await wire.read_message(self.reader, limit, self.config.peer_timeout_s)
                    await self.handle(message)
        except TimeoutError:  # before OSError, which it is a kind of
            log.info("dropping %s: %s", peer, "not authorised in time" if self.deadline.expired()
                     else f"a message took over {self.config.peer_timeout_s:g} s")
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except wire.ProtocolError as error:
            log.warning("dropping %s: %s", peer, error)
        finally:
            await self.close()

    async def close(self) -> None:
        if self.closing:
            return  # stop() and the end of serve() both close: cancelling twice would interrupt the clean-up
        self.closing = True
        for _, stream in self.streams.values():
            stream.host_closed()  # services see the stream end, kill their processes and return
        self.streams.clear()
        if self.tasks:
            _, stuck = await asyncio.wait(set(self.tasks), timeout=5)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        self.writer.close()

    # --- handshake ----------------------------------------------------------------------------------------------
    async def handle(self, message: wire.Message) -> None:
        if message.command == wire.CNXN:
            if self.online:
                self.reschedule(self.config.handshake_timeout_s)  # a new handshake, with a new deadline
            self.version = max(wire.VERSION_MIN, min(message.arg0, wire.VERSION_SKIP_CHECKSUM))
            self.max_payload = max(256, min(message.arg1, wire.MAX_PAYLOAD))
            if self.config.require_tls:
                await self.send(wire.Message(wire.STLS, wire.VERSION_MIN, 0))
                return
            await self.challenge()
        elif message.command == wire.AUTH:
            await self.handle_auth(message)
        elif not self.online:
            return  # adbd ignores everything else until the host is authorised
        elif message.command == wire.OPEN:
            if len(self.tasks) >= MAX_STREAMS:
                await self.send(wire.Message(wire.CLSE, 0, message.arg0))
                return
            self.spawn(self.open_stream(message.arg0, message.data.rstrip(b"\0").decode("utf-8", "surrogateescape")))
        elif message.command in (wire.OKAY, wire.WRTE, wire.CLSE):
            await self.stream_message(message)

    async def challenge(self) -> None:
        self.online = False
        self.token = secrets.token_bytes(auth.TOKEN_BYTES)
        await self.send(wire.Message(wire.AUTH, wire.AUTH_TOKEN, 0, self.token))

    async def handle_auth(self, message: wire.Message) -> None:
        if self.online or not self.token:
            return
        if message.arg0 == wire.AUTH_SIGNATURE:
            self.signatures_tried += 1
            if self.signatures_tried > MAX_SIGNATURES:
                raise wire.ProtocolError(f"more than {MAX_SIGNATURES} signatures tried")
            if any(key.verifies(self.token, message.data) for key in await self.trusted_keys()):
                await self.go_online()
            else:
                await self.challenge()  # a fresh token for the host's next key, as adbd does
        elif message.arg0 == wire.AUTH_RSAPUBLICKEY and self.waiting_key is None:  # one prompt per connection
            key = auth.parse_public_key(message.data.decode("utf-8", errors="replace"))
            if key is None:
                return
            if self.config.accept_all_keys:
                await self.remember(key)
                await self.go_online()
                return
            # The phone now shows "Allow USB debugging?" and waits for the user (allow_waiting_keys).
            self.waiting_key = key
            self.reschedule(self.config.approval_timeout_s)
            log.info("unknown key from %s waits for approval", key.label)
            if self.config.on_key_waiting is not None:
                self.config.on_key_waiting(key.label)

    async def trusted_keys(self) -> list[auth.PublicKey]:
        try:
            return await asyncio.to_thread(auth.load_keys, self.config.adb_keys)  # not on the loop: it may block
        except OSError as error:
            log.warning("cannot read %s (%s): no key is trusted", self.config.adb_keys, error.strerror or error)
            return []

    async def remember(self, key: auth.PublicKey) -> None:
        """Store the key in adb_keys ("Always allow"); if that fails it is still allowed, for this connection."""
        try:
            stored = await asyncio.to_thread(auth.trust_key, self.config.adb_keys, key)
        except OSError as error:
            log.warning("cannot add %s to %s (%s): allowed this time only", key.label, self.config.adb_keys,
                        error.strerror or error)
            return
        if not stored:
            log.warning("%s is full (%d bytes): %s is allowed this time only", self.config.adb_keys,
                        auth.KEYS_FILE_MAX, key.label)

    async def allow_waiting_key(self) -> None:
        if self.waiting_key is not None and not self.online:
            await self.remember(self.waiting_key)
            if not self.closing:  # the approval deadline may have passed meanwhile
                await self.go_online()

    async def go_online(self) -> None:
        self.online = True
        self.waiting_key = None
        self.reschedule(None)
        await self.send(wire.Message(wire.CNXN, self.version, self.max_payload, self.phone.banner))

    # --- streams ------------------------------------------------------------------------------------------------
    def spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def open_stream(self, host_id: int, service_name: str) -> None:
        try:
            service = await open_service(service_name, self.phone.sandbox)
        except Exception:  # a broken service must not take the connection down
            log.exception("opening %r failed", service_name)
            service = None
        if service is None:
            await self.send(wire.Message(wire.CLSE, 0, host_id))
            return
        local_id = self.next_id
        self.next_id += 1

        async def send(command: int, data: bytes) -> None:
            await self.send(wire.Message(command, local_id, host_id, data))

        stream = Stream(send, self.max_payload, self.config.peer_timeout_s)
        self.streams[local_id] = (host_id, stream)
        await send(wire.OKAY, b"")
        try:
            await service(stream)
        except StreamClosed:
            pass
        except (ConnectionError, OSError) as error:
            log.debug("service %r ended: %s", service_name, error)
        finally:
            if self.streams.pop(local_id, None) is not None:
                try:
                    await send(wire.CLSE, b"")
                except (ConnectionError, OSError):
                    pass

    async def stream_message(self, message: wire.Message) -> None:
        entry = self.streams.get(message.arg1)
        if entry is None or entry[0] != message.arg0:
            return  # a stream we already closed: its CLSE echo, or a late OKAY
        host_id, stream = entry
        if message.command == wire.OKAY:
            stream.host_acknowledged()
        elif message.command == wire.WRTE:
            stream.host_wrote(message.data)
        else:
            del self.streams[message.arg1]
            stream.host_closed()
            await self.send(wire.Message(wire.CLSE, message.arg1, host_id))


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/planestrike/virtual-phone`` when that is absolute (the XDG rule), else under ``$HOME``; with
    neither absolute, one clear error rather than a folder in ``/`` or the current directory."""
    base, home = os.environ.get("XDG_STATE_HOME", ""), os.environ.get("HOME", "")
    if not os.path.isabs(base):
        if not os.path.isabs(home):
            raise state.unusable(f"HOME is {home!r}, not an absolute path, and XDG_STATE_HOME is not set: set one, or pass "
                           "--state-dir DIR")
        base = os.path.join(home, ".local", "state")
    return Path(base) / "planestrike" / "virtual-phone"
