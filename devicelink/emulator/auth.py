"""What adbd does with AUTH: check a token's RSA signature against the keys in ``adb_keys``.

A key line is ``BASE64 user@host``; the base64 decodes to Android's RSAPublicKey struct: u32 word count, u32 n0inv,
the modulus (little-endian), R^2 mod n (little-endian, unused here) and u32 exponent. The host signs the raw 20-byte
token as if it were a SHA-1 digest (PKCS#1 v1.5 with the SHA-1 DigestInfo prefix), so verifying is one modular
exponentiation and a byte comparison, done here with Python integers.

What a host offers is untrusted: a key is stored and shown only in a canonical form (the struct re-encoded, and a
label of at most ``LABEL_MAX`` printable characters), so it cannot add lines to ``adb_keys`` or escape codes to a
console.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hmac
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

MODULUS_BYTES = 256
_KEY_STRUCT = struct.Struct(f"<II{MODULUS_BYTES}s{MODULUS_BYTES}sI")
_SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")
TOKEN_BYTES = 20
LABEL_MAX = 64  # characters of a key's "user@host" label that are kept
KEYS_FILE_MAX = 1024 * 1024  # bytes of adb_keys that are read (about 1,400 keys)


@dataclass(frozen=True)
class PublicKey:
    modulus: int
    exponent: int
    line: str  # its adb_keys line, canonical: "BASE64 label", no newline
    label: str  # the user@host it came with, safe to print ("unnamed key" if it had none)

    def verifies(self, token: bytes, signature: bytes) -> bool:
        if len(signature) != MODULUS_BYTES or len(token) != TOKEN_BYTES:
            return False
        value = int.from_bytes(signature, "big")
        if value >= self.modulus:
            return False
        encoded = pow(value, self.exponent, self.modulus).to_bytes(MODULUS_BYTES, "big")
        digest_info = _SHA1_DIGEST_INFO + token
        expected = b"\x00\x01" + b"\xff" * (MODULUS_BYTES - 3 - len(digest_info)) + b"\x00" + digest_info
        return hmac.compare_digest(encoded, expected)


def printable(text: str, limit: int) -> str:
    """``text`` with every control or invisible character (newlines, ESC, bidi marks) as '?', at most ``limit`` long."""
    return "".join(char if char.isprintable() else "?" for char in text[:limit])


def parse_public_key(text: str) -> PublicKey | None:
    """The key in one ``adb_keys`` line (or an AUTH type 3 payload), or None if it is not one."""
    encoded, *rest = text.strip().rstrip("\0").split(maxsplit=1) or [""]
    try:
        blob = base64.b64decode(encoded, validate=True)
        words, _n0inv, modulus, _rr, exponent = _KEY_STRUCT.unpack(blob)
    except (binascii.Error, struct.error, ValueError):
        return None
    if words != MODULUS_BYTES // 4 or exponent < 3:
        return None
    label = printable(rest[0] if rest else "", LABEL_MAX) or "unnamed key"
    return PublicKey(int.from_bytes(modulus, "little"), exponent,
                     f"{base64.b64encode(blob).decode('ascii')} {label}", label)


def _open_regular(path: Path, flags: int) -> int:
    """A descriptor for ``path``, which must be a regular file. Never blocks: O_NONBLOCK, so a FIFO or device put in
    the file's place is refused instead of waiting for a peer (``OSError``)."""
    descriptor = os.open(path, flags | os.O_NONBLOCK, 0o600)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(errno.EINVAL, f"{path} is not a regular file")
    return descriptor


def _read_text(path: Path) -> str:
    try:
        with open(_open_regular(path, os.O_RDONLY), "rb") as handle:
            return handle.read(KEYS_FILE_MAX).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _keys_in(text: str) -> list[PublicKey]:
    keys = (parse_public_key(line) for line in text.split("\n"))
    return [key for key in keys if key is not None]


def load_keys(path: Path) -> list[PublicKey]:
    """The keys in adb_keys (none if it is missing). Blocking file work: the daemon calls it from a worker thread."""
    return _keys_in(_read_text(path))


def trust_key(path: Path, key: PublicKey) -> bool:
    """Add a key to adb_keys, as the phone does when the user ticks "Always allow from this computer".

    False if adb_keys is full (``KEYS_FILE_MAX``): the key would not be read back. Blocking file work, as above.
    """
    text = _read_text(path)
    if any((known.modulus, known.exponent) == (key.modulus, key.exponent) for known in _keys_in(text)):
        return True
    if len(text.encode("utf-8")) + len(key.line) + 2 > KEYS_FILE_MAX:
        return False
    separator = "\n" if text and not text.endswith("\n") else ""  # never continue someone's unfinished line
    with open(_open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a", encoding="utf-8") as handle:
        handle.write(f"{separator}{key.line}\n")
    return True
