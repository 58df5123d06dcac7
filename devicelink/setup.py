"""`planestrike device setup`: install the classic TFLite benchmark_model on a phone and check it is the right tool."""

from __future__ import annotations

import secrets
from pathlib import Path

from devicelink import layout
from devicelink.errors import DeviceError
from devicelink.runners.benchmark_model import validate_help
from devicelink.session import DeviceSession


def install_benchmark_model(session: DeviceSession, binary: str | None) -> str:
    """Push ``binary`` (if given) to the phone, check its --help, and only then put it in place. Returns a summary."""
    target = layout.BENCHMARK_MODEL
    if binary is not None:
        local = Path(binary)
        if not local.is_file():
            raise DeviceError(f"{binary} is not a file: download benchmark_model for android_aarch64 (see docs/device.md)")
        candidate = f"{layout.DEVICE_DIR}/.benchmark_model.{secrets.token_hex(4)}"
        session.push(local, candidate, mode=0o755)
        try:
            validate_help(_help_text(session, candidate), local.name)
        except DeviceError:
            session.run(["rm", "-f", candidate])
            raise
        session.check(["mv", "-f", candidate, target])
        return f"installed {local.name} as {target}: it reads input files and writes output files"
    if not session.run(["test", "-x", target]).exit_code == 0:
        raise DeviceError(f"no benchmark_model on {session.serial} yet: give --benchmark-model PATH "
                          f"(the classic TFLite tool for android_aarch64, see docs/device.md)")
    validate_help(_help_text(session, target), target)
    return f"{target} on {session.serial} is the classic TFLite tool: it reads input files and writes output files"


def _help_text(session: DeviceSession, path: str) -> str:
    result = session.run([path, "--help"], timeout_s=30)
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    if result.exit_code not in (0, 1) and not text.strip():
        raise DeviceError(f"{path} does not run on {session.serial} (exit status {result.exit_code}): is it built "
                          f"for this phone's CPU? (check 'planestrike device connect' for its ABI)")
    return text
