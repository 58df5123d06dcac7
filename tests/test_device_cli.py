"""`planestrike device ...` end to end: real subprocesses against the virtual phone, isolated HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from device_helpers import (DEVICE_BANNER, REFERENCE_MODEL, REPO, adb_packet, emulator_process, fake_device,
                            install_standin_runtime)


@pytest.fixture
def environment(tmp_path):
    return dict(os.environ, HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"),
                PLANESTRIKE_DEVICE="")


def planestrike(environment, *arguments, timeout=120):
    return subprocess.run([sys.executable, "-m", "planestrike_tui.cli", *arguments], env=environment, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def emulator(tmp_path):
    with emulator_process(tmp_path / "phone") as emulator:
        yield emulator


def test_connect_push_models_remove_and_bench_against_the_virtual_phone(environment, emulator):
    connected = planestrike(environment, "device", "connect", emulator.serial)
    assert connected.returncode == 0, connected.stderr
    assert f"connected to      {emulator.serial}".replace("      ", " ") in " ".join(connected.stdout.split())
    assert "Planestrike_Virtual_Phone" in connected.stdout
    assert " ".join(connected.stdout.split()).count("runners benchmark_model ") == 1  # no runtime installed yet
    install_standin_runtime(emulator.state_dir)

    listed = planestrike(environment, "device", "list")
    assert f"{emulator.serial}  (default)" in listed.stdout

    pushed = planestrike(environment, "device", "push", str(REFERENCE_MODEL))  # the default device: no --device
    assert pushed.returncode == 0, pushed.stderr
    assert "403c809fd130cfa4" in pushed.stdout

    models = planestrike(environment, "device", "models")
    assert models.stdout.startswith("403c809fd130") and "85,004 bytes" in models.stdout

    bench = planestrike(environment, "device", "bench", "--model", str(REFERENCE_MODEL), "--runner", "persistent",
                        "--moves", "10", "--json")
    assert bench.returncode == 0, bench.stderr
    report = json.loads(bench.stdout.splitlines()[-1])
    assert report["moves"] == 10 and report["move_ms_median"] > 0 and report["inference_us_median"] > 0
    assert (report["runner"], report["backend"]) == ("persistent", "litert-cpu-standin")
    assert report["abi"] in ("arm64-v8a", "x86_64")

    removed = planestrike(environment, "device", "models", "--remove", "403c")
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert "no models pushed yet" in planestrike(environment, "device", "models").stdout


def test_setup_checks_the_installed_benchmark_model(environment, emulator):
    result = planestrike(environment, "device", "setup", "--device", emulator.serial)
    assert result.returncode == 0, result.stderr
    assert "classic TFLite tool" in result.stdout


def test_eval_plays_the_exact_benchmark_on_the_phone_and_matches_the_app_models_known_mean(environment, emulator):
    install_standin_runtime(emulator.state_dir)
    result = planestrike(environment, "eval", "--agent", f"device:{emulator.serial}:{REFERENCE_MODEL}", "--exact",
                         "--json", "--device-runner", "persistent")
    assert result.returncode == 0, result.stderr
    assert round(json.loads(result.stdout)["mean_strikes"], 4) == 13.1917


@pytest.mark.parametrize("arguments, message", [
    (["device", "push", str(REFERENCE_MODEL), "--device", "127.0.0.1:1"], "refused the connection"),
    (["device", "models"], "which phone?"),
    (["device", "connect", "not a host:port"], "is not HOST:PORT"),
    (["device", "connect", "127.0.0.1:\u00b2"], "the port must be a whole number from 1 to 65,535, got '\u00b2'"),
    (["device", "connect", "127.0.0.1:\u0661\u0662"], "got '\u0661\u0662'"),  # Arabic-Indic digits
    (["device", "connect", "127.0.0.1:0"], "the port must be a whole number from 1 to 65,535, got 0"),
    (["device", "connect", "127.0.0.1:65536"], "got 65,536"),
    (["eval", "--agent", "device"], "agent 'device' needs an argument: write device:SERIAL[:MODEL]"),
])
def test_mistakes_get_one_line_with_advice(environment, arguments, message):
    result = planestrike(environment, *arguments, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("planestrike: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_push_checks_the_model_before_it_connects(environment, tmp_path):
    notes = tmp_path / "notes.tflite"
    notes.write_text("not a model, just notes\n")
    result = planestrike(environment, "device", "push", str(notes), "--device", "127.0.0.1:1", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"planestrike: error: {notes}: not a TFLite model (it is a text file, no 'TFL3' identifier)"]


def test_connect_to_a_device_that_trickles_its_handshake_ends_at_the_connect_timeout(environment):
    def trickle(link):
        link.read_packet()
        link.trickle(adb_packet(b"CNXN", 0x01000000, 4096, DEVICE_BANNER), every_s=0.5)  # a minute in all

    with fake_device(trickle) as device:
        started = time.monotonic()
        result = planestrike(environment, "device", "connect", device.serial, timeout=60)
        elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"planestrike: error: {device.serial} accepted the connection but did not complete the ADB handshake within "
        f"5 s: is it an ADB port?"]
    assert 5 <= elapsed < 5 + 4  # the default connect timeout, plus starting Python


@pytest.mark.parametrize("action, value, message", [
    (["connect", "127.0.0.1"], "nan", "must be a number more than 0 and at most 3600, got 'nan'"),
    (["connect", "127.0.0.1"], "0", "must be a number more than 0 and at most 3600, got 0"),
    (["setup"], "-1", "must be a number more than 0 and at most 3600, got -1"),
])
def test_auth_timeout_must_be_a_positive_number(environment, action, value, message):
    result = planestrike(environment, "device", *action, "--auth-timeout", value, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"planestrike device {action[0]}: error: argument --auth-timeout: {message} "
        f"(see 'planestrike device {action[0]} --help')"]


def test_emulate_warns_about_real_processes_and_stops_cleanly_on_sigterm(tmp_path):
    with emulator_process(tmp_path / "phone", accept_all_keys=False) as emulator:
        output = emulator.terminate()
    assert "runs real processes on this computer" in output
    assert "only keys in" in output and "virtual phone stopped" in output
    assert emulator.process.returncode == 0
