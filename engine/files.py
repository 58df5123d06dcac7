"""Files: writing them so that a crash or a kill never leaves a half-written one, and reading small ones so that
no path (a FIFO, a device, a huge file) can hang or exhaust the process (standard library only)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from engine.errors import PlanestrikeError


def _temporary_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def check_writable(target: str | os.PathLike) -> None:
    """Raise ``OSError`` now if ``write_atomically(target, ...)`` could not write its temporary file (a folder
    that cannot be written, a virtual file system such as /proc, a name too long once made temporary), so that a
    command can refuse its output before its work rather than after."""
    temp = _temporary_name(Path(target))
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(descriptor)
    os.unlink(temp)


def write_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` so that readers see either the old file or the new one, never a mix:
    a temp file in the same directory, fsync, rename, then fsync the directory so the rename itself is durable."""
    target = Path(target)
    temp = _temporary_name(target)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


_HEAD_BYTES = 512


class UnreadableFile(PlanestrikeError):
    """A path that cannot be read as the file it should be: ``"{path}: {problem}"``."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


def read_small_file(path: str | os.PathLike, limit: int, what: str, head: Callable[[bytes], None] | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, refusing anything else before reading it.

    A FIFO would block ``open()`` until a writer comes, ``/dev/zero`` never ends and a 3 GB file would be read
    whole: so the file is opened without blocking, its type and size are checked on the open descriptor (no race
    with a rename), and no more than ``limit`` bytes are ever read. ``head``, if given, sees the first bytes (up to
    512) first and raises to refuse the file before the rest is read (a format's magic number). ``what`` names the
    file in messages ("checkpoint", "TFLite model").
    """
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnreadableFile(path, f"no such file: give the path of {_a(what)}") from None
    except IsADirectoryError:
        raise UnreadableFile(path, f"is a directory, not {_a(what)}") from None
    except OSError as error:
        raise UnreadableFile(path, f"cannot be read ({error.strerror or error})") from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise UnreadableFile(path, f"is {_file_kind(info.st_mode)}, not {_a(what)}: give the path of the {what} file")
    if info.st_size > limit:
        os.close(descriptor)
        raise UnreadableFile(path, f"is {info.st_size:,} bytes, more than the {limit:,} bytes {_a(what)} may have: "
                             "is it the right file?")
    with os.fdopen(descriptor, "rb", buffering=0) as handle:
        try:
            data = handle.read(min(_HEAD_BYTES, limit + 1))
            if head is not None:
                head(data)
            if len(data) == min(_HEAD_BYTES, limit + 1):  # a shorter read was the whole file
                data += handle.read(limit + 1 - len(data))
        except OSError as error:
            raise UnreadableFile(path, f"cannot be read ({error.strerror or error})") from None
    if len(data) > limit:  # it grew while being read
        raise UnreadableFile(path, f"grew past the {limit:,} bytes {_a(what)} may have while it was read")
    return data


def _a(what: str) -> str:
    return f"{'an' if what[:1] in 'aeiouAEIOU' else 'a'} {what}"


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def user_directory(kind: str) -> Path:
    """Where planestrike keeps its ``"config"``, ``"cache"`` or ``"state"`` files: ``$XDG_CONFIG_HOME`` (and
    friends) when set to an absolute path, as the XDG specification asks (a relative one is ignored), else under
    ``$HOME``. An unset, empty or relative ``HOME`` is one clear error, not files in ``/`` or the current folder."""
    variable, fallback = {"config": ("XDG_CONFIG_HOME", ".config"), "cache": ("XDG_CACHE_HOME", ".cache"),
                          "state": ("XDG_STATE_HOME", ".local/state")}[kind]
    chosen = os.environ.get(variable, "")
    if os.path.isabs(chosen):
        return Path(chosen) / "planestrike"
    home = os.environ.get("HOME", "")
    if not os.path.isabs(home):
        raise PlanestrikeError(f"HOME is {home!r}, not an absolute path, and {variable} is not set: set HOME (or "
                               f"{variable}) to a folder where planestrike may keep its {kind} files")
    return Path(home) / fallback / "planestrike"
