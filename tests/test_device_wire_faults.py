"""A device that misbehaves on the wire: each fault ends within its (short) deadline as one line, never a hang.

The fake device (device_helpers.FakeDevice) is a raw TCP server that speaks just enough ADB framing to trickle a
handshake a byte at a time, corrupt a checksum or a magic, send AUTH of an unknown type, flood empty WRTEs, cut a
shell packet short, or never send an OKAY. With adb-shell's own timeouts, which restart on every read, the
trickling cases would hang for as long as the device cares to trickle.
"""

from __future__ import annotations

import os
import struct
import threading
import time

import pytest

from devicelink.errors import DeviceAuthError, DeviceProtocolError, DeviceTimeout, DeviceUnreachable
from devicelink.session import DeviceSession, SessionConfig
from devicelink.transport import MAX_OPERATION_BYTES, MAX_PARKED_PACKETS
import device_helpers
from device_helpers import DEVICE_BANNER, adb_packet, fake_device

DEADLINE_S = 1.0
SLACK_S = 1.0  # a failure may come this much after its deadline (process scheduling on a busy machine)
CNXN_REPLY = adb_packet(b"CNXN", 0x01000000, 256 * 1024, DEVICE_BANNER)


def config(key) -> SessionConfig:
    return SessionConfig(key_path=key, connect_timeout_s=DEADLINE_S, auth_timeout_s=DEADLINE_S,
                         command_timeout_s=DEADLINE_S)


def fails_in_time(action, error_type, match: str, deadline_s: float = DEADLINE_S) -> Exception:
    return device_helpers.fails_in_time(action, error_type, match, deadline_s, SLACK_S)


# --- the handshake ------------------------------------------------------------------------------------------------
def trickles_the_handshake(link):
    link.read_packet()
    link.trickle(CNXN_REPLY, every_s=0.05)  # 5 s in all, a byte every 50 ms


def floods_empty_writes_instead_of_answering(link):
    link.read_packet()
    for _ in range(250):
        link.send(adb_packet(b"WRTE"))
        time.sleep(0.02)


def sends_a_wrong_checksum(link):
    link.read_packet()
    link.send(adb_packet(b"CNXN", 0x01000000, 4096, DEVICE_BANNER, checksum=12345))


def sends_a_wrong_magic(link):
    link.read_packet()
    link.send(adb_packet(b"CNXN", 0x01000000, 4096, DEVICE_BANNER, magic=0))


def sends_an_unknown_command(link):
    link.read_packet()
    link.send(adb_packet(b"XYZW", 0, 0, b""))


def sends_auth_of_an_unknown_type(link):
    link.read_packet()
    link.send(adb_packet(b"AUTH", 7, 0, os.urandom(20)))


def claims_a_2_gb_payload(link):
    link.read_packet()
    link.send(adb_packet(b"CNXN", 0x01000000, 4096, length=2**31 - 1))


# A deadline of 0: a violation is refused as soon as its bytes arrive.
@pytest.mark.parametrize("script, match, deadline_s", [
    (trickles_the_handshake, "did not complete the ADB handshake within 1 s", DEADLINE_S),
    (floods_empty_writes_instead_of_answering, "did not complete the ADB handshake within 1 s", DEADLINE_S),
    (sends_a_wrong_checksum, "checksum of a CNXN packet does not match", 0),
    (sends_a_wrong_magic, "a packet header that is not ADB", 0),
    (sends_an_unknown_command, "a packet header that is not ADB", 0),
    (sends_auth_of_an_unknown_type, "an AUTH packet of type 7", 0),
    (claims_a_2_gb_payload, "claims 2,147,483,647 bytes of payload", 0),
])
def test_a_bad_handshake_is_one_line_within_the_connect_timeout(key, script, match, deadline_s):
    with fake_device(script) as device:
        error = fails_in_time(lambda: DeviceSession.open(device.serial, config(key)), DeviceUnreachable, match,
                              deadline_s)
        assert str(error).startswith(device.serial)
        assert device.host_closed.wait(2), "the client kept its socket open"


def asks_for_allow_then_trickles(link):
    link.read_packet()
    token = os.urandom(20)
    link.send(adb_packet(b"AUTH", 1, 0, token))
    assert link.read_packet()[0] == b"AUTH"  # a signature, which this device does not accept
    link.send(adb_packet(b"AUTH", 1, 0, token))
    assert link.read_packet()[:2] == (b"AUTH", 3)  # the public key: a phone shows "Allow USB debugging?" now
    link.trickle(CNXN_REPLY, every_s=0.05)


def test_trickling_while_the_user_is_asked_ends_at_the_auth_timeout(key):
    waiting = threading.Event()
    with fake_device(asks_for_allow_then_trickles) as device:
        fails_in_time(lambda: DeviceSession.open(device.serial, config(key), on_auth_wait=waiting.set),
                      DeviceAuthError, "did not accept this computer within 1 s", deadline_s=2 * DEADLINE_S)
        assert waiting.is_set()
        assert device.host_closed.wait(2)


# --- commands and transfers -----------------------------------------------------------------------------------------
def accept_command(link) -> int:
    """Handshake, accept the host's shell stream and acknowledge its close-stdin: the command is 'running'."""
    link.handshake()
    local_id = link.accept_open()
    assert link.read_packet()[0] == b"WRTE"
    link.send(adb_packet(b"OKAY", 77, local_id))
    return local_id


def never_answers_the_open(link):
    link.handshake()
    link.read_packet()


def floods_empty_writes(link):
    local_id = accept_command(link)
    for _ in range(250):
        link.send(adb_packet(b"WRTE", 77, local_id))
        time.sleep(0.02)


def cuts_a_shell_packet_short(link):
    local_id = accept_command(link)
    link.send(adb_packet(b"WRTE", 77, local_id, b"\x01\xe8\x03\x00\x00abc"))  # stdout: 1,000 bytes claimed, 3 sent
    for _ in range(100):
        link.send(adb_packet(b"WRTE", 77, local_id, b"x"))  # and then a byte at a time
        time.sleep(0.05)


def claims_a_4_gb_shell_packet(link):
    local_id = accept_command(link)
    link.send(adb_packet(b"WRTE", 77, local_id, b"\x01\xff\xff\xff\xff"))


def corrupts_a_reply(link):
    local_id = accept_command(link)
    link.send(adb_packet(b"WRTE", 77, local_id, b"\x03\x01\x00\x00\x00\x00", checksum=1))


def writes_to_streams_nobody_opened(link):
    local_id = accept_command(link)
    for _ in range(MAX_PARKED_PACKETS + 1):
        link.send(adb_packet(b"WRTE", 77, local_id + 1000, b"x"))


@pytest.mark.parametrize("script, error_type, match, deadline_s", [
    (never_answers_the_open, DeviceTimeout, "running true took over 1 s", DEADLINE_S),
    (floods_empty_writes, DeviceTimeout, "running true took over 1 s", DEADLINE_S),
    (cuts_a_shell_packet_short, DeviceTimeout, "running true took over 1 s", DEADLINE_S),
    (claims_a_4_gb_shell_packet, DeviceProtocolError, "a shell packet claims 4,294,967,295 bytes", 0),
    (corrupts_a_reply, DeviceProtocolError, "checksum of a WRTE packet", 0),
    (writes_to_streams_nobody_opened, DeviceProtocolError, "for streams nobody is reading", 0),
])
def test_a_command_on_a_misbehaving_device_is_one_line_within_its_deadline(key, script, error_type, match,
                                                                            deadline_s):
    with fake_device(script) as device:
        session = DeviceSession.open(device.serial, config(key))
        fails_in_time(lambda: session.run(["true"]), error_type, match, deadline_s)
        assert not session.connected  # nothing after a timeout or a violation can be trusted: it was dropped
        assert device.host_closed.wait(2)


def never_acknowledges_a_push(link):
    link.handshake()
    link.accept_open()
    link.read_packet()  # the push's first data, never acknowledged


def test_a_push_that_is_never_acknowledged_ends_at_its_deadline(key):
    with fake_device(never_acknowledges_a_push) as device:
        session = DeviceSession.open(device.serial, config(key))
        fails_in_time(lambda: session.push(b"x" * 1000, "/data/local/tmp/file"), DeviceTimeout,
                      "pushing to /data/local/tmp/file took over 1.01 s")


def lists_without_end(link):
    link.handshake()
    local_id = link.accept_open()
    assert link.read_packet()[0] == b"WRTE"  # LIST
    link.send(adb_packet(b"OKAY", 77, local_id))
    name = b"n" * 60_000  # adb-shell reads a name of any length the device claims
    entry = b"DENT" + struct.pack("<4I", 0o100644, 1, 0, len(name)) + name
    for _ in range(MAX_OPERATION_BYTES // len(entry) + 2):
        link.send(adb_packet(b"WRTE", 77, local_id, entry))


def test_a_listing_without_end_stops_at_the_operation_read_limit(key):
    with fake_device(lists_without_end) as device:
        session = DeviceSession.open(device.serial, SessionConfig(key_path=key, command_timeout_s=10))
        fails_in_time(session.models, DeviceProtocolError, f"more than the {MAX_OPERATION_BYTES:,} bytes one "
                      f"operation may read", deadline_s=0)
