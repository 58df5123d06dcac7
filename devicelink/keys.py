"""The RSA key this computer signs ADB auth tokens with.

A phone that was ever used with Android's own `adb` already trusts ``~/.android/adbkey``, so that key comes first.
Otherwise a key pair is generated once in planestrike's config directory, both files 0600, and the phone asks
"Allow USB debugging?" the first time. Key material is never printed or logged; only paths are.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from devicelink.errors import DeviceAuthError
from engine.files import UnreadableFile, read_small_file, user_directory

MAX_KEY_FILE_BYTES = 64 << 10  # a 2048-bit RSA key in PEM is under 2 KB


def android_key_path() -> Path | None:
    """Where Android's own `adb` keeps its key (None without an absolute HOME, where it cannot be)."""
    home = os.environ.get("HOME", "")
    return Path(home) / ".android" / "adbkey" if os.path.isabs(home) else None


def planestrike_key_path() -> Path:
    return user_directory("config") / "adbkey"


def key_path() -> Path:
    """The key to use: Android's if it exists, else planestrike's own (generated on first use)."""
    android = android_key_path()
    if android is not None and android.is_file():
        return android
    own = planestrike_key_path()
    if not own.is_file():
        generate_key(own)
    return own


def generate_key(path: Path) -> None:
    """Write a new key pair to ``path`` and ``path.pub``, 0600, atomically (a half-written key is never left)."""
    from adb_shell.auth.keygen import keygen

    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=".adbkey-"))  # mkdtemp makes it 0700
    try:
        keygen(str(scratch / "adbkey"))
        for name in ("adbkey", "adbkey.pub"):
            (scratch / name).chmod(0o600)
        (scratch / "adbkey.pub").replace(path.with_name(path.name + ".pub"))
        (scratch / "adbkey").replace(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def load_signer(path: Path | None = None):
    """An adb-shell signer for the key at ``path`` (default: ``key_path()``)."""
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    path = path or key_path()
    public = path.with_name(path.name + ".pub")
    if not public.is_file():
        raise DeviceAuthError(f"the ADB key {path} has no public half {public}: delete {path} to make a new pair")
    try:
        # Read as adb-shell's FromRSAKeyPath does, but never blocking on a FIFO nor reading a huge file.
        private_key = read_small_file(path, MAX_KEY_FILE_BYTES, "ADB key").decode()
        public_key = read_small_file(public, MAX_KEY_FILE_BYTES, "ADB public key").decode()
        return PythonRSASigner(public_key, private_key)
    except (UnreadableFile, UnicodeDecodeError, ValueError) as error:
        raise DeviceAuthError(f"cannot read the ADB key {path} ({getattr(error, 'problem', type(error).__name__)}): "
                              f"delete it (and {public.name}) to make a new pair") from None
