"""The real LiteRT runtime on the virtual phone: `device setup --runtime` builds the C runner (cross-compiled for
arm64, natively for x86_64), fetches libLiteRt.so from the ai-edge-litert wheel for that ABI, bundles glibc, pushes
it; then eval, compare and bench use it. On an arm64 phone the very files a real phone gets run under qemu-aarch64.
Real subprocesses, a real emulator process, a shared build cache (device_helpers); in CI a missing cross compiler
or qemu fails these tests rather than skipping them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from assets import BUNDLED_TFLITE
from device_helpers import REFERENCE_MODEL, REPO, arm64_tools_or_skip, emulator_process, tool_or_skip
from devicelink import layout

EM_AARCH64, EM_X86_64 = 183, 62  # ELF e_machine
OFFICIAL_EXACT_MEAN = 13.1917  # the official app's model over the 120 placements (docs/device.md)


@pytest.fixture
def environment(tmp_path):
    return dict(os.environ, HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"),
                PLANESTRIKE_DEVICE="", PLANESTRIKE_DEVICE_RUNNER="")


def planestrike(environment, *arguments, timeout=300):
    result = subprocess.run([sys.executable, "-m", "planestrike_tui.cli", *arguments], env=environment, cwd=REPO,
                            capture_output=True, text=True, timeout=timeout)
    return result


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def elf_machine(path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    return int.from_bytes(header[18:20], "little")


def exact_mean(environment, spec: str) -> float:
    return json.loads(ok(planestrike(environment, "eval", "--agent", spec, "--exact", "--json")).splitlines()[-1])[
        "mean_strikes"]


def installed_bundle(state_dir):
    storage = state_dir / "data-local-tmp"
    runtime = storage / layout.RUNTIME_DIR.removeprefix(layout.DEVICE_TMP).lstrip("/")  # storage is DEVICE_TMP
    current = (runtime / "current").read_text().strip()
    return runtime / current


def test_an_arm64_phone_runs_the_real_runtime_with_desktop_litert_s_results(tmp_path, environment):
    arm64_tools_or_skip()
    with emulator_process(tmp_path / "phone", abi="arm64-v8a") as phone:
        setup = ok(planestrike(environment, "device", "setup", "--runtime", "--device", phone.serial))
        assert "arm64-v8a" in setup and "installed, sha256 of every file checked on the phone" in setup
        bundle = installed_bundle(phone.state_dir)
        assert elf_machine(bundle / "planestrike_runner") == EM_AARCH64
        assert elf_machine(bundle / "libLiteRt.so") == EM_AARCH64, "LiteRT from the arm64 wheel"
        assert elf_machine(bundle / "ld-linux-aarch64.so.1") == EM_AARCH64
        manifest = json.loads((bundle / "manifest.json").read_text())
        assert manifest["abi"] == "arm64-v8a" and all(entry["license"] for entry in manifest["files"].values())
        assert (bundle / "LICENSES" / "LiteRT-LICENSE").read_text().strip()

        again = ok(planestrike(environment, "device", "setup", "--runtime", "--device", phone.serial))
        assert "already installed" in again, "the same bundle is found by its hash and not pushed again"

        bench = json.loads(ok(planestrike(environment, "device", "bench", "--device", phone.serial, "--moves", "10",
                                          "--json")).splitlines()[-1])
        assert (bench["runner"], bench["abi"]) == ("persistent", "arm64-v8a")
        assert bench["backend"].startswith("litert-cpu"), "LiteRT's own CPU accelerator, not the stand-in"

        # The same exact means as desktop LiteRT, through the arm64 runner under qemu.
        for model in (BUNDLED_TFLITE, REFERENCE_MODEL):
            device = exact_mean(environment, f"device:{phone.serial}:{model}")
            assert device == exact_mean(environment, f"tflite:{model}")
        assert round(exact_mean(environment, f"device:{phone.serial}:{REFERENCE_MODEL}"), 4) == OFFICIAL_EXACT_MEAN

        compared = json.loads(ok(planestrike(environment, "compare", "--agents", f"device:{phone.serial},tflite",
                                             "--boards", "60", "--device-runner", "persistent", "--json")))
        pair = compared["pairs"][0]
        assert pair["argmax_agreement"] == 1.0, "the same masked-argmax choice on every board"
        assert pair["max_abs_diff"] < 1e-4, "arm64 and x86_64 kernels may round differently, but not by much"


def test_an_x86_64_phone_gets_a_natively_built_runner(tmp_path, environment):
    tool_or_skip("cc", "gcc")
    with emulator_process(tmp_path / "phone", abi="x86_64") as phone:
        assert "x86_64" in ok(planestrike(environment, "device", "setup", "--runtime", "--device", phone.serial))
        bundle = installed_bundle(phone.state_dir)
        assert elf_machine(bundle / "planestrike_runner") == EM_X86_64
        bench = json.loads(ok(planestrike(environment, "device", "bench", "--device", phone.serial, "--moves", "5",
                                          "--json")).splitlines()[-1])
        assert (bench["runner"], bench["abi"]) == ("persistent", "x86_64") and bench["backend"].startswith("litert")
        assert exact_mean(environment, f"device:{phone.serial}") == exact_mean(environment, "tflite")


def test_the_runner_speaks_the_protocol_and_reports_errors_without_dying(tmp_path, environment):
    """The C runner itself, over the phone's shell: ready, ping, a malformed request, a wrong-sized input, a good
    one, quit with status 0."""
    tool_or_skip("cc", "gcc")
    with emulator_process(tmp_path / "phone", abi="x86_64") as phone:
        ok(planestrike(environment, "device", "setup", "--runtime", "--device", phone.serial))
        ok(planestrike(environment, "device", "push", str(REFERENCE_MODEL), "--device", phone.serial))
        bundle = installed_bundle(phone.state_dir)
        model = next((phone.state_dir / "data-local-tmp" / "planestrike" / "models").glob("*.tflite"))
        requests = "ping 1\neval 2 00\neval 3 " + "00" * 256 + "\nbogus\neval 4 zz\nquit\n"
        result = subprocess.run(["sh", str(bundle / "start"), "--model", str(model), "--threads", "2"],
                                input=requests, capture_output=True, text=True, timeout=60)
        lines = result.stdout.splitlines()
        assert result.returncode == 0, result.stderr[-500:]
        assert lines[0].startswith("ready planestrike-runner/1 input=float32:1x8x8 output=float32:1x64 backend=litert")
        assert lines[1] == "pong 1"
        assert lines[2].startswith("error 2 ") and "256" in lines[2], "the input's size is named"
        fields = lines[3].split()
        assert fields[:2] == ["ok", "3"] and float(fields[2]) >= 0 and len(bytes.fromhex(fields[3])) == 256
        assert lines[4].startswith("error - ") or lines[4].startswith("error "), lines[4]
        assert lines[5].startswith("error 4 "), "bad hex is refused, and the runner keeps serving"
        assert len(lines) == 6


def test_without_a_cross_compiler_setup_is_one_line_naming_the_package(tmp_path, environment):
    tool_or_skip("qemu-aarch64", "qemu-user")
    with emulator_process(tmp_path / "phone", abi="arm64-v8a") as phone:
        bare = dict(environment, PATH=str(tmp_path / "no-tools"))  # no compiler can be found
        result = planestrike(bare, "device", "setup", "--runtime", "--device", phone.serial)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("planestrike: error:")]
        assert len(errors) == 1 and "install Debian's gcc-aarch64-linux-gnu" in errors[0], result.stderr
        assert result.stderr.splitlines()[-1] == errors[0]  # before it, only the first-connection "tap Allow" hint
        storage = phone.state_dir / "data-local-tmp" / "planestrike"
        assert not (storage / "runtime" / "current").exists(), "nothing half-installed"
