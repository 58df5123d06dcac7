"""The virtual phone's ADB daemon: CNXN and AUTH, then streams (OPEN/OKAY/WRTE/CLSE) handed to services.

One ``_Connection`` per host connection. ``VirtualPhone`` owns the listening socket and can run in its own thread
(tests, benchmarks, the app's demo mode) or in the caller's event loop (``planestrike device emulate``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devicelink.emulator import auth, wire
from devicelink.emulator.sandbox import Sandbox, android_abi
from devicelink.emulator.services import Stream, StreamClosed, open_service

log = logging.getLogger(__name__)

# Only features implemented here: shell protocol v2, and SEND creating missing parent directories.
FEATURES = "shell_v2,fixed_push_mkdir"


@dataclass
class VirtualPhoneConfig:
    state_dir: Path  # holds adb_keys and the folder standing in for /data/local/tmp
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    accept_all_keys: bool = False  # trust any key the host offers, as if the user always tapped "Allow"
    model: str = "Planestrike_Virtual_Phone"
    require_tls: bool = False  # answer CNXN with STLS, as a phone's wireless-debugging port does (TLS not provided)
    on_key_waiting: Callable[[str], None] | None = field(default=None, repr=False)  # "Allow USB debugging?" shown

    @property
    def adb_keys(self) -> Path:
        return self.state_dir / "adb_keys"

    @property
    def sandbox_dir(self) -> Path:
        return self.state_dir / "data-local-tmp"


class VirtualPhone:
    def __init__(self, config: VirtualPhoneConfig):
        self.config = config
        config.sandbox_dir.mkdir(parents=True, exist_ok=True)
        self.sandbox = Sandbox(config.sandbox_dir)
        self.sandbox.install_standins()
        self.sandbox.install_system({
            "ro.product.model": config.model, "ro.product.name": config.model, "ro.product.device": "virtual",
            "ro.build.version.release": "14", "ro.build.version.sdk": "34", "ro.product.cpu.abi": android_abi(),
        })
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._accepting: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = config.port

    @property
    def serial(self) -> str:
        return f"{self.config.host}:{self.port}"

    @property
    def banner(self) -> bytes:
        name = self.config.model
        return (f"device::ro.product.name={name};ro.product.model={name};ro.product.device=virtual;"
                f"features={FEATURES}").encode()  # no trailing NUL: real adb would misread the features

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, self.config.host, self.config.port)
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

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
        self.reader = reader
        self.writer = writer
        self.version = wire.VERSION_MIN
        self.max_payload = 4096
        self.online = False
        self.token = b""
        self.waiting_key: auth.PublicKey | None = None
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
            await self.writer.drain()

    async def serve(self) -> None:
        peer = self.writer.get_extra_info("peername")
        try:
            while True:
                message = await wire.read_message(self.reader, wire.MAX_PAYLOAD)
                await self.handle(message)
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
            self.version = max(wire.VERSION_MIN, min(message.arg0, wire.VERSION_SKIP_CHECKSUM))
            self.max_payload = max(256, min(message.arg1, wire.MAX_PAYLOAD))
            if self.phone.config.require_tls:
                await self.send(wire.Message(wire.STLS, wire.VERSION_MIN, 0))
                return
            await self.challenge()
        elif message.command == wire.AUTH:
            await self.handle_auth(message)
        elif not self.online:
            return  # adbd ignores everything else until the host is authorised
        elif message.command == wire.OPEN:
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
            if any(key.verifies(self.token, message.data) for key in auth.load_keys(self.phone.config.adb_keys)):
                await self.go_online()
            else:
                await self.challenge()  # a fresh token for the host's next key, as adbd does
        elif message.arg0 == wire.AUTH_RSAPUBLICKEY:
            key = auth.parse_public_key(message.data.decode("ascii", errors="replace"))
            if key is None:
                return
            if self.phone.config.accept_all_keys:
                auth.trust_key(self.phone.config.adb_keys, key)
                await self.go_online()
                return
            # The phone now shows "Allow USB debugging?" and waits for the user (allow_waiting_keys).
            self.waiting_key = key
            fingerprint = key.line.split()[1] if len(key.line.split()) > 1 else "unnamed key"
            log.info("unknown key from %s waits for approval", fingerprint)
            if self.phone.config.on_key_waiting is not None:
                self.phone.config.on_key_waiting(fingerprint)

    async def allow_waiting_key(self) -> None:
        if self.waiting_key is not None and not self.online:
            auth.trust_key(self.phone.config.adb_keys, self.waiting_key)
            self.waiting_key = None
            await self.go_online()

    async def go_online(self) -> None:
        self.online = True
        self.waiting_key = None
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

        stream = Stream(send, self.max_payload)
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
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "planestrike" / "virtual-phone"
