"""The virtual phone's storage: a folder standing in for /data/local/tmp, with a stand-in benchmark_model installed.

Sync requests name device paths; they are mapped into the folder, symlinks resolved, and may not leave it (anything
else is "Permission denied", as for the shell user on a phone). Shell commands run as real processes on this machine
with the folder as working directory, and every "/data/local/tmp" in the command text is rewritten to the folder's
path: that is what lets `benchmark_model --graph=/data/local/tmp/...` work unchanged, and it is also why the virtual
phone binds loopback only. It is a stand-in for a phone, not a sandbox in the security sense: the shell can reach
anything its user can.

Rewriting text is only safe for a path the shell reads as one word. When the folder's own path is not one (a HOME
with a space, or with letters beyond ASCII), commands see it through a plain-named symlink in a private temporary
folder, made by ``start()`` and removed by ``stop()``.

File work that may block (disk, NFS, a FIFO the shell made) runs on ``FILE_WORKERS`` threads of its own, so it can
never stall the event loop or the handshakes of other hosts (``run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import posixpath
import re
import secrets
import shlex
import stat
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import TypeVar

from devicelink import layout
from devicelink.emulator.state import unusable

# A path a shell reads as one word, with no quoting.
_SHELL_WORD = re.compile(r"^[A-Za-z0-9_./+-]+$")
FILE_WORKERS = 4

# What a push writes until its DONE arrives, then renames into place. A kill can leave one behind: see
# remove_interrupted_pushes.
_PARTIAL = re.compile(r"^\.virtual-phone-push-[0-9a-f]{16}\.partial$")

STANDINS = {
    layout.BENCHMARK_MODEL: "benchmark_model.py",
}
STANDIN_RUNTIME = "0000000000000000"  # the runtime hash the desktop stand-in runner is installed under

Result = TypeVar("Result")


class Sandbox:
    def __init__(self, root: Path, environment: dict[str, str] | None = None):
        self.root = Path(os.path.realpath(root))
        self.environment = dict(environment or {})  # added to every shell command's (the CPU's exec shim)
        self.shell_root = self.root  # the folder's path as shell commands see it (see start)
        self._alias: Path | None = None
        self._files: ThreadPoolExecutor | None = None

    # --- while the phone serves -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Before serving: the file-work threads and, if the folder's path needs quoting, its plain-named alias."""
        self._files = ThreadPoolExecutor(FILE_WORKERS, thread_name_prefix="virtual-phone-files")
        if _SHELL_WORD.match(str(self.root)):
            return
        base = next((folder for folder in (tempfile.gettempdir(), "/tmp")
                     if _SHELL_WORD.match(folder) and os.path.isdir(folder)), None)
        try:
            if base is None:
                raise OSError("no temporary folder with a plain name")
            alias = Path(tempfile.mkdtemp(prefix="planestrike-phone-", dir=base)) / "data-local-tmp"
            alias.symlink_to(self.root, target_is_directory=True)
        except OSError as error:
            raise unusable(
                f"the virtual phone's folder {self.root} needs quoting in a shell command and no plain-named alias "
                f"could be made for it ({error.strerror or error}): pass --state-dir with a path of only letters, "
                f"digits and _ . / + -") from None
        self._alias = self.shell_root = alias

    def stop(self) -> None:
        if self._files is not None:
            self._files.shutdown(wait=False, cancel_futures=True)
            self._files = None
        if self._alias is not None:
            with contextlib.suppress(OSError):  # already gone, or someone put files there: leave it, it is tiny
                self._alias.unlink(missing_ok=True)
                self._alias.parent.rmdir()
            self._alias, self.shell_root = None, self.root

    async def run(self, function: Callable[..., Result], *args: object) -> Result:
        """``function(*args)`` on a file-work thread."""
        return await asyncio.get_running_loop().run_in_executor(self._files, functools.partial(function, *args))

    # --- paths ------------------------------------------------------------------------------------------------------
    def host_path(self, device_path: str) -> Path | None:
        """The file behind a device path, symlinks resolved; None if the path is, or leads, outside /data/local/tmp.

        Blocking file work (it reads symlinks).
        """
        normal = posixpath.normpath(device_path)
        if normal != layout.DEVICE_TMP and not normal.startswith(layout.DEVICE_TMP + "/"):
            return None
        resolved = Path(os.path.realpath(self.root / normal[len(layout.DEVICE_TMP) + 1:]))
        return resolved if resolved.is_relative_to(self.root) else None

    def rewrite_command(self, command: str) -> str:
        return command.replace(layout.DEVICE_TMP, str(self.shell_root))

    @staticmethod
    def partial_path(target: Path) -> Path:
        """A fresh name beside ``target`` for a push in progress."""
        return target.with_name(f".virtual-phone-push-{secrets.token_hex(8)}.partial")

    def remove_interrupted_pushes(self) -> None:
        """Delete what pushes cut short by a kill left behind (one the daemon sees fail cleans up after itself)."""
        for folder, _, names in os.walk(self.root):
            for name in names:
                if _PARTIAL.match(name):
                    Path(folder, name).unlink(missing_ok=True)

    # --- what is installed --------------------------------------------------------------------------------------------
    @property
    def system_bin(self) -> Path:
        """Programs every phone has (getprop); first on the PATH of the virtual phone's shell."""
        return self.root / ".virtual-phone" / "bin"

    def install_system(self, properties: dict[str, str]) -> None:
        cases = "".join(f"  {shlex.quote(name)}) echo {shlex.quote(value)} ;;\n" for name, value in properties.items())
        script = f'#!/bin/sh\ncase "$1" in\n{cases}  *) echo ;;\nesac\n'
        self.system_bin.mkdir(parents=True, exist_ok=True)
        getprop = self.system_bin / "getprop"
        getprop.write_text(script, encoding="utf-8")
        getprop.chmod(0o755)

    def install_standins(self) -> None:
        """Put the stand-in programs where `planestrike device setup` would (kept if already there)."""
        for device_path, module_file in STANDINS.items():
            target = self.host_path(device_path)
            if target is None:
                raise unusable(f"{self.root / device_path.removeprefix(layout.DEVICE_TMP + '/')} leads outside "
                               f"the virtual phone's folder: remove it, and the stand-in is installed again")
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = resources.files("devicelink.emulator.standins").joinpath(module_file).read_text(encoding="utf-8")
            temporary = target.with_name(target.name + ".tmp")
            temporary.write_text(_launcher() + source, encoding="utf-8")
            temporary.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
            temporary.replace(target)

    def install_runtime(self, runtime_hash: str, start_script: str, files: dict[str, str] | None = None) -> None:
        """Lay out a runtime as `device setup --runtime` would, with the given `start` script (and other files), and
        make it the current one. For tests: a real runtime is pushed over ADB by the desktop."""
        folder = self.host_path(f"{layout.RUNTIME_DIR}/{runtime_hash}")
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in {layout.RUNTIME_START: start_script, **(files or {})}.items():
            (folder / name).write_text(text, encoding="utf-8")
        current = self.host_path(layout.RUNTIME_CURRENT)
        current.write_text(runtime_hash + "\n", encoding="ascii")

    def install_standin_runtime(self) -> None:
        """The desktop stand-in runner (desktop LiteRT through Python, backend=litert-cpu-standin) as the current
        runtime: for protocol tests that need a runner but no C toolchain. Never installed by the phone itself."""
        source = resources.files("devicelink.emulator.standins").joinpath("desktop_runner_standin.py")
        start = f'exec {shlex.quote(sys.executable)} "${{0%/*}}/desktop_runner_standin.py" "$@"\n'
        self.install_runtime(STANDIN_RUNTIME, start, {"desktop_runner_standin.py": source.read_text(encoding="utf-8")})


def _launcher() -> str:
    """A stand-in's first lines: a #! line naming this Python. A #! line ends at a space, so for a Python whose path
    has one, /bin/sh starts it through a line that Python reads as a harmless string expression."""
    if _SHELL_WORD.match(sys.executable):
        return f"#!{sys.executable}\n"
    return f'#!/bin/sh\n"exec" {shlex.quote(sys.executable)} "$0" "$@"\n'

