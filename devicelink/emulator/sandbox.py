"""The virtual phone's storage: a folder standing in for /data/local/tmp, with the stand-in binaries installed.

Sync requests name device paths; they are mapped into the folder and may not leave it (anything else is
"Permission denied", as for the shell user on a phone). Shell commands run as real processes on this machine with
the folder as working directory, and every "/data/local/tmp" in the command text is rewritten to the folder's path:
that is what lets `benchmark_model --graph=/data/local/tmp/...` work unchanged, and it is also why the virtual
phone binds loopback only. It is a stand-in for a phone, not a sandbox in the security sense.
"""

from __future__ import annotations

import platform
import posixpath
import re
import shlex
import stat
import sys
from importlib import resources
from pathlib import Path

from devicelink import layout

# Rewriting paths inside shell command text is only safe if the folder's path needs no quoting.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")

STANDINS = {
    layout.BENCHMARK_MODEL: "benchmark_model.py",
    layout.PERSISTENT_RUNNER: "planestrike_runner.py",
}


class Sandbox:
    def __init__(self, root: Path):
        root = root.resolve()
        if not _SAFE_PATH.match(str(root)):
            raise ValueError(f"the virtual phone's folder {root} must contain only letters, digits and _ . / + -")
        self.root = root

    def host_path(self, device_path: str) -> Path | None:
        """The folder path behind a device path, or None if the path is outside /data/local/tmp."""
        normal = posixpath.normpath(device_path)
        if normal == layout.DEVICE_TMP:
            return self.root
        prefix = layout.DEVICE_TMP + "/"
        if not normal.startswith(prefix):
            return None
        return self.root / normal[len(prefix):]

    def rewrite_command(self, command: str) -> str:
        return command.replace(layout.DEVICE_TMP, str(self.root))

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
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = resources.files("devicelink.emulator.standins").joinpath(module_file).read_text(encoding="utf-8")
            temporary = target.with_name(target.name + ".tmp")
            temporary.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
            temporary.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
            temporary.replace(target)


def android_abi() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64-v8a", "arm64": "arm64-v8a"}.get(machine, machine)
