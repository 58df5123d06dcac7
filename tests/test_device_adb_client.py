"""Fidelity: Android's own `adb` client (Debian's package) against the virtual phone.

Each test runs a private adb server (own HOME for its key, own port via `adb -P`) and kills it afterwards. In CI
a missing adb fails these tests; locally they are skipped with the reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest

from device_helpers import adb_client, free_port, phone_in_thread, trust


@pytest.fixture
def adb(tmp_path):
    with adb_client(tmp_path / "adb-home") as client:
        yield client


@pytest.fixture
def trusted_phone(tmp_path, adb):
    trust(tmp_path / "phone", adb.key())
    with phone_in_thread(tmp_path / "phone") as phone:
        result = adb("connect", phone.serial)
        assert f"connected to {phone.serial}" in result.stdout
        adb.wait_for_state(phone.serial, "device")
        yield phone


def test_adb_connect_with_a_trusted_key_lists_the_phone_with_its_product(adb, trusted_phone):
    listing = adb("devices", "-l").stdout
    assert f"{trusted_phone.serial}" in listing and "model:Planestrike_Virtual_Phone" in listing


def test_adb_with_an_unknown_key_stays_unauthorized(tmp_path, adb):
    adb.key()
    with phone_in_thread(tmp_path / "phone") as phone:
        adb("connect", phone.serial, check=False)
        adb.wait_for_state(phone.serial, "unauthorized")
        assert adb("-s", phone.serial, "shell", "true", check=False).returncode != 0


def test_adb_shell_returns_exit_codes_and_separate_stderr(adb, trusted_phone):
    result = adb("-s", trusted_phone.serial, "shell", "echo out; echo err >&2; exit 7", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")
    assert adb("-s", trusted_phone.serial, "shell", "true").returncode == 0


def test_adb_shell_without_the_shell_protocol_uses_the_legacy_service(adb, trusted_phone):
    # Legacy `shell:` merges stderr into stdout and carries no exit status: adb reports 0.
    result = adb("-s", trusted_phone.serial, "shell", "-x", "echo legacy; echo merged >&2; exit 3", check=False)
    assert (result.returncode, result.stdout) == (0, "legacy\nmerged\n")


def test_adb_push_and_pull_of_5_mb_are_byte_identical(tmp_path, adb, trusted_phone):
    original = tmp_path / "five.bin"
    original.write_bytes(os.urandom(5 * 1024 * 1024))
    adb("-s", trusted_phone.serial, "push", str(original), "/data/local/tmp/sub/five.bin", timeout=60)
    assert (trusted_phone.sandbox.root / "sub" / "five.bin").read_bytes() == original.read_bytes()
    back = tmp_path / "back.bin"
    adb("-s", trusted_phone.serial, "pull", "/data/local/tmp/sub/five.bin", str(back), timeout=60)
    assert back.read_bytes() == original.read_bytes()


def test_adb_exec_out_streams_binary_output_unchanged(adb, trusted_phone):
    payload = bytes(range(256)) * 64
    (trusted_phone.sandbox.root / "binary").write_bytes(payload)
    result = subprocess.run([adb.executable, "-P", str(adb.server_port), "-s", trusted_phone.serial, "exec-out",
                             "cat /data/local/tmp/binary"], env=adb.environment, capture_output=True, timeout=30)
    assert result.returncode == 0 and result.stdout == payload


def test_adb_forward_reaches_a_port_on_the_phone(adb, trusted_phone):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def serve():
            connection, _ = listener.accept()
            with connection:
                while data := connection.recv(65536):
                    connection.sendall(data[::-1])

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        local_port = free_port()
        adb("-s", trusted_phone.serial, "forward", f"tcp:{local_port}", f"tcp:{listener.getsockname()[1]}")
        with socket.create_connection(("127.0.0.1", local_port), timeout=10) as client:
            client.sendall(b"planestrike")
            assert client.recv(100) == b"ekirtsenalp"
        adb("-s", trusted_phone.serial, "forward", "--remove-all")
    thread.join(10)
