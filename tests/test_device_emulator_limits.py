"""The virtual phone cannot be stalled or spoofed: hostile hosts, hostile file names, hostile folders.

Misbehaving peers are raw sockets (``RawHost`` below speaks just enough ADB to misbehave precisely); well-behaved
ones are devicelink's sessions (adb-shell) and Debian's `adb`. Deadlines are shortened through VirtualPhoneConfig so
each test takes a second or two.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from device_helpers import (REPO, adb_client, emulator_process, make_key, phone_in_thread, power_cut_halfway,
                            recv_exactly, trust)
from devicelink.emulator.auth import load_keys, parse_public_key
from devicelink.emulator.daemon import MAX_SIGNATURES, MAX_STREAMS, VirtualPhone, VirtualPhoneConfig, default_state_dir
from devicelink.errors import DeviceAuthError, DeviceCommandFailed, DeviceError, DeviceLost, DeviceUnreachable
from devicelink.session import DeviceSession, SessionConfig

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31m"
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # what must never reach a console (newline aside)


# --- a host that speaks raw ADB -----------------------------------------------------------------------------------
def command_id(name: bytes) -> int:
    return int.from_bytes(name, "little")


CNXN, AUTH, OPEN, OKAY, WRTE, CLSE = (command_id(c) for c in (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"WRTE", b"CLSE"))


def packed(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return struct.pack("<6I", command, arg0, arg1, len(data), 0, command ^ 0xFFFFFFFF) + data


class RawHost:
    """One TCP connection to the phone, written by hand (ADB version 0x01000001: no checksums)."""

    def __init__(self, port: int):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.next_id = 1

    def close(self) -> None:
        self.socket.close()

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.socket.sendall(packed(command, arg0, arg1, data))

    def receive(self) -> tuple[int, int, int, bytes]:
        command, arg0, arg1, length, _, _ = struct.unpack("<6I", self.exactly(24))
        return command, arg0, arg1, self.exactly(length)

    def exactly(self, size: int) -> bytes:
        return recv_exactly(self.socket, size, "the phone")

    def seconds_until_dropped(self, limit: float = 5) -> float:
        """How long the phone keeps this connection open from now, reading and ignoring what it sends."""
        start = time.monotonic()
        self.socket.settimeout(limit)
        try:
            while self.socket.recv(4096):
                pass
        except ConnectionResetError:
            pass
        return time.monotonic() - start

    def is_open(self, wait: float = 0.2) -> bool:
        self.socket.settimeout(wait)
        try:
            return self.socket.recv(1, socket.MSG_PEEK) != b""
        except TimeoutError:
            return True
        except ConnectionResetError:
            return False

    def hello(self) -> bytes:
        """CNXN; returns the phone's AUTH token."""
        self.send(CNXN, 0x01000001, 256 * 1024, b"host::\0")
        command, kind, _, token = self.receive()
        assert (command, kind) == (AUTH, 1)
        return token

    def sign_in(self, key: Path) -> None:
        from adb_shell.auth.sign_pythonrsa import PythonRSASigner

        token = self.hello()
        self.send(AUTH, 2, 0, bytes(PythonRSASigner.FromRSAKeyPath(str(key)).Sign(token)))
        assert self.receive()[0] == CNXN

    def open(self, service: str) -> tuple[int, int]:
        """(our id, the phone's id) of a new stream, or raises if the phone refuses it."""
        local = self.next_id
        self.next_id += 1
        self.send(OPEN, local, 0, service.encode() + b"\0")
        command, remote, _, _ = self.receive()
        if command != OKAY:
            raise DeviceCommandFailed(f"the phone refused {service}")
        return local, remote

    def write(self, stream: tuple[int, int], data: bytes) -> None:
        self.send(WRTE, *stream, data)
        assert self.receive()[0] == OKAY

    def read(self, stream: tuple[int, int]) -> bytes | None:
        """What the phone writes next on the stream, acknowledged; None once it closes the stream."""
        command, _, _, data = self.receive()
        if command == CLSE:
            return None
        assert command == WRTE
        self.send(OKAY, *stream)
        return data


def sync_request(request: bytes, path: bytes) -> bytes:
    return request + struct.pack("<I", len(path)) + path


def sync_answer(host: RawHost, stream: tuple[int, int]) -> tuple[bytes, bytes]:
    """The phone's first sync reply: its id and what follows (a FAIL's message)."""
    reply = host.read(stream)
    assert reply is not None, "the phone closed the sync stream without a FAIL"
    return reply[:4], reply[8:]


def public_line(key: Path) -> str:
    return key.with_name(key.name + ".pub").read_text().strip()


@pytest.fixture
def raw_phone(tmp_path, key):
    """A virtual phone trusting ``key``, with deadlines short enough to watch them pass."""
    trust(tmp_path / "phone", key)
    with phone_in_thread(tmp_path / "phone", handshake_timeout_s=0.5, approval_timeout_s=0.5,
                         peer_timeout_s=0.5) as phone:
        yield phone


@pytest.fixture
def host(raw_phone, key):
    raw = RawHost(raw_phone.port)
    raw.sign_in(key)
    yield raw
    raw.close()


# --- blocking file work never stalls the daemon -------------------------------------------------------------------
def test_a_push_or_pull_of_a_fifo_is_refused_at_once_and_other_clients_keep_connecting(tmp_path, phone, key, session):
    session.check(["mkfifo", "/data/local/tmp/ff"])
    results = {}

    def use_the_fifo():
        for name, action in (("push", lambda: session.push(b"x" * 100_000, "/data/local/tmp/ff")),
                             ("pull", lambda: session.pull("/data/local/tmp/ff"))):
            try:
                action()
            except DeviceError as error:
                results[name] = str(error)

    worker = threading.Thread(target=use_the_fifo)
    worker.start()
    with DeviceSession.open(phone.serial, SessionConfig(key_path=key, command_timeout_s=5)) as other:
        assert other.run(["echo", "still here"]).stdout == b"still here\n"
    with adb_client(tmp_path / "adb-home") as adb:
        trust(tmp_path / "phone", adb.key())
        assert f"connected to {phone.serial}" in adb("connect", phone.serial).stdout
        adb.wait_for_state(phone.serial, "device")
        (tmp_path / "local").write_bytes(b"data")
        pushed = adb("-s", phone.serial, "push", str(tmp_path / "local"), "/data/local/tmp/ff", check=False)
    worker.join(10)
    assert "is a FIFO, not a regular file" in results["push"] and "is a FIFO" in results["pull"]
    assert pushed.returncode != 0 and "is a FIFO, not a regular file" in pushed.stdout + pushed.stderr
    assert stat.S_ISFIFO((phone.sandbox.root / "ff").lstat().st_mode)  # refused, not replaced


def test_a_disk_that_hangs_mid_push_stalls_only_that_push(phone, key, session, monkeypatch):
    # A write that never returns (a dead NFS server, say) must hold up its own push and nothing else.
    from devicelink.emulator import services

    release, entered = threading.Event(), threading.Event()
    original = services._finish

    def hanging_finish(*args):
        entered.set()
        release.wait(10)
        return original(*args)

    monkeypatch.setattr(services, "_finish", hanging_finish)
    pushed = []
    worker = threading.Thread(target=lambda: pushed.append(session.push(b"payload", "/data/local/tmp/slow.bin")))
    worker.start()
    try:
        assert entered.wait(5)
        started = time.monotonic()
        with DeviceSession.open(phone.serial, SessionConfig(key_path=key, command_timeout_s=5)) as other:
            assert other.run(["echo", "not stalled"]).stdout == b"not stalled\n"
            assert other.pull("/data/local/tmp/planestrike/benchmark_model").startswith(b"#!")
        assert time.monotonic() - started < 3
        assert not (phone.sandbox.root / "slow.bin").exists()  # the push is still waiting on its disk
    finally:
        release.set()
        worker.join(10)
    assert pushed == [None] and (phone.sandbox.root / "slow.bin").read_bytes() == b"payload"


# --- what a stranger's key can put on a console or into adb_keys --------------------------------------------------
def test_a_key_label_full_of_escape_codes_reaches_the_prompt_and_log_as_plain_text(tmp_path, key, caplog):
    shown = []
    with phone_in_thread(tmp_path / "phone", on_key_waiting=shown.append) as phone:
        raw = RawHost(phone.port)
        with caplog.at_level(logging.INFO, logger="devicelink.emulator"):
            raw.hello()
            raw.send(AUTH, 3, 0, f"{public_line(key).split()[0]} evil{ESCAPES}@host\0".encode())
            deadline = time.monotonic() + 5
            while not shown and time.monotonic() < deadline:
                time.sleep(0.02)
        raw.close()
    assert shown == ["evil?]0;pwned??[2J?[31m@host"]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "evil?]0;pwned??[2J?[31m@host" in logged and not CONTROL.search(logged)


def test_escape_codes_from_a_key_never_reach_the_emulate_console(tmp_path, key):
    with emulator_process(tmp_path / "phone", accept_all_keys=False) as emulator:
        raw = RawHost(emulator.port)
        raw.hello()
        raw.send(AUTH, 3, 0, f"{public_line(key).split()[0]} {ESCAPES}\nsecond line\r\x85\0".encode())
        watchdog = threading.Timer(15, emulator.process.kill)  # readline below must not hang the test
        watchdog.start()
        try:
            for line in iter(emulator.process.stdout.readline, ""):
                emulator.lines.append(line)
                if "refused an unknown key" in line:
                    break
        finally:
            watchdog.cancel()
        raw.close()
        output = emulator.terminate()
    prompt = next(line for line in output.splitlines() if "refused an unknown key" in line)
    assert "(?]0;pwned??[2J?[31m?second line??)" in prompt
    assert not CONTROL.search(output)


def test_a_newline_in_an_offered_key_stores_exactly_one_well_formed_line(tmp_path, key):
    # Under --accept-all-keys the offered key is stored. A second key smuggled after a newline must not be.
    smuggled = make_key(tmp_path / "smuggled")
    state = tmp_path / "phone"
    with phone_in_thread(state, accept_all_keys=True) as phone:
        raw = RawHost(phone.port)
        raw.hello()
        raw.send(AUTH, 3, 0, f"{public_line(key)}\n{public_line(smuggled)}\n\0".encode())
        assert raw.receive()[0] == CNXN  # allowed, as if "Always allow" had been tapped
        raw.close()
    lines = (state / "adb_keys").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 2
    assert re.fullmatch(r"[A-Za-z0-9+/]+=* [ -~]{1,64}", lines[0])
    assert [k.modulus for k in load_keys(state / "adb_keys")] == [parse_public_key(public_line(key)).modulus]
    with phone_in_thread(state) as phone:  # after a restart, only the offered key is trusted
        with DeviceSession.open(phone.serial, SessionConfig(key_path=key)) as session:
            assert session.run(["true"]).exit_code == 0
        with pytest.raises(DeviceAuthError):
            DeviceSession.open(phone.serial, SessionConfig(key_path=smuggled, auth_timeout_s=0.3))


def test_the_same_key_offered_twice_is_stored_once(tmp_path, key):
    with phone_in_thread(tmp_path / "phone", accept_all_keys=True) as phone:
        for _ in range(2):
            DeviceSession.open(phone.serial, SessionConfig(key_path=key)).close()
        raw = RawHost(phone.port)
        raw.hello()
        raw.send(AUTH, 3, 0, f"{public_line(key).split()[0]} another@label\0".encode())
        assert raw.receive()[0] == CNXN
        raw.close()
    assert len(load_keys(tmp_path / "phone" / "adb_keys")) == 1


# --- sync stays inside the folder, and says why it refuses ----------------------------------------------------------
@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret").write_bytes(b"not the phone's")
    return folder


def test_sync_through_a_symlinked_folder_that_leads_outside_fails(session, phone, outside):
    session.check(["ln", "-s", str(outside), "/data/local/tmp/escape"])
    with pytest.raises(DeviceCommandFailed, match="Permission denied"):
        session.push(b"x", "/data/local/tmp/escape/new")
    with pytest.raises(DeviceCommandFailed, match="Permission denied"):
        session.pull("/data/local/tmp/escape/secret")
    with session.operation("stat and list through the link") as device:
        assert device.stat("/data/local/tmp/escape/secret") == (0, 0, 0)
        assert list(device.list("/data/local/tmp/escape")) == []
    assert sorted(os.listdir(outside)) == ["secret"]


def test_sync_to_a_symlinked_file_that_leads_outside_fails_and_leaves_it_alone(session, phone, outside):
    session.check(["ln", "-s", str(outside / "secret"), "/data/local/tmp/link"])
    session.check(["ln", "-s", str(outside / "not-yet"), "/data/local/tmp/dangling"])
    for link in ("/data/local/tmp/link", "/data/local/tmp/dangling"):
        with pytest.raises(DeviceCommandFailed, match="Permission denied"):
            session.push(b"overwritten", link)
    with pytest.raises(DeviceCommandFailed, match="Permission denied"):
        session.pull("/data/local/tmp/link")
    assert (outside / "secret").read_bytes() == b"not the phone's" and sorted(os.listdir(outside)) == ["secret"]


def test_a_symlink_that_stays_inside_still_works(session, phone):
    session.check(["mkdir", "-p", "/data/local/tmp/real"])
    session.check(["ln", "-s", "/data/local/tmp/real", "/data/local/tmp/alias"])
    session.push(b"through the alias", "/data/local/tmp/alias/file")
    assert (phone.sandbox.root / "real" / "file").read_bytes() == b"through the alias"
    assert session.pull("/data/local/tmp/alias/file") == b"through the alias"


@pytest.mark.parametrize("request_id, path, reason", [
    (b"STAT", b"/data/local/tmp/a\0b", "cannot contain a NUL byte"),
    (b"SEND", b"/data/local/tmp/a\0b,33188", "cannot contain a NUL byte"),
    (b"RECV", b"/data/local/tmp/" + b"n" * 256, "name too long: one is 256 bytes, at most 255"),
    (b"SEND", b"/data/local/tmp/" + b"n" * 300 + b"/x,33188", "name too long: one is 300 bytes, at most 255"),
    (b"LIST", b"/data/local/tmp/" + b"d/" * 600, "path too long: 1216 bytes, at most 1024"),
])
def test_a_bad_name_gets_a_sync_fail_with_the_reason(host, request_id, path, reason):
    stream = host.open("sync:")
    host.write(stream, sync_request(request_id, path))
    answer, message = sync_answer(host, stream)
    assert answer == b"FAIL" and reason.encode() in message
    assert host.read(stream) is None  # and the sync stream ends, as adbd ends it


def test_a_data_chunk_over_64_kib_gets_a_sync_fail(host, raw_phone):
    stream = host.open("sync:")
    host.write(stream, sync_request(b"SEND", b"/data/local/tmp/big,33188") + b"DATA" + struct.pack("<I", 65537))
    assert sync_answer(host, stream) == (b"FAIL", b"a DATA chunk of 65537 bytes: at most 65536")
    assert not [name for name in os.listdir(raw_phone.sandbox.root) if "big" in name or "partial" in name]


# --- deadlines that trickling cannot extend ---------------------------------------------------------------------------
def test_a_silent_stranger_is_dropped_after_the_handshake_deadline(raw_phone):
    assert 0.4 < RawHost(raw_phone.port).seconds_until_dropped() < 2


def test_a_stranger_trickling_its_cnxn_a_byte_at_a_time_is_dropped_all_the_same(raw_phone):
    raw = RawHost(raw_phone.port)
    message = packed(CNXN, 0x01000001, 4096, b"host::" + b"x" * 200)
    sent = []
    trickle(raw, message, sent)
    assert 0.4 < raw.seconds_until_dropped() < 2
    assert 2 < len(sent) < len(message)  # bytes kept coming, and did not buy time


def test_a_prompt_nobody_answers_ends_after_the_approval_deadline(tmp_path, key):
    stranger = make_key(tmp_path / "stranger")
    with phone_in_thread(tmp_path / "phone", handshake_timeout_s=0.3, approval_timeout_s=1) as phone:
        raw = RawHost(phone.port)
        raw.hello()
        raw.send(AUTH, 3, 0, public_line(stranger).encode() + b"\0")
        time.sleep(0.3)
        raw.send(AUTH, 3, 0, public_line(stranger).encode() + b"\0")  # offering again does not restart the wait
        assert 0.4 < raw.seconds_until_dropped() < 2
        assert phone.allow_waiting_keys() == 0


def trickle(host: RawHost, message: bytes, sent: list[int]) -> None:
    """Send ``message`` a byte every 50 ms in the background, until it is all sent or the phone drops ``host``."""
    def run():
        try:
            for byte in message:
                host.socket.send(bytes([byte]))
                sent.append(byte)
                time.sleep(0.05)
        except OSError:
            pass  # dropped: what the tests wait for

    threading.Thread(target=run, daemon=True).start()


def test_an_authorised_host_trickling_a_message_is_dropped(host):
    message = packed(OPEN, 7, 0, b"shell:echo " + b"x" * 100 + b"\0")
    sent = []
    trickle(host, message, sent)
    assert 0.4 < host.seconds_until_dropped() < 2
    assert 2 < len(sent) < len(message)


def test_a_push_that_stops_midway_gets_a_fail_and_leaves_nothing(host, raw_phone):
    stream = host.open("sync:")
    host.write(stream, sync_request(b"SEND", b"/data/local/tmp/stalled,33188") + b"DATA" + struct.pack("<I", 10))
    host.write(stream, b"12345")  # half the chunk, then nothing
    started = time.monotonic()
    assert sync_answer(host, stream) == (b"FAIL", b"the host did not send the rest within 0.5 s")
    assert 0.3 < time.monotonic() - started < 2
    assert not [name for name in os.listdir(raw_phone.sandbox.root) if "stalled" in name or "partial" in name]


def test_a_host_that_never_acknowledges_output_loses_the_stream(host):
    stream = host.open("shell:echo one; echo two")
    assert host.receive()[0] == WRTE  # never acknowledged
    started = time.monotonic()
    assert host.receive()[:2] == (CLSE, stream[1])
    assert 0.3 < time.monotonic() - started < 2


# --- caps ---------------------------------------------------------------------------------------------------------
def test_unauthorised_connections_are_capped_and_the_cap_frees_up_at_the_deadline(tmp_path, key):
    trust(tmp_path / "phone", key)
    with phone_in_thread(tmp_path / "phone", handshake_timeout_s=2, max_unauthenticated=3) as phone:
        strangers = [RawHost(phone.port) for _ in range(3)]
        time.sleep(0.1)
        one_too_many = RawHost(phone.port)
        assert one_too_many.seconds_until_dropped() < 1  # at once, not at the deadline
        assert all(stranger.is_open() for stranger in strangers)
        assert max(stranger.seconds_until_dropped() for stranger in strangers) < 3
        with DeviceSession.open(phone.serial, SessionConfig(key_path=key)) as session:
            assert session.run(["true"]).exit_code == 0


def test_connections_in_all_are_capped(tmp_path, key):
    trust(tmp_path / "phone", key)
    with phone_in_thread(tmp_path / "phone", max_connections=2) as phone:
        sessions = [DeviceSession.open(phone.serial, SessionConfig(key_path=key)) for _ in range(2)]
        try:
            with pytest.raises(DeviceUnreachable):
                DeviceSession.open(phone.serial, SessionConfig(key_path=key, connect_timeout_s=2))
            assert all(session.run(["true"]).exit_code == 0 for session in sessions)
        finally:
            for session in sessions:
                session.close()
        with DeviceSession.open(phone.serial, SessionConfig(key_path=key)) as session:
            assert session.run(["true"]).exit_code == 0


def test_streams_per_connection_are_capped(host):
    for _ in range(MAX_STREAMS):
        host.open("sync:")
    with pytest.raises(DeviceCommandFailed, match="refused"):
        host.open("sync:")


def test_a_host_that_ignores_flow_control_is_dropped(host):
    stream = host.open("sync:")
    host.write(stream, sync_request(b"LIST", b"/data/local/tmp"))
    assert host.receive()[0] == WRTE  # the listing, not acknowledged: the phone reads nothing more meanwhile
    for _ in range(3):
        host.send(WRTE, *stream, b"x")  # without waiting for OKAY
    assert host.seconds_until_dropped() < 1  # the whole connection, not only the stream (that would take 0.5 s)


def test_a_host_guessing_signatures_is_dropped(tmp_path):
    with phone_in_thread(tmp_path / "phone", handshake_timeout_s=5) as phone:
        raw = RawHost(phone.port)
        raw.hello()
        for _ in range(MAX_SIGNATURES):
            raw.send(AUTH, 2, 0, os.urandom(256))
            assert raw.receive()[:2] == (AUTH, 1)  # a fresh token: try the next key
        raw.send(AUTH, 2, 0, os.urandom(256))
        assert raw.seconds_until_dropped() < 1  # at once, not at the deadline


def test_a_strangers_message_may_not_be_large(tmp_path):
    with phone_in_thread(tmp_path / "phone", handshake_timeout_s=5) as phone:
        raw = RawHost(phone.port)
        raw.send(CNXN, 0x01000001, 4096, b"host::" + b"x" * 5000)
        assert raw.seconds_until_dropped() < 1


# --- partial files --------------------------------------------------------------------------------------------------
def test_a_push_killed_with_the_phone_leaves_no_partial_file_after_a_restart(tmp_path, key):
    state = tmp_path / "phone"
    trust(state, key)
    sandbox = state / "data-local-tmp"
    with emulator_process(state, accept_all_keys=False) as emulator:
        port = emulator.port
        with DeviceSession.open(emulator.serial, SessionConfig(key_path=key, command_timeout_s=10)) as session:
            session.push(b"version 1", "/data/local/tmp/dir/model.bin")
            with pytest.raises(DeviceLost):
                session.push(os.urandom(4 * 1024 * 1024), "/data/local/tmp/dir/model.bin",
                             progress=power_cut_halfway(emulator))
    left = [name for name in os.listdir(sandbox / "dir") if name.endswith(".partial")]
    assert len(left) == 1  # what the phone was writing when it lost power
    assert (sandbox / "dir" / "model.bin").read_bytes() == b"version 1"  # the old file was never touched
    with emulator_process(state, port=port, accept_all_keys=False):
        assert os.listdir(sandbox / "dir") == ["model.bin"]


# --- folders the phone lives in ---------------------------------------------------------------------------------------
def test_a_home_with_a_space_and_an_accent_works_as_the_default_folder(tmp_path, key, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home with space é"))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    state = default_state_dir()
    assert str(state).startswith(str(tmp_path / "home with space é"))
    trust(state, key)
    with phone_in_thread(state) as phone:
        shell_path = phone.sandbox.shell_root
        with DeviceSession.open(phone.serial, SessionConfig(key_path=key)) as session:
            session.check(["sh", "-c", "echo hi > /data/local/tmp/x; cd /data/local/tmp && cat x"])
            assert session.run(["sh", "-c", "cat /data/local/tmp/x; pwd"]).stdout == f"hi\n{shell_path}\n".encode()
            session.push(b"pushed", "/data/local/tmp/pushed")
            assert session.sha256("/data/local/tmp/pushed") == hashlib.sha256(b"pushed").hexdigest()
        assert (state / "data-local-tmp" / "x").read_bytes() == b"hi\n"
        assert re.fullmatch(r"[A-Za-z0-9_./+-]+", str(shell_path))
    assert not shell_path.exists() and not shell_path.parent.exists()  # the alias goes with the phone


def test_emulate_prints_a_folder_with_a_space_and_an_accent_and_serves_it(tmp_path, key):
    state = tmp_path / "home with space é" / "phone"
    trust(state, key)
    with emulator_process(state, accept_all_keys=False) as emulator:
        with DeviceSession.open(emulator.serial, SessionConfig(key_path=key)) as session:
            assert session.run(["cat", "/data/local/tmp/planestrike/benchmark_model"]).stdout.startswith(b"#!")
        output = emulator.terminate()
    assert f"storage: {state / 'data-local-tmp'}" in output and "Traceback" not in output


def test_the_stand_ins_start_when_this_python_lives_in_a_folder_with_a_space(tmp_path, key, monkeypatch):
    # A #! line ends at the first space, so such a Python cannot be named there directly.
    python = tmp_path / "python with space é" / "python3"
    python.parent.mkdir()
    python.symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(python))
    trust(tmp_path / "phone", key)
    with phone_in_thread(tmp_path / "phone") as phone:
        with DeviceSession.open(phone.serial, SessionConfig(key_path=key)) as session:
            result = session.run(["/data/local/tmp/planestrike/benchmark_model", "--help"])
    assert result.exit_code == 0 and b"--input_layer_value_files" in result.stdout, result.stderr


@pytest.mark.parametrize("state_dir, problem", [
    ("a-file", "it is a file, not a folder"),
    ("/dev/null", "it is in /dev, a kernel file system"),
    ("/proc/planestrike-phone", "it is in /proc, a kernel file system"),
    ("a-file/below", "Not a directory"),
])
def test_emulate_with_an_unusable_state_dir_says_so_in_one_line(tmp_path, state_dir, problem):
    (tmp_path / "a-file").write_text("a file")
    result = subprocess.run([sys.executable, "-m", "planestrike_tui.cli", "device", "emulate", "--port", "0",
                             "--state-dir", state_dir], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"planestrike: error: cannot use {state_dir} as the virtual phone's folder: ")
    assert problem in result.stderr and result.stderr.rstrip().endswith("pass --state-dir with a folder the virtual "
                                                                       "phone can create or write in")


def test_an_adb_keys_that_is_no_file_is_named(tmp_path):
    (tmp_path / "phone" / "adb_keys").mkdir(parents=True)
    with pytest.raises(DeviceError, match="adb_keys is not a regular file: remove it"):
        VirtualPhone(VirtualPhoneConfig(tmp_path / "phone"))
