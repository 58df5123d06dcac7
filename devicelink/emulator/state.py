"""The virtual phone's state folder (its ``adb_keys`` and the folder standing in for /data/local/tmp), checked
before anything is served: a folder that cannot hold them (a file, /dev/null, /proc, a read-only disk) is one clear
line, a ``DeviceError`` (see ``unusable``), instead of a traceback.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

# Kernel file systems: they look like folders but hold no files of ours.
SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))
_FIX = "pass --state-dir with a folder the virtual phone can create or write in"


def unusable(message: str) -> Exception:
    """The error that keeps the virtual phone from starting; the CLI prints it as one line.

    Imported only when needed: devicelink.errors brings in engine and numpy, and the virtual phone runs on the
    standard library alone.
    """
    from devicelink.errors import DeviceError

    return DeviceError(message)


def _refuse(state_dir: Path, why: str) -> Exception:
    return unusable(f"cannot use {state_dir} as the virtual phone's folder: {why}: {_FIX}")


def create_state_dir(state_dir: Path, adb_keys: Path) -> None:
    """Create the folder if it is missing; refuse one that is not a folder of ours, or an adb_keys that is no file.

    Call it inside ``setting_up``, which reports the other failures (no permission, read-only disk).
    """
    resolved = Path(os.path.realpath(state_dir))  # not Path.resolve(): it raises on a symlink loop
    if resolved == Path(resolved.anchor):
        raise _refuse(state_dir, "it is the root of the file system")
    for system in SYSTEM_FOLDERS:
        if resolved.is_relative_to(system):
            raise _refuse(state_dir, f"it is in {system}, a kernel file system")
    try:
        resolved.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise _refuse(state_dir, "it is a file, not a folder") from None
    if adb_keys.exists() and not stat.S_ISREG(adb_keys.stat().st_mode):
        raise unusable(f"the virtual phone's {adb_keys} is not a regular file: remove it, or {_FIX}")


@contextlib.contextmanager
def setting_up(state_dir: Path) -> Iterator[None]:
    """Turn a failure to lay out the folder (read-only disk, no permission, no space) into ``unusable``."""
    try:
        yield
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        raise _refuse(state_dir, f"{where}{error.strerror or error}") from None
