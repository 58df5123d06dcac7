"""`planestrike device setup`: install the classic TFLite benchmark_model on a phone and check it is the right tool."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from devicelink import layout
from devicelink.errors import DeviceError
from devicelink.runners.benchmark_model import validate_help
from devicelink.session import DeviceSession
from engine.files import read_small_file

MAX_BINARY_BYTES = 256 << 20  # the android_aarch64 benchmark_model is about 6 MB; a larger file is not it


def install_benchmark_model(session: DeviceSession, binary: str | None) -> str:
    """Push ``binary`` (if given) to the phone, check its --help, and only then put it in place. Returns a summary.

    All of it is one operation: three commands' worth of time (push, --help, rename) plus the transfer.
    """
    target = layout.BENCHMARK_MODEL
    if binary is None:
        with session.operation("checking benchmark_model", session.allowance_s(2)):
            if session.run(["test", "-x", target]).exit_code != 0:
                raise DeviceError(f"no benchmark_model on {session.serial} yet: give --benchmark-model PATH "
                                  f"(the classic TFLite tool for android_aarch64, see docs/device.md)")
            validate_help(_help_text(session, target, target), target)
        return f"{target} on {session.serial} is the classic TFLite tool: it reads input files and writes output files"
    local = Path(binary)
    data = read_small_file(local, MAX_BINARY_BYTES, "benchmark_model binary")
    candidate = f"{layout.DEVICE_DIR}/.benchmark_model.{secrets.token_hex(4)}"
    with session.operation("installing benchmark_model", session.allowance_s(3, len(data))):
        session.push(data, candidate, mode=0o755)
        try:
            validate_help(_help_text(session, candidate, local.name), local.name)
        except DeviceError:
            with contextlib.suppress(DeviceError):  # a phone that stopped answering keeps the hidden candidate
                session.run(["rm", "-f", candidate])
            raise
        session.check(["mv", "-f", candidate, target])
    return f"installed {local.name} as {target}: it reads input files and writes output files"


def _help_text(session: DeviceSession, path: str, name: str) -> str:
    result = session.run([path, "--help"], doing=f"running {name} --help")
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    if result.exit_code not in (0, 1) and not text.strip():
        raise DeviceError(f"{path} does not run on {session.serial} (exit status {result.exit_code}): is it built "
                          f"for this phone's CPU? (check 'planestrike device connect' for its ABI)")
    return text
