"""Fixtures shared by the test files that talk to the virtual phone (test_device_*, test_tui_devices), and one for
the whole suite: game records go to the test's own folder, never the real home."""

import pytest

from device_helpers import make_key, phone_in_thread, trust
from devicelink.session import DeviceSession, SessionConfig


@pytest.fixture(autouse=True)
def private_data_home(tmp_path, monkeypatch):
    """Every test (and every process it starts) keeps game records and screenshots under its tmp_path."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    """A host key pair, made once per test module (RSA key generation is slow)."""
    return make_key(tmp_path_factory.mktemp("host-key"))


@pytest.fixture
def phone(tmp_path, key):
    """A virtual phone on a free loopback port that already trusts ``key``."""
    trust(tmp_path / "phone", key)
    with phone_in_thread(tmp_path / "phone") as phone:
        yield phone


@pytest.fixture
def session(phone, key):
    with DeviceSession.open(phone.serial, SessionConfig(key_path=key, command_timeout_s=10)) as session:
        yield session
