"""`planestrike device setup --runtime`: build the persistent runner for the phone's CPU, bundle it with LiteRT and
the glibc it runs on, and install the bundle on the phone.

A phone runs Android's libc (bionic), not glibc, and the LiteRT C library published on PyPI
(``ai_edge_litert/libLiteRt.so`` in the manylinux wheels) is built against glibc. So the bundle carries its own glibc
loader and libraries and starts the runner through that loader (``ld-linux-aarch64.so.1 --library-path DIR RUNNER``),
which works from ``/data/local/tmp``, where adb's shell may execute files. Steps, each cached on this computer:

1. build ``runner/planestrike_runner.c`` for the ABI (Debian's ``gcc-aarch64-linux-gnu`` for arm64, the host's C
   compiler for x86_64), named by the hash of the source and the compiler;
2. take ``libLiteRt.so`` from the ai-edge-litert wheel for that ABI, the same version as this computer's (the
   installed package itself when the ABIs match, else ``pip download`` of the wheel);
3. copy the glibc files from the toolchain's sysroot, with each package's copyright file;
4. push the bundle to ``/data/local/tmp/planestrike/runtime/<hash>/``: files to a temporary folder, their sha256
   checked on the phone, the folder renamed into place, then ``runtime/current`` pointed at it.

The bundle's hash covers every file, so an installed runtime is found by hash and not pushed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from devicelink import layout
from devicelink.cache import cache_dir, digest
from devicelink.errors import DeviceError
from devicelink.session import DeviceSession

BUILD_TIMEOUT_S = 120  # compiling one C file
DOWNLOAD_TIMEOUT_S = 600  # pip download of one wheel (14 MB for arm64)
MAX_WHEEL_BYTES = 256 << 20
MAX_LIBRARY_BYTES = 64 << 20  # libLiteRt.so is 6-8 MB
# What libLiteRt.so and the runner need besides the loader (readelf -d: NEEDED), the same on both ABIs.
GLIBC_LIBRARIES = ("libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libstdc++.so.6",
                   "libgcc_s.so.1")
RUNNER = "planestrike_runner"
LIBRARY = "libLiteRt.so"
MANIFEST = "manifest.json"
_HASH = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class Abi:
    name: str  # Android's name: arm64-v8a, x86_64
    machine: str  # platform.machine() of a computer with this CPU
    triplet: str  # GNU's: aarch64-linux-gnu
    loader: str  # glibc's dynamic loader for it
    wheel_platform: str  # the manylinux tag pip needs for it
    compiler_package: str  # the Debian package that cross-compiles for it

    def native(self) -> bool:
        import platform

        return platform.machine().lower() in (self.machine, "amd64" if self.machine == "x86_64" else self.machine)


ABIS = {
    "arm64-v8a": Abi("arm64-v8a", "aarch64", "aarch64-linux-gnu", "ld-linux-aarch64.so.1", "manylinux_2_27_aarch64",
                     "gcc-aarch64-linux-gnu"),
    "x86_64": Abi("x86_64", "x86_64", "x86_64-linux-gnu", "ld-linux-x86-64.so.2", "manylinux_2_27_x86_64",
                  "gcc-x86-64-linux-gnu"),
}


def abi_for(name: str) -> Abi:
    if name not in ABIS:
        raise DeviceError(f"the phone's ABI is {name or 'unknown'}: the LiteRT runtime is built for "
                          f"{' and '.join(ABIS)} only (32-bit ARM phones keep benchmark_model)")
    return ABIS[name]


Say = Callable[[str], None]


# --- 1. the runner --------------------------------------------------------------------------------------------
def runner_source() -> bytes:
    return resources.files("devicelink.runner").joinpath("planestrike_runner.c").read_bytes()


def compiler_for(abi: Abi) -> str:
    """The C compiler that builds for ``abi``; one line naming the package to install when there is none."""
    candidates = [f"{abi.triplet}-gcc"] + (["cc", "gcc"] if abi.native() else [])
    for name in candidates:
        if path := shutil.which(name):
            return path
    raise DeviceError(f"no C compiler for {abi.name} phones: install Debian's {abi.compiler_package} "
                      f"(apt-get install {abi.compiler_package}); it also brings the {abi.name} glibc the runtime "
                      f"carries")


def build_runner(abi: Abi, say: Say = lambda text: None) -> Path:
    """The runner built for ``abi``, from the cache when the source and compiler are unchanged."""
    compiler = compiler_for(abi)
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    source = runner_source()
    flags = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror"]
    key = digest(source, version, " ".join(flags))[:16]
    target = cache_dir("runners") / f"{RUNNER}-{abi.name}-{key}"
    if target.is_file():
        return target
    say(f"building the runner for {abi.name} with {Path(compiler).name}")
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        source_file = Path(scratch) / "planestrike_runner.c"
        source_file.write_bytes(source)
        built = Path(scratch) / RUNNER
        try:
            result = subprocess.run([compiler, *flags, "-o", str(built), str(source_file), "-ldl"],
                                    capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{Path(compiler).name} took over {BUILD_TIMEOUT_S} s to build the runner") from None
        if result.returncode != 0:
            detail = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise DeviceError(f"{Path(compiler).name} could not build the runner: {detail[:200]}")
        built.replace(target)
    return target


# --- 2. LiteRT ------------------------------------------------------------------------------------------------
def litert_version() -> str:
    try:
        return metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        raise DeviceError("ai-edge-litert is not installed here: reinstall planestrike (pip install -e .)") from None


def fetch_litert(abi: Abi, say: Say = lambda text: None) -> tuple[Path, Path]:
    """(libLiteRt.so, its LICENSE) for ``abi``, of this computer's ai-edge-litert version."""
    version = litert_version()
    folder = cache_dir("litert", f"{version}-{abi.name}")
    library, license_file = folder / LIBRARY, folder / "LICENSE"
    if library.is_file() and license_file.is_file():
        return library, license_file
    if abi.native():
        installed = Path(resources.files("ai_edge_litert").joinpath(LIBRARY))
        distribution = metadata.distribution("ai-edge-litert")
        licenses = [f for f in distribution.files or [] if f.name == "LICENSE"]
        _copy_atomically(installed, library)
        _copy_atomically(Path(distribution.locate_file(licenses[0])) if licenses else _apache_notice(folder),
                         license_file)
        return library, license_file
    say(f"downloading ai-edge-litert {version} for {abi.name} (pip download, {abi.wheel_platform})")
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        command = [sys.executable, "-m", "pip", "download", f"ai-edge-litert=={version}", "--platform",
                   abi.wheel_platform, "--only-binary=:all:", "--no-deps", "--quiet", "--disable-pip-version-check",
                   "-d", scratch]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"pip download of ai-edge-litert {version} for {abi.name} took over "
                              f"{DOWNLOAD_TIMEOUT_S} s: check the network (or a proxy), then try again") from None
        wheels = sorted(Path(scratch).glob("ai_edge_litert-*.whl"))
        if result.returncode != 0 or not wheels:
            detail = [line for line in result.stderr.strip().splitlines() if "ERROR" in line] or ["no wheel"]
            raise DeviceError(f"could not download ai-edge-litert {version} for {abi.name}: {detail[-1][:200]}")
        _extract_from_wheel(wheels[0], library, license_file)
    return library, license_file


def _extract_from_wheel(wheel: Path, library: Path, license_file: Path) -> None:
    if wheel.stat().st_size > MAX_WHEEL_BYTES:
        raise DeviceError(f"{wheel.name} is over {MAX_WHEEL_BYTES >> 20} MB: not the ai-edge-litert wheel")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licenses = [name for name in names if name.endswith(".dist-info/licenses/LICENSE") or
                    name.endswith(".dist-info/LICENSE")]
        if f"ai_edge_litert/{LIBRARY}" not in names:
            raise DeviceError(f"{wheel.name} has no ai_edge_litert/{LIBRARY}")
        info = archive.getinfo(f"ai_edge_litert/{LIBRARY}")
        if info.file_size > MAX_LIBRARY_BYTES:
            raise DeviceError(f"{wheel.name}'s {LIBRARY} is over {MAX_LIBRARY_BYTES >> 20} MB")
        _write_atomically(library, archive.read(info))
        _write_atomically(license_file, archive.read(licenses[0]) if licenses else
                          _apache_notice(library.parent).read_bytes())


def _apache_notice(folder: Path) -> Path:
    path = folder / "LICENSE.notice"
    path.write_text("ai-edge-litert (LiteRT) is distributed under the Apache License 2.0: "
                    "https://www.apache.org/licenses/LICENSE-2.0\n")
    return path


# --- 3. glibc -------------------------------------------------------------------------------------------------
def glibc_folder(abi: Abi) -> Path:
    """Where the glibc for ``abi`` is: the cross toolchain's sysroot, or this computer's own libraries."""
    candidates = [Path(f"/usr/{abi.triplet}/lib")]
    if abi.native():
        candidates = [Path(f"/lib/{abi.triplet}"), Path(f"/usr/lib/{abi.triplet}"), *candidates]
    for folder in candidates:
        if all((folder / name).exists() for name in GLIBC_LIBRARIES) and _loader_in(folder, abi):
            return folder
    raise DeviceError(f"no {abi.name} glibc found (looked in {', '.join(map(str, candidates))}): install Debian's "
                      f"{abi.compiler_package} (apt-get install {abi.compiler_package})")


def _loader_in(folder: Path, abi: Abi) -> Path | None:
    for candidate in (folder / abi.loader, Path("/lib64") / abi.loader, Path("/lib") / abi.loader):
        if candidate.exists() and (candidate.parent == folder or abi.native()):
            return candidate
    return None


def _debian_packages(abi: Abi) -> list[str]:
    """The Debian packages the glibc files come from (their copyright files travel with the bundle)."""
    suffix = "" if abi.native() else f"-{_cross_name(abi)}-cross"
    return [f"libc6{suffix}", f"libstdc++6{suffix}", f"libgcc-s1{suffix}"]


def _cross_name(abi: Abi) -> str:
    return {"arm64-v8a": "arm64", "x86_64": "amd64"}[abi.name]


def _package_version(package: str) -> str:
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


# --- the bundle -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bundle:
    abi: Abi
    folder: Path  # on this computer
    hash: str  # 16 hex digits, over every file's name and sha256
    files: dict[str, str]  # name -> sha256

    @property
    def device_dir(self) -> str:
        return f"{layout.RUNTIME_DIR}/{self.hash}"

    @property
    def size(self) -> int:
        return sum((self.folder / name).stat().st_size for name in self.files)


def start_script(abi: Abi) -> str:
    # ${0%/*}: the folder of this script, wherever the bundle is; Android's mksh and toybox have nothing else needed.
    return (f"# planestrike LiteRT runtime for {abi.name}: the runner starts through the glibc loader bundled beside\n"
            f"# it (Android has no glibc), which finds libLiteRt.so and the libraries in the same folder.\n"
            f'here="${{0%/*}}"\n'
            f'exec "$here/{abi.loader}" --library-path "$here" "$here/{RUNNER}" "$@"\n')


def build_bundle(abi_name: str, say: Say = lambda text: None) -> Bundle:
    """Build (or reuse) everything the phone needs, in one folder of the cache."""
    abi = abi_for(abi_name)
    runner = build_runner(abi, say)
    library, litert_license = fetch_litert(abi, say)
    glibc = glibc_folder(abi)
    packages = _debian_packages(abi)
    sources: dict[str, Path] = {RUNNER: runner, LIBRARY: library, abi.loader: _loader_in(glibc, abi)}
    sources.update({name: glibc / name for name in GLIBC_LIBRARIES})
    contents: dict[str, bytes] = {name: path.read_bytes() for name, path in sources.items()}  # symlinks resolved
    contents[layout.RUNTIME_START] = start_script(abi).encode()
    contents["LICENSES/LiteRT-LICENSE"] = litert_license.read_bytes()
    licenses = {}
    for package in packages:
        copyright_file = Path(f"/usr/share/doc/{package}/copyright")
        if copyright_file.is_file():
            contents[f"LICENSES/{package}.copyright"] = copyright_file.read_bytes()
            licenses[package] = _package_version(package)
    glibc_license = "glibc: LGPL-2.1-or-later; libstdc++ and libgcc_s: GPL-3.0-or-later WITH GCC-exception-3.1"
    manifest = {
        "format": "planestrike-runtime/1", "abi": abi.name, "litert": litert_version(),
        "files": {
            RUNNER: {"from": "devicelink/runner/planestrike_runner.c, built here", "license": "Apache-2.0"},
            LIBRARY: {"from": f"ai-edge-litert {litert_version()} wheel ({abi.wheel_platform})",
                      "license": "Apache-2.0 (LICENSES/LiteRT-LICENSE)"},
            **{name: {"from": f"{glibc} (Debian packages {', '.join(f'{p} {v}' for p, v in licenses.items())})",
                      "license": glibc_license + " (LICENSES/*.copyright)"}
               for name in (abi.loader, *GLIBC_LIBRARIES)},
        },
    }
    contents[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    files = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(contents.items())}
    bundle_hash = digest(*(f"{name} {sha}" for name, sha in files.items()))[:16]
    folder = cache_dir("bundles") / f"{abi.name}-{bundle_hash}"
    if not folder.is_dir():
        with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
            staging = Path(scratch) / "bundle"
            for name, data in contents.items():
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_bytes(data)
            staging.rename(folder)
    return Bundle(abi, folder, bundle_hash, files)


EXECUTABLES = (RUNNER, layout.RUNTIME_START)


def _mode(abi: Abi, name: str) -> int:
    return 0o755 if name in EXECUTABLES or name == abi.loader else 0o644


# --- 4. on the phone ------------------------------------------------------------------------------------------
def phone_abi(session: DeviceSession) -> str:
    return session.check(["getprop", "ro.product.cpu.abi"]).decode("utf-8", "replace").strip()


def installed_runtime(session: DeviceSession) -> str | None:
    """The folder of the phone's current runtime (``RUNTIME_DIR/<hash>``), or None when none is installed."""
    result = session.run(["sh", "-c", f'cat {layout.RUNTIME_CURRENT} 2>/dev/null || true'],
                         doing="looking for the LiteRT runtime")
    runtime_hash = result.stdout.decode("ascii", "replace").strip()
    if not _HASH.match(runtime_hash):
        return None
    return f"{layout.RUNTIME_DIR}/{runtime_hash}"


def _verify_on_phone(session: DeviceSession, folder: str, bundle: Bundle) -> list[str]:
    """Names of the bundle's files whose copy in ``folder`` is missing or differs (sha256 computed on the phone)."""
    names = list(bundle.files)
    script = 'cd "$1" 2>/dev/null || exit 0; shift; for f; do test -f "$f" && sha256sum "$f"; done; true'
    output = session.check(["sh", "-c", script, "verify", folder, *names]).decode("utf-8", "replace")
    found = {}
    for line in output.splitlines():
        sha, _, name = line.partition("  ")
        found[name.strip()] = sha.strip()
    return [name for name in names if found.get(name) != bundle.files[name]]


def install(session: DeviceSession, bundle: Bundle, say: Say = lambda text: None,
            progress: Callable[[int, int], None] | None = None) -> bool:
    """Put ``bundle`` on the phone and make it current; False if it was there already (nothing pushed)."""
    target = bundle.device_dir
    with session.operation("installing the LiteRT runtime", session.allowance_s(6 + len(bundle.files), bundle.size)):
        if not _verify_on_phone(session, target, bundle):
            _make_current(session, bundle)
            return False
        staging = f"{layout.RUNTIME_DIR}/.{bundle.hash}.{secrets.token_hex(4)}.partial"
        session.check(["mkdir", "-p", f"{staging}/LICENSES"])
        try:
            say(f"pushing {len(bundle.files)} files ({bundle.size / 1e6:.1f} MB) to {target}")
            for name in bundle.files:
                session.push((bundle.folder / name).read_bytes(), f"{staging}/{name}", mode=_mode(bundle.abi, name),
                             progress=progress)
            wrong = _verify_on_phone(session, staging, bundle)
            if wrong:
                raise DeviceError(f"the runtime's copy of {', '.join(wrong[:3])} on {session.serial} does not match "
                                  f"its sha256: run setup again; if it keeps happening, the connection corrupts data")
            session.check(["sh", "-c", 'rm -rf "$2" && mv -f "$1" "$2"', "install", staging, target])
        except BaseException:
            with contextlib.suppress(DeviceError):
                session.run(["rm", "-rf", staging])
            raise
        _make_current(session, bundle)
    return True


def _make_current(session: DeviceSession, bundle: Bundle) -> None:
    temporary = f"{layout.RUNTIME_DIR}/.current.{secrets.token_hex(4)}"
    session.push(f"{bundle.hash}\n".encode(), temporary)
    session.check(["mv", "-f", temporary, layout.RUNTIME_CURRENT])


def _copy_atomically(source: Path, target: Path) -> None:
    _write_atomically(target, source.read_bytes())


def _write_atomically(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
    temporary.write_bytes(data)
    temporary.replace(target)
