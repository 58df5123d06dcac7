"""Which CPU the virtual phone has: ``arm64-v8a`` (most phones) or ``x86_64`` (Android emulators).

When the phone's ABI is this computer's, its shell runs programs natively. An arm64 phone on an x86_64 computer
runs arm64 ELF files through ``qemu-aarch64``, transparently, as the kernel would with qemu registered in
binfmt_misc: a small library preloaded into the phone's shell (``exec_shim.c``, built here with the host's C
compiler and cached by its source hash) turns each exec of an arm64 file into ``qemu-aarch64 ... FILE``. So the very
files ``planestrike device setup --runtime`` pushes to a real phone run here, with their own glibc loader and
LiteRT library. The guest sees an arm64 ``/proc/cpuinfo`` (a Cortex-A76 per host core, through qemu's ``-L``): qemu
7 shows it the host's x86 one, on which LiteRT's CPU detection crashes.

Standard library only, like the rest of the virtual phone.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

ABIS = ("arm64-v8a", "x86_64")
QEMU = "qemu-aarch64"
QEMU_CPU = "cortex-a76"  # the core /proc/cpuinfo describes below; a common big core of 2019-2023 phones
SHIM_BUILD_TIMEOUT_S = 60
_CPUINFO_BLOCK = ("processor\t: {index}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 "
                  "atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\n"
                  "CPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n")


def host_abi() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64-v8a", "arm64": "arm64-v8a"}.get(machine, machine)


def default_abi() -> str:
    """arm64-v8a when this computer can run arm64 programs (natively, or with qemu-aarch64 and a C compiler for the
    shim), else the host's own."""
    if host_abi() == "arm64-v8a" or (shutil.which(QEMU) and _c_compiler()):
        return "arm64-v8a"
    return host_abi()


@dataclass(frozen=True)
class PhoneCpu:
    abi: str
    environment: dict[str, str] = field(default_factory=dict)  # added to every shell command's environment

    @property
    def emulated(self) -> bool:
        return bool(self.environment)


def prepare(abi: str | None, cache: Path) -> PhoneCpu:
    """The CPU for ``abi`` (None: ``default_abi()``), building what it needs into ``cache``. Raises ValueError with
    a one-line reason when this computer cannot provide it."""
    abi = abi or default_abi()
    if abi not in ABIS:
        raise ValueError(f"unknown ABI {abi!r}: use one of {', '.join(ABIS)}")
    if abi == host_abi():
        return PhoneCpu(abi)
    if abi != "arm64-v8a":
        raise ValueError(f"an {abi} virtual phone needs an {abi} computer (this one is {host_abi()})")
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise ValueError("an arm64 virtual phone on this computer needs qemu-aarch64: install Debian's qemu-user "
                         "(apt-get install qemu-user), or pass --abi x86_64")
    shim = _build_shim(cache)
    prefix = cache / "arm64-root"
    cpuinfo = prefix / "proc" / "cpuinfo"
    text = "".join(_CPUINFO_BLOCK.format(index=i) for i in range(os.cpu_count() or 1))
    if not cpuinfo.is_file() or cpuinfo.read_text() != text:
        cpuinfo.parent.mkdir(parents=True, exist_ok=True)
        temporary = cpuinfo.with_name(f".cpuinfo.{os.getpid()}")
        temporary.write_text(text)
        temporary.replace(cpuinfo)
    return PhoneCpu(abi, {"LD_PRELOAD": str(shim), "PLANESTRIKE_QEMU": qemu, "PLANESTRIKE_QEMU_PREFIX": str(prefix),
                          "PLANESTRIKE_QEMU_CPU": QEMU_CPU})


def _c_compiler() -> str | None:
    return next((path for name in ("cc", "gcc", "clang") if (path := shutil.which(name))), None)


def _build_shim(cache: Path) -> Path:
    import hashlib

    source = resources.files("devicelink.emulator").joinpath("exec_shim.c").read_bytes()
    target = cache / f"exec-shim-{hashlib.sha256(source).hexdigest()[:16]}.so"
    if target.is_file():
        return target
    compiler = _c_compiler()
    if compiler is None:
        raise ValueError("an arm64 virtual phone on this computer needs a C compiler for its exec shim: install "
                         "Debian's gcc (apt-get install gcc), or pass --abi x86_64")
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        source_file = Path(scratch) / "exec_shim.c"
        source_file.write_bytes(source)
        built = Path(scratch) / "shim.so"
        result = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(built), str(source_file), "-ldl"],
                                capture_output=True, text=True, timeout=SHIM_BUILD_TIMEOUT_S)
        if result.returncode != 0:
            detail = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise ValueError(f"could not build the virtual phone's exec shim with {compiler}: {detail}")
        built.replace(target)
    return target
