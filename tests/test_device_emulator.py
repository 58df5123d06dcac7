"""The virtual phone speaks ADB as adbd does, driven here by adb-shell through devicelink's session."""

from __future__ import annotations

import hashlib
import os
import socket
import threading

import pytest

from devicelink.emulator.auth import load_keys, parse_public_key
from devicelink.errors import DeviceAuthError, DeviceCommandFailed
from devicelink.session import DeviceSession, SessionConfig
from device_helpers import make_key, phone_in_thread


# --- AUTH ---------------------------------------------------------------------------------------------------------
def test_a_trusted_key_connects_by_signature_without_asking_the_user(phone, key):
    asked = []
    with DeviceSession.open(phone.serial, SessionConfig(key_path=key), on_auth_wait=lambda: asked.append(1)) as session:
        assert session.run(["true"]).exit_code == 0
    assert asked == []


def test_an_unknown_key_is_refused_with_advice_to_tap_allow(tmp_path, key):
    with phone_in_thread(tmp_path / "phone") as phone:
        asked = []
        with pytest.raises(DeviceAuthError, match="tap Allow"):
            DeviceSession.open(phone.serial, SessionConfig(key_path=key, auth_timeout_s=0.5),
                               on_auth_wait=lambda: asked.append(1))
        assert asked == [1]
        assert load_keys(phone.config.adb_keys) == []


def test_tapping_allow_while_the_host_waits_connects_and_remembers_the_key(tmp_path, key):
    prompt_shown = threading.Event()
    with phone_in_thread(tmp_path / "phone", on_key_waiting=lambda who: prompt_shown.set()) as phone:
        host_waiting = threading.Event()
        allowed = []

        def tap_allow_when_prompted():
            if prompt_shown.wait(10):
                allowed.append(phone.allow_waiting_keys())

        tapper = threading.Thread(target=tap_allow_when_prompted)
        tapper.start()
        with DeviceSession.open(phone.serial, SessionConfig(key_path=key, auth_timeout_s=10),
                                on_auth_wait=host_waiting.set) as session:
            assert session.run(["echo", "in"]).stdout == b"in\n"
        tapper.join(10)
        assert host_waiting.is_set() and allowed == [1]
        assert len(load_keys(phone.config.adb_keys)) == 1


def test_a_signature_over_the_wrong_token_or_by_another_key_does_not_verify(tmp_path, key):
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    public = parse_public_key(key.with_name("adbkey.pub").read_text())
    signer = PythonRSASigner.FromRSAKeyPath(str(key))
    token = os.urandom(20)
    signature = bytes(signer.Sign(token))
    assert public.verifies(token, signature)
    assert not public.verifies(bytes([token[0] ^ 1]) + token[1:], signature)
    other = parse_public_key(make_key(tmp_path).with_name("adbkey.pub").read_text())
    assert not other.verifies(token, signature)
    assert parse_public_key("not base64 at all") is None


# --- shell and exec -----------------------------------------------------------------------------------------------
def test_shell_v2_keeps_stdout_and_stderr_apart_and_returns_the_exit_status(session):
    result = session.run(["sh", "-c", "echo out; echo err >&2; exit 42"])
    assert (result.exit_code, result.stdout, result.stderr) == (42, b"out\n", b"err\n")


def test_shell_v2_passes_stdin_and_survives_the_close_stdin_race(session):
    # The exit packet must never be lost when the command ends while the host still sends close-stdin.
    for round_number in range(25):
        data = f"round {round_number}\n".encode() * 50
        result = session.run(["cat"], stdin=data)
        assert (result.exit_code, result.stdout) == (0, data)
        assert session.run(["true"]).exit_code == 0


def test_flow_control_carries_many_writes_of_output_intact(session, phone):
    payload = os.urandom(900_000)  # about 14 WRTEs of 64 KiB, under what the session reads from one command
    (phone.sandbox.root / "blob").write_bytes(payload)
    result = session.run(["cat", "/data/local/tmp/blob"])
    assert result.exit_code == 0 and result.stdout == payload


def test_legacy_shell_and_exec_give_raw_merged_output(session):
    with session.operation("legacy shell") as device:
        assert device.shell("echo legacy; echo also >&2") == "legacy\nalso\n"
        assert device.exec_out("printf 'a\\000b'", decode=False) == b"a\x00b"


def test_an_unknown_service_is_refused(session):
    with pytest.raises(DeviceCommandFailed, match="refused to open"):
        session.open_stream("reboot:bootloader")


# --- sync ---------------------------------------------------------------------------------------------------------
def test_sync_push_pull_stat_and_list(session, phone):
    payload = os.urandom(300_000)
    session.push(payload, "/data/local/tmp/new/dir/file.bin", mode=0o600)
    assert (phone.sandbox.root / "new/dir/file.bin").read_bytes() == payload
    assert session.pull("/data/local/tmp/new/dir/file.bin") == payload
    with session.operation("stat and list") as device:
        mode, size, _ = device.stat("/data/local/tmp/new/dir/file.bin")
        assert device.stat("/data/local/tmp/missing") == (0, 0, 0)
        names = {bytes(entry.filename) for entry in device.list("/data/local/tmp/new/dir")}
    assert (mode & 0o777, size) == (0o600, len(payload))
    assert names == {b".", b"..", b"file.bin"}


def test_sync_refuses_paths_outside_data_local_tmp(session, phone):
    with pytest.raises(DeviceCommandFailed, match="Permission denied"):
        session.push(b"x", "/data/local/tmp/../../../etc/planestrike-test")
    with pytest.raises(DeviceCommandFailed, match="Permission denied"):
        session.pull("/etc/passwd")


# --- sockets ------------------------------------------------------------------------------------------------------
def echo_server(listener: socket.socket) -> threading.Thread:
    def serve():
        connection, _ = listener.accept()
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data.upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def exchange(session, service: str, message: bytes) -> bytes:
    stream = session.open_stream(service, timeout_s=5)
    with session.operation(f"talking to {service}", timeout_s=5):
        try:
            stream.write(message)
            received = b""
            while len(received) < len(message):
                received += stream.read()
            return received
        finally:
            stream.close()


def test_a_tcp_stream_reaches_a_port_on_the_phone(session):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = echo_server(listener)
        assert exchange(session, f"tcp:{listener.getsockname()[1]}", b"hello phone" * 1000) == b"HELLO PHONE" * 1000
    thread.join(5)


def test_a_localabstract_stream_reaches_an_abstract_socket(session):
    name = f"planestrike-test-{os.getpid()}-{id(session)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind("\0" + name)
        listener.listen()
        thread = echo_server(listener)
        assert exchange(session, f"localabstract:{name}", b"abstract") == b"ABSTRACT"
    thread.join(5)


# --- concurrency --------------------------------------------------------------------------------------------------
def test_two_clients_at_once_each_get_their_own_answers(phone, key):
    errors = []

    def client(label: str):
        try:
            with DeviceSession.open(phone.serial, SessionConfig(key_path=key, command_timeout_s=10)) as session:
                for round_number in range(15):
                    data = f"{label}-{round_number}".encode() * 2000
                    path = f"/data/local/tmp/{label}.bin"
                    session.push(data, path)
                    assert session.sha256(path) == hashlib.sha256(data).hexdigest()
                    assert session.run(["echo", label]).stdout == f"{label}\n".encode()
        except BaseException as error:  # reported to the main thread
            errors.append(error)

    threads = [threading.Thread(target=client, args=(label,)) for label in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_the_virtual_phone_needs_only_the_standard_library():
    import json
    import subprocess
    import sys

    code = ("import sys, json; before = set(sys.modules); import devicelink.emulator.daemon; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    added = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    third_party = {name.split(".")[0] for name in added} - set(sys.stdlib_module_names) - {"devicelink"}
    assert not third_party


def test_a_host_that_drops_mid_push_leaves_no_partial_file_like_adbd(phone, key):
    from devicelink.errors import DeviceLost

    session = DeviceSession.open(phone.serial, SessionConfig(key_path=key, command_timeout_s=10))
    sent = []

    def drop_halfway(chunk: int, total: int) -> None:
        sent.append(chunk)
        if sum(sent) >= total // 2:
            session._device._io_manager._transport._connection.shutdown(socket.SHUT_RDWR)

    try:
        with pytest.raises(DeviceLost):
            session.push(os.urandom(4 * 1024 * 1024), "/data/local/tmp/dropped.bin", progress=drop_halfway)
    finally:
        session.close()
    target = phone.sandbox.root / "dropped.bin"
    for _ in range(100):  # the phone notices the drop asynchronously
        if not target.exists():
            break
        threading.Event().wait(0.05)
    assert not target.exists()
