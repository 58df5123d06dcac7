"""Fixtures shared by the test files that talk to the virtual phone (test_device_*, test_tui_devices)."""

import pytest

from device_helpers import make_key, phone_in_thread, trust
from devicelink.session import DeviceSession, SessionConfig


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
