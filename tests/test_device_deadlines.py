"""Programs on the virtual phone that never finish, or never stop printing: each ends at its deadline, one line.

The virtual phone runs real processes, so these install misbehaving scripts as its benchmark_model or persistent
runner. A phone that sends a little now and then used to hold the client forever: adb-shell's timeouts restart
on every read. After each failure the phone and this process are still fine: the next call works.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest

from devicelink import agent as agent_module
from devicelink import layout
from devicelink.agent import DeviceAgent, DeviceAgentConfig
from devicelink.errors import DeviceCommandFailed, DeviceTimeout, RunnerError
from devicelink.session import MAX_OUTPUT_BYTES, DeviceSession, SessionConfig
from devicelink.setup import install_benchmark_model
import device_helpers
from device_helpers import REFERENCE_MODEL, install_program, install_runtime_script, phone_in_thread

MOVE_TIMEOUT_S = 1.0
SLACK_S = 1.5  # starting a program on the phone, and a busy machine
READY = "echo 'ready planestrike-runner/1 input=float32:1x8x8 output=float32:1x64'\n"
EMPTY_BOARD = np.zeros((8, 8), np.float32)


def agent_for(phone, key, runner: str) -> DeviceAgent:
    return DeviceAgent(DeviceAgentConfig(phone.serial, REFERENCE_MODEL, runner=runner, move_timeout_s=MOVE_TIMEOUT_S,
                                         session=SessionConfig(key_path=key, command_timeout_s=10)))


def fails_in_time(action, error_type, match: str, deadline_s: float = MOVE_TIMEOUT_S) -> None:
    device_helpers.fails_in_time(action, error_type, match, deadline_s, SLACK_S)


def test_a_benchmark_model_printing_a_dot_now_and_then_ends_at_the_move_timeout(phone, key):
    install_program(phone, layout.BENCHMARK_MODEL, "#!/bin/sh\nwhile true; do printf .; sleep 0.2; done\n")
    agent = agent_for(phone, key, "benchmark_model")
    try:
        fails_in_time(lambda: agent.probabilities(EMPTY_BOARD), DeviceTimeout,
                      "did not answer in time: running benchmark_model took over 1 s")
        assert not agent.online
        phone.sandbox.host_path(layout.BENCHMARK_MODEL).unlink()
        phone.sandbox.install_standins()
        assert agent.probabilities(EMPTY_BOARD).shape == (64,)  # the next move reconnects
    finally:
        agent.close()


@pytest.mark.parametrize("reply", [
    "printf x",  # half a line, a byte at a time, never finished
    "echo 'pong 1'",  # the answer to the earlier ping, again and again: each is skipped, none extends the deadline
])
def test_a_runner_that_never_answers_the_request_ends_at_the_move_timeout(phone, key, reply):
    script = READY + f"read line\necho 'pong 1'\nread line\nwhile true; do {reply}; sleep 0.2; done\n"
    install_runtime_script(phone, script)
    agent = agent_for(phone, key, "persistent")
    try:
        agent.runner.ping()
        fails_in_time(lambda: agent.probabilities(EMPTY_BOARD), DeviceTimeout,
                      "waiting for the runner to answer 'eval' took over 1 s")
        assert not agent.online
    finally:
        agent.close()
    with DeviceSession.open(phone.serial, SessionConfig(key_path=key)) as session:
        assert session.run(["true"]).exit_code == 0


@pytest.mark.parametrize("script, message", [
    (READY + "read line\nwhile true; do echo 'pong 999999'; sleep 2; done\n", "answered garbage: pong 999999"),
    (READY + "read line\nhead -c 70000 /dev/zero | tr '\\0' x; echo\nsleep 5\n", "a line over 65536 bytes"),
])
def test_a_runner_that_answers_out_of_bounds_fails_at_once(phone, key, script, message):
    install_runtime_script(phone, script)
    agent = agent_for(phone, key, "persistent")
    try:
        fails_in_time(lambda: agent.probabilities(EMPTY_BOARD), RunnerError, message, deadline_s=0)
    finally:
        agent.close()


def test_a_command_that_prints_without_end_is_cut_at_the_output_limit(tmp_path, key):
    # The phone kills `yes` when the client stops reading, and must reap it although its output pipe was paused:
    # a phone that did not would take its full join timeout to stop below.
    with phone_in_thread(tmp_path / "phone", accept_all_keys=True) as phone:
        with DeviceSession.open(phone.serial, SessionConfig(key_path=key)) as session:
            started = time.monotonic()
            with pytest.raises(DeviceCommandFailed, match=f"'yes' printed more than {MAX_OUTPUT_BYTES:,} bytes"):
                session.run(["yes"])
            assert time.monotonic() - started < SLACK_S
            assert session.run(["echo", "still here"]).stdout == b"still here\n"
        stopping = time.monotonic()
    assert time.monotonic() - stopping < SLACK_S


def test_a_file_larger_than_the_pull_limit_is_refused_and_the_session_goes_on(session, phone):
    phone.sandbox.host_path(layout.DEVICE_TMP).joinpath("big.bin").write_bytes(bytes(100_000))
    with pytest.raises(DeviceCommandFailed, match="larger than 65,536 bytes"):
        session.pull(f"{layout.DEVICE_TMP}/big.bin", max_bytes=65_536)
    assert session.pull(f"{layout.DEVICE_TMP}/big.bin") == bytes(100_000)


def test_setup_with_a_binary_whose_help_never_ends_stops_at_its_deadline(phone, key, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_text("#!/bin/sh\nwhile true; do printf .; sleep 0.2; done\n")
    with DeviceSession.open(phone.serial, SessionConfig(key_path=key, command_timeout_s=0.5)) as session:
        fails_in_time(lambda: install_benchmark_model(session, str(binary)), DeviceTimeout,
                      "running benchmark_model --help took over 0.5 s", deadline_s=0.5)
    assert phone.sandbox.host_path(layout.BENCHMARK_MODEL).read_bytes() != binary.read_bytes()


def test_eval_against_a_stalled_phone_prints_one_line(phone, key, monkeypatch, capsys):
    from planestrike_tui.cli import main

    home = key.parent.parent / "eval-home"
    (home / ".android").mkdir(parents=True, exist_ok=True)
    for name in ("adbkey", "adbkey.pub"):
        (home / ".android" / name).write_bytes((key.parent / name).read_bytes())
    monkeypatch.setenv("HOME", str(home))
    # The spec has no options: give the agent it builds a short move timeout.
    monkeypatch.setattr(agent_module, "DeviceAgentConfig", functools.partial(DeviceAgentConfig,
                                                                             move_timeout_s=MOVE_TIMEOUT_S))
    install_program(phone, layout.BENCHMARK_MODEL, "#!/bin/sh\nwhile true; do printf .; sleep 0.2; done\n")
    started = time.monotonic()
    status = main(["eval", "--agent", f"device:{phone.serial}:{REFERENCE_MODEL}", "--games", "2",
                   "--device-runner", "benchmark_model"])
    elapsed = time.monotonic() - started
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(errors) == 1
    assert errors[0].startswith("planestrike: error: ") and "did not answer in time" in errors[0]
    assert elapsed < MOVE_TIMEOUT_S + 2 * SLACK_S  # connecting, pushing the model, then one stalled move
