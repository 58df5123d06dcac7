"""ADB messages on the wire: a 24-byte little-endian header, then the payload.

Header: ``command, arg0, arg1, data_length, data_crc32, magic`` with ``magic = command ^ 0xffffffff``. The
"crc32" is really the byte sum of the payload. Like adbd, the virtual phone fills it in for hosts that speak a
version below ``VERSION_SKIP_CHECKSUM`` (adb-shell does, and checks it) and sends 0 to newer ones. It does not
re-check the sum on what it receives: TCP already guarantees the bytes, and summing every byte in Python would
cut push throughput by half.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

HEADER = struct.Struct("<6I")

VERSION_MIN = 0x01000000
VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 1024 * 1024
# What an unauthorised host may send in one message (adb's MAX_PAYLOAD_V1): its CNXN banner and its public key
# (about 720 bytes) fit; a megabyte from a stranger does not.
HANDSHAKE_MAX_PAYLOAD = 4096

AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3


def command_id(name: bytes) -> int:
    return int.from_bytes(name, "little")


CNXN, AUTH, OPEN, OKAY, WRTE, CLSE, STLS = (command_id(c) for c in (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"WRTE", b"CLSE", b"STLS"))
KNOWN_COMMANDS = {CNXN, AUTH, OPEN, OKAY, WRTE, CLSE, STLS}


class ProtocolError(Exception):
    """The peer sent something that is not an ADB message: the connection is dropped."""


@dataclass(frozen=True)
class Message:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return self.command.to_bytes(4, "little").decode("latin-1")


def payload_checksum(data: bytes) -> int:
    return sum(data) & 0xFFFFFFFF


def pack(message: Message, with_checksum: bool) -> bytes:
    checksum = payload_checksum(message.data) if with_checksum else 0
    header = HEADER.pack(message.command, message.arg0, message.arg1, len(message.data), checksum,
                         message.command ^ 0xFFFFFFFF)
    return header + message.data


async def read_message(reader: asyncio.StreamReader, max_payload: int, timeout_s: float) -> Message:
    """Read one message; raises ``asyncio.IncompleteReadError`` at end of stream, ``ProtocolError`` on garbage.

    The first byte may be as long in coming as it likes (an idle connection); the rest of the message must follow
    within ``timeout_s`` (``TimeoutError``), however slowly it trickles in.
    """
    first = await reader.readexactly(1)
    async with asyncio.timeout(timeout_s):
        header = first + await reader.readexactly(HEADER.size - 1)
        command, arg0, arg1, length, _checksum, magic = HEADER.unpack(header)
        if command not in KNOWN_COMMANDS or magic != command ^ 0xFFFFFFFF:
            raise ProtocolError(f"bad message header (command {command:#x}, magic {magic:#x})")
        if length > max_payload:
            raise ProtocolError(f"payload of {length} bytes is over the maximum of {max_payload}")
        data = await reader.readexactly(length) if length else b""
    return Message(command, arg0, arg1, data)
