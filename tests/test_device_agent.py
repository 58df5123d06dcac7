"""The phone as an opponent: exact agreement with desktop LiteRT, untrusted output, timeouts, losing the phone."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from devicelink import layout
from devicelink.agent import DeviceAgent, DeviceAgentConfig, parse_device_argument
from devicelink.errors import DeviceLost, RunnerError
from devicelink.session import SessionConfig
from engine.agents import Agent
from engine.evaluation import evaluate
from engine.specs import parse_agent_spec
from device_helpers import (REFERENCE_MODEL, emulator_process, install_program, install_runtime_script,
                            install_standin_runtime, trust)


class DesktopLiteRT(Agent):
    """The reference: the same model run by LiteRT in this process, recording every board it saw."""

    kind = "desktop"

    def __init__(self):
        from ai_edge_litert.interpreter import Interpreter

        self.name = "desktop LiteRT"
        self._interpreter = Interpreter(model_path=str(REFERENCE_MODEL))
        self._interpreter.allocate_tensors()
        self.boards: list[np.ndarray] = []

    def probabilities(self, board):
        board = np.asarray(board, dtype=np.float32).reshape(1, 8, 8)
        self.boards.append(board.copy())
        self._interpreter.set_tensor(self._interpreter.get_input_details()[0]["index"], board)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._interpreter.get_output_details()[0]["index"])[0].copy()


def agent_for(phone_serial, key, runner="persistent", move_timeout_s=10.0) -> DeviceAgent:
    return DeviceAgent(DeviceAgentConfig(phone_serial, REFERENCE_MODEL, runner=runner, move_timeout_s=move_timeout_s,
                                         session=SessionConfig(key_path=key, command_timeout_s=10)))


def sample_boards(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-1, 0, 0, 0, 1], dtype=np.float32), size=(count, 8, 8))


# --- agreement ----------------------------------------------------------------------------------------------------
def test_every_board_of_an_exact_evaluation_gets_desktop_litert_probabilities_through_the_persistent_runner(phone, key):
    desktop = DesktopLiteRT()
    expected = evaluate(desktop, exact=True)
    agent = agent_for(phone.serial, key)
    try:
        assert agent.kind == "device" and agent.deterministic
        report = evaluate(agent, exact=True)
        assert report.mean_strikes == expected.mean_strikes
        boards = np.concatenate(desktop.boards[::7])
        assert np.array_equal(agent.probabilities_batch(boards), np.stack([desktop.probabilities(b) for b in boards]))
        assert agent.last_latency_us is not None and agent.last_latency_us > 0
    finally:
        agent.close()


def test_benchmark_model_gives_desktop_litert_probabilities_bit_for_bit(phone, key):
    desktop = DesktopLiteRT()
    agent = agent_for(phone.serial, key, runner="benchmark_model", move_timeout_s=30)
    try:
        for board in sample_boards(3, seed=1):
            assert np.array_equal(agent.probabilities(board), desktop.probabilities(board))
            assert agent.last_latency_us is not None  # parsed from "Inference (avg): N"
    finally:
        agent.close()


def test_the_spec_names_a_tcp_serial_and_an_optional_model():
    assert parse_device_argument("127.0.0.1:5555") == ("127.0.0.1:5555", None)
    assert parse_device_argument("127.0.0.1:5555:models/a:b.tflite")[1].name == "a:b.tflite"
    assert parse_device_argument("R58M12ABCDE:m.tflite")[0] == "R58M12ABCDE"


def test_the_device_spec_loads_through_the_entry_point(phone, key, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(key.parent.parent / "spec-home"))
    android = key.parent.parent / "spec-home" / ".android"
    android.mkdir(parents=True, exist_ok=True)
    for name in ("adbkey", "adbkey.pub"):
        (android / name).write_bytes((key.parent / name).read_bytes())
    monkeypatch.delenv("PLANESTRIKE_DEVICE_RUNNER", raising=False)
    agent = parse_agent_spec(f"device:{phone.serial}:{REFERENCE_MODEL}")
    try:
        assert isinstance(agent, DeviceAgent)
        assert agent.runner_name == "persistent"  # auto: the phone has a runtime (the stand-in, here)
        assert agent.choose(np.zeros((8, 8), np.float32)) == DesktopLiteRT().choose(np.zeros((8, 8), np.float32))
    finally:
        agent.close()


# --- untrusted output ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("script, message", [
    ("#!/bin/sh\necho 'hello, I am not a runner'\n", "did not start"),
    ("#!/bin/sh\necho 'ready planestrike-runner/1 input=float32:1x8x8 output=float32:1x64'\n"
     "read line; echo 'complete garbage'; sleep 5\n", "garbage"),
    ("#!/bin/sh\necho 'ready planestrike-runner/1 input=float32:1x8x8 output=float32:1x64'\n"
     "read line; echo \"ok 1 5.0 $(printf '0000c07f%.0s' $(seq 64))\"; sleep 5\n", "NaN"),
    ("#!/bin/sh\necho 'ready planestrike-runner/1 input=float32:1x8x8 output=float32:1x64'\n"
     "read line; echo 'ok 1 5.0 0000803f'; sleep 5\n", "4 bytes instead of 256"),
    ("#!/bin/sh\necho 'ready planestrike-runner/1 input=float32:1x8x8 output=float32:1x64'\n"
     "echo 'runner crashed: out of memory' >&2; exit 9\n", "status 9.*out of memory"),
])
def test_a_persistent_runner_that_answers_garbage_gets_a_clear_error(phone, key, script, message):
    install_runtime_script(phone, script)
    with pytest.raises(RunnerError, match=message):
        agent = agent_for(phone.serial, key)
        try:
            agent.probabilities(np.zeros((8, 8), np.float32))
        finally:
            agent.close()


@pytest.mark.parametrize("script, message", [
    ("#!/bin/sh\nfor a; do case $a in --output_filepath=*) printf 'abc' > \"${a#*=}\";; esac; done\n",
     "3 bytes instead of 256"),
    ("#!/bin/sh\necho 'Segmentation fault' >&2; exit 139\n", "exit status 139: Segmentation fault"),
    ("#!/bin/sh\necho 'Inference (avg): 12'\n", "wrote no usable output file"),
    ("#!/bin/sh\nfor a; do case $a in --output_filepath=*) head -c 100000 /dev/zero > \"${a#*=}\";; esac; done\n",
     "wrote no usable output file \\(missing, or over 65,536 bytes\\)"),
])
def test_a_benchmark_model_that_misbehaves_gets_a_clear_error(phone, key, script, message):
    install_program(phone, layout.BENCHMARK_MODEL, script)
    agent = agent_for(phone.serial, key, runner="benchmark_model")
    try:
        with pytest.raises(RunnerError, match=message):
            agent.probabilities(np.zeros((8, 8), np.float32))
    finally:
        agent.close()


def test_a_runner_that_hangs_times_out_and_the_agent_recovers(phone, key):
    install_program(phone, layout.BENCHMARK_MODEL, "#!/bin/sh\nsleep 60\n")
    agent = agent_for(phone.serial, key, runner="benchmark_model", move_timeout_s=0.5)
    try:
        with pytest.raises(DeviceLost, match="did not answer in time"):
            agent.probabilities(np.zeros((8, 8), np.float32))
        assert not agent.online
        # The user fixes the phone and allows a slower start; the next move reconnects by itself.
        phone.sandbox.host_path(layout.BENCHMARK_MODEL).unlink()
        phone.sandbox.install_standins()
        agent.config = dataclasses.replace(agent.config, move_timeout_s=30)
        assert agent.probabilities(np.zeros((8, 8), np.float32)).shape == (64,)
    finally:
        agent.close()


# --- losing the phone ---------------------------------------------------------------------------------------------
def test_killing_the_phone_mid_move_raises_device_lost_and_reconnecting_works(tmp_path, key):
    state = tmp_path / "phone"
    trust(state, key)
    with emulator_process(state, accept_all_keys=False) as emulator:
        port = emulator.port
        # A runner that answers the handshake, then sits on the move: the kill lands mid-move.
        install_runtime_script(state, "#!/bin/sh\necho 'ready planestrike-runner/1 input=float32:1x8x8 "
                                      "output=float32:1x64'\nread line\nsleep 60\n")
        agent = agent_for(emulator.serial, key, move_timeout_s=30)
        try:
            killer = threading.Timer(0.5, emulator.kill)
            killer.start()
            with pytest.raises(DeviceLost):
                agent.probabilities(np.zeros((8, 8), np.float32))
            killer.join()
            assert not agent.online
            with pytest.raises(DeviceLost, match="still unreachable"):
                agent.probabilities(np.zeros((8, 8), np.float32))
            install_standin_runtime(state)
            with emulator_process(state, port=port, accept_all_keys=False):
                probabilities = agent.probabilities(np.zeros((8, 8), np.float32))
                assert np.array_equal(probabilities, DesktopLiteRT().probabilities(np.zeros((8, 8), np.float32)))
                assert agent.online
        finally:
            agent.close()


def test_the_persistent_runner_answers_ping_and_a_failed_runner_is_restarted_on_the_next_move(phone, key):
    agent = agent_for(phone.serial, key)
    try:
        agent.runner.ping()
        assert agent.runner.backend == "litert-cpu-standin"
        good = agent.probabilities(np.zeros((8, 8), np.float32))
        with agent.session.operation("telling the runner to quit"):  # it exits under the agent's feet
            agent.runner.stream.write(b"\x00\x05\x00\x00\x00quit\n")
        with pytest.raises(RunnerError, match="exited with status 0"):
            agent.probabilities(np.zeros((8, 8), np.float32))
        assert np.array_equal(agent.probabilities(np.zeros((8, 8), np.float32)), good)
    finally:
        agent.close()


def test_two_agents_share_one_phone_at_once(phone, key):
    desktop = DesktopLiteRT()
    boards = sample_boards(40, seed=2)
    expected = np.stack([desktop.probabilities(board) for board in boards])
    results: dict[str, list] = {"persistent": [], "second persistent": []}
    errors = []

    def play(label: str):
        try:
            agent = agent_for(phone.serial, key)
            try:
                for _ in range(3):
                    results[label].append(agent.probabilities_batch(boards))
            finally:
                agent.close()
        except BaseException as error:  # reported to the main thread
            errors.append(error)

    threads = [threading.Thread(target=play, args=(label,)) for label in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for runs in results.values():
        assert len(runs) == 3 and all(np.array_equal(run, expected) for run in runs)


def test_without_a_model_the_bundled_one_is_used_and_its_absence_explained(monkeypatch, tmp_path):
    import assets

    from devicelink.agent import bundled_model
    from devicelink.errors import DeviceError

    monkeypatch.setattr(assets, "BUNDLED_TFLITE", tmp_path / "planestrike.tflite")
    with pytest.raises(DeviceError, match="planestrike convert"):
        bundled_model()
    (tmp_path / "planestrike.tflite").write_bytes(REFERENCE_MODEL.read_bytes())
    assert bundled_model() == tmp_path / "planestrike.tflite"
