"""The device session: quoting, exit codes, the model cache, interrupted pushes, keys and failure advice."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import threading
import time

import pytest

from devicelink import keys, layout
from devicelink.errors import (DeviceCommandFailed, DeviceError, DeviceLost, DeviceUnreachable, DeviceUnsupported)
from devicelink.session import STALE_PARTIAL_MINUTES, Address, DeviceSession, SessionConfig
from devicelink.setup import install_benchmark_model
from device_helpers import REFERENCE_MODEL, emulator_process, make_key, phone_in_thread, power_cut_halfway

HOSTILE_NAMES = [
    "with space.tflite",
    "quote'single",
    'quote"double',
    "$(touch pwned)",
    "`touch pwned`",
    "semi;colon&amp|pipe",
    "-n",
    "new\nline",
    "star*?[x]",
    "ünïcödé",
]


def test_hostile_file_names_reach_the_phone_exactly_as_written(session, phone):
    for name in HOSTILE_NAMES:
        path = f"{layout.DEVICE_TMP}/hostile/{name}"
        session.push(name.encode(), path)
        assert session.check(["cat", path]) == name.encode()
        assert session.sha256(path) == hashlib.sha256(name.encode()).hexdigest()
        session.check(["mv", path, path + ".moved"])
        session.check(["rm", path + ".moved"])
    assert sorted(os.listdir(phone.sandbox.root / "hostile")) == []
    assert not (phone.sandbox.root / "pwned").exists()


def test_commands_report_their_exit_status(session):
    assert session.run(["sh", "-c", "exit 3"]).exit_code == 3
    with pytest.raises(DeviceCommandFailed, match="exit status 1: no such model") as failure:
        session.check(["sh", "-c", "echo working; echo no such model >&2; exit 1"])
    assert failure.value.device_exit_code == 1


def test_a_model_is_pushed_once_then_found_in_the_cache_by_its_hash(session, phone):
    sent = []
    first = session.push_model(REFERENCE_MODEL, progress=lambda chunk, total: sent.append(chunk))
    digest = hashlib.sha256(REFERENCE_MODEL.read_bytes()).hexdigest()
    assert first.sha256 == digest and first.device_path == f"{layout.MODELS_DIR}/{digest}.tflite"
    assert sum(sent) == REFERENCE_MODEL.stat().st_size
    sent.clear()
    assert session.push_model(REFERENCE_MODEL, progress=lambda chunk, total: sent.append(chunk)) == first
    assert sent == []
    assert session.models() == [first]
    assert session.remove_model(digest[:8]) == first
    assert session.models() == []
    with pytest.raises(DeviceError, match="no pushed model starts with"):
        session.remove_model("ffff")


def test_a_corrupted_copy_is_never_renamed_into_the_cache(session, phone, monkeypatch):
    original_push = DeviceSession.push

    def corrupting_push(self, source, device_path, mode=0o644, progress=None):
        data = REFERENCE_MODEL.read_bytes()
        original_push(self, data[:-1] + bytes([data[-1] ^ 0xFF]), device_path, mode, progress)

    monkeypatch.setattr(DeviceSession, "push", corrupting_push)
    with pytest.raises(DeviceError, match="does not match"):
        session.push_model(REFERENCE_MODEL)
    assert session.models() == []
    assert os.listdir(phone.sandbox.host_path(layout.MODELS_DIR)) == []


def test_a_push_interrupted_halfway_leaves_no_cached_model_and_the_next_push_works(tmp_path, key):
    state = tmp_path / "phone"
    big_model = tmp_path / "big.tflite"  # not a valid model: only the transfer matters here
    big_model.write_bytes(os.urandom(8 * 1024 * 1024))
    with emulator_process(state) as emulator:
        port = emulator.port
        with DeviceSession.open(emulator.serial, SessionConfig(key_path=key, command_timeout_s=10)) as session:
            with pytest.raises(DeviceLost):
                session.push_model(big_model, progress=power_cut_halfway(emulator))
    models_dir = state / "data-local-tmp" / "planestrike" / "models"
    leftovers = os.listdir(models_dir)
    assert all(name.endswith(".partial") for name in leftovers)  # a phone losing power keeps the partial file
    with emulator_process(state, port=port) as emulator:
        with DeviceSession.open(emulator.serial, SessionConfig(key_path=key, command_timeout_s=10)) as session:
            assert session.models() == []
            pushed = session.push_model(big_model)
            assert session.models() == [pushed]
            assert session.sha256(pushed.device_path) == hashlib.sha256(big_model.read_bytes()).hexdigest()


def test_a_push_removes_partial_copies_that_earlier_pushes_left_behind_but_not_one_in_flight(session, phone):
    models = phone.sandbox.host_path(layout.MODELS_DIR)
    models.mkdir(parents=True, exist_ok=True)
    stale, in_flight = models / ".0123456789abcdef.dead.partial", models / ".fedcba9876543210.live.partial"
    for leftover in (stale, in_flight):
        leftover.write_bytes(b"half a model")
    old = time.time() - (STALE_PARTIAL_MINUTES + 1) * 60
    os.utime(stale, (old, old))
    session.push_model(REFERENCE_MODEL)
    assert not stale.exists() and in_flight.exists()


def test_setup_accepts_the_classic_tool_and_refuses_one_without_file_flags(session, phone, tmp_path):
    assert "classic TFLite tool" in install_benchmark_model(session, None)
    newer_tool = tmp_path / "benchmark_model"
    newer_tool.write_text("#!/bin/sh\necho 'usage: benchmark_model --graph=PATH --num_runs=N --use_gpu=BOOL'\n")
    with pytest.raises(DeviceUnsupported, match="newer LiteRT benchmark tool"):
        install_benchmark_model(session, str(newer_tool))
    # The stand-in is still in place: a rejected binary never replaces a working one.
    assert "classic TFLite tool" in install_benchmark_model(session, None)
    assert [name for name in os.listdir(phone.sandbox.host_path(layout.DEVICE_DIR)) if name.startswith(".")] == []


def test_setup_installs_a_good_binary_executable(session, phone, tmp_path):
    standin = phone.sandbox.host_path(layout.BENCHMARK_MODEL)
    copy = tmp_path / "benchmark_model"
    copy.write_bytes(standin.read_bytes())
    standin.unlink()
    with pytest.raises(DeviceError, match="no benchmark_model"):
        install_benchmark_model(session, None)
    assert "installed benchmark_model" in install_benchmark_model(session, str(copy))
    assert os.stat(standin).st_mode & stat.S_IXUSR


# --- keys ---------------------------------------------------------------------------------------------------------
def test_the_android_key_is_used_when_it_exists_else_one_is_generated_with_0600(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    generated = keys.key_path()
    assert generated == tmp_path / "config" / "planestrike" / "adbkey"
    for path in (generated, generated.with_name("adbkey.pub")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.key_path() == generated  # generated once, then reused
    android = tmp_path / "home" / ".android" / "adbkey"
    android.parent.mkdir(parents=True)
    keys.generate_key(android)
    assert keys.key_path() == android


def test_key_material_never_appears_in_messages(tmp_path, capsys):
    key = make_key(tmp_path)
    key.with_name("adbkey.pub").unlink()
    with pytest.raises(DeviceError) as failure:
        keys.load_signer(key)
    secret = key.read_text()
    assert "PRIVATE" not in str(failure.value) and secret[40:80] not in str(failure.value)


# --- advice for known failures ------------------------------------------------------------------------------------
def test_a_closed_port_says_to_check_tcpip_mode(key):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeviceUnreachable, match="adb tcpip 5555"):
        DeviceSession.open(f"127.0.0.1:{port}", SessionConfig(key_path=key, connect_timeout_s=2))


def test_a_port_that_does_not_speak_adb_is_named_as_such(key):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with pytest.raises(DeviceUnreachable, match="did not complete the ADB handshake"):
            DeviceSession.open(f"127.0.0.1:{listener.getsockname()[1]}",
                               SessionConfig(key_path=key, connect_timeout_s=0.5))


def test_close_from_another_thread_ends_a_connect_waiting_for_allow(tmp_path, key):
    """An app closing its devices screen (or quitting) must not wait out the auth timeout."""
    with phone_in_thread(tmp_path / "phone") as phone:  # does not know the key: it waits for someone to tap Allow
        session = DeviceSession(Address.parse(phone.serial), SessionConfig(key_path=key, auth_timeout_s=30))
        waiting, failures = threading.Event(), []

        def connect() -> None:
            try:
                session.connect(on_auth_wait=waiting.set)
            except DeviceError as error:
                failures.append(error)

        thread = threading.Thread(target=connect)
        thread.start()
        assert waiting.wait(10), "the phone never asked for Allow"
        started = time.monotonic()
        session.close()
        thread.join(10)
        assert not thread.is_alive() and time.monotonic() - started < 5
        assert len(failures) == 1 and isinstance(failures[0], DeviceUnreachable)
        assert not session.connected


def test_a_phone_asking_for_tls_gets_the_pairing_advice(tmp_path, key):
    with phone_in_thread(tmp_path / "phone", require_tls=True) as phone:
        with pytest.raises(DeviceUnsupported, match="wireless debugging"):
            DeviceSession.open(phone.serial, SessionConfig(key_path=key, connect_timeout_s=2))


@pytest.mark.parametrize("text, expected", [
    ("192.168.1.20:5555", Address("192.168.1.20:5555", "192.168.1.20", 5555)),
    ("192.168.1.20", Address("192.168.1.20:5555", "192.168.1.20", 5555)),
    ("R58M12ABCDE", Address("R58M12ABCDE")),
])
def test_addresses(text, expected):
    assert Address.parse(text) == expected


@pytest.mark.parametrize("text", ["host:port", "192.168.1.20:99999", "a b", ":5555"])
def test_bad_addresses_are_explained(text):
    with pytest.raises(DeviceError, match="HOST:PORT"):
        Address.parse(text)


@pytest.mark.parametrize("error, advice", [
    (RuntimeError("LIBUSB_ERROR_BUSY [-6]"), "adb kill-server"),
    (RuntimeError("LIBUSB_ERROR_ACCESS [-3]"), "udev rule"),
])
def test_usb_failures_map_to_advice(error, advice):
    from devicelink.session import _usb_error_advice

    assert advice in _usb_error_advice("R58M12ABCDE", error)


def test_a_phone_without_sha256sum_still_gets_verified_pushes(session, phone):
    (phone.sandbox.system_bin / "sha256sum").write_text("#!/bin/sh\necho 'sha256sum: inaccessible or not found' >&2\n"
                                                        "exit 127\n")
    (phone.sandbox.system_bin / "sha256sum").chmod(0o755)
    pushed = session.push_model(REFERENCE_MODEL)
    assert pushed.sha256 == hashlib.sha256(REFERENCE_MODEL.read_bytes()).hexdigest()
    assert session.models() == [pushed]
    assert session.sha256(f"{layout.DEVICE_TMP}/missing") is None


def test_a_list_of_phones_that_is_not_ours_is_ignored_without_hanging(tmp_path, monkeypatch):
    from devicelink import known_devices

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    store = tmp_path / "planestrike" / "devices.json"
    store.parent.mkdir()
    store.write_text('{"known": 5, "default": ["x"]}')
    assert known_devices.load() == {"default": None, "known": []}
    store.unlink()
    os.mkfifo(store)  # reading a FIFO would wait for a writer forever
    assert known_devices.load() == {"default": None, "known": []}
