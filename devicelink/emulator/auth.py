"""What adbd does with AUTH: check a token's RSA signature against the keys in ``adb_keys``.

A key line is ``BASE64 user@host``; the base64 decodes to Android's RSAPublicKey struct: u32 word count, u32 n0inv,
the modulus (little-endian), R^2 mod n (little-endian, unused here) and u32 exponent. The host signs the raw 20-byte
token as if it were a SHA-1 digest (PKCS#1 v1.5 with the SHA-1 DigestInfo prefix), so verifying is one modular
exponentiation and a byte comparison, done here with Python integers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from dataclasses import dataclass
from pathlib import Path

MODULUS_BYTES = 256
_KEY_STRUCT = struct.Struct(f"<II{MODULUS_BYTES}s{MODULUS_BYTES}sI")
_SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")
TOKEN_BYTES = 20


@dataclass(frozen=True)
class PublicKey:
    modulus: int
    exponent: int
    line: str  # the adb_keys line it came from, without the newline

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


def parse_public_key(text: str) -> PublicKey | None:
    """The key in one ``adb_keys`` line (or an AUTH type 3 payload), or None if it is not one."""
    line = text.strip().rstrip("\0")
    try:
        blob = base64.b64decode(line.split()[0], validate=True) if line else b""
        words, _n0inv, modulus, _rr, exponent = _KEY_STRUCT.unpack(blob)
    except (binascii.Error, struct.error, ValueError):
        return None
    if words != MODULUS_BYTES // 4 or exponent < 3:
        return None
    return PublicKey(int.from_bytes(modulus, "little"), exponent, line)


def load_keys(path: Path) -> list[PublicKey]:
    if not path.exists():
        return []
    keys = (parse_public_key(line) for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return [key for key in keys if key is not None]


def trust_key(path: Path, key: PublicKey) -> None:
    """Append a key to adb_keys, as the phone does when the user ticks "Always allow from this computer"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(key.line + "\n")
