"""The phone as a Plane Strike opponent: ``device:SERIAL[:MODEL]``.

``DeviceAgent`` connects, pushes the model (cached on the phone by its sha256) and starts a runner, then asks the
phone for the probabilities of every board. It is deterministic (masked argmax over what the phone computed), so
exact evaluation over the 120 placements applies to it too. A dropped connection raises ``DeviceLost``; the next
call tries to reconnect once, so an app can keep the game going and bring the phone back.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from devicelink.errors import DeviceError, DeviceLost, DeviceUnreachable
from devicelink.session import Address, DeviceSession, SessionConfig
from engine.agents import Agent
from engine.errors import BadAgentSpec
from engine.specs import AgentKind

RUNNERS = ("auto", "benchmark_model", "persistent")  # auto: persistent when a LiteRT runtime is installed
# Specs carry no options: `eval --device-runner ...` sets the runner for the device specs of that command
# (runner_for_specs); this environment variable is the fallback when no command said.
RUNNER_ENVIRONMENT = "PLANESTRIKE_DEVICE_RUNNER"
_runner_for_specs: str | None = None


@dataclass(frozen=True)
class DeviceAgentConfig:
    serial: str
    model: Path | None = None  # None: the bundled model
    runner: str = "auto"  # one of RUNNERS
    threads: int = 1  # CPU threads on the phone (both runners)
    delegate: str = "cpu"  # benchmark_model only: cpu, xnnpack, gpu or nnapi
    move_timeout_s: float = 20.0  # each move, overall (and the persistent runner's start)
    session: SessionConfig = field(default_factory=SessionConfig)


def bundled_model() -> Path:
    from assets import BUNDLED_TFLITE

    if not Path(BUNDLED_TFLITE).is_file():
        raise DeviceError(f"the bundled model {BUNDLED_TFLITE} is missing: run 'planestrike convert', or name a model "
                          f"as device:SERIAL:MODEL")
    return Path(BUNDLED_TFLITE)


class DeviceAgent(Agent):
    kind = "device"
    deterministic = True

    def __init__(self, config: DeviceAgentConfig, on_auth_wait: Callable[[], None] | None = None):
        from devicelink.model_spec import read_model_spec

        if config.runner not in RUNNERS:
            raise DeviceError(f"unknown device runner '{config.runner}': use one of {', '.join(RUNNERS)}")
        self.config = config
        self.model_path = config.model or bundled_model()
        self.spec = read_model_spec(self.model_path)
        self.name = f"Phone {config.serial}"
        self.runner = None
        self.runner_name: str | None = None  # the runner in use: benchmark_model or persistent
        self.abi = ""  # the phone's, from getprop
        self.pushed = None  # the model on the phone, once pushed
        self.last_latency_us: float | None = None  # inference time the phone reported for the last board
        self.session = DeviceSession.open(config.serial, config.session, on_auth_wait=on_auth_wait)
        try:
            self._start_runner()
        except BaseException:
            self.session.close()
            raise

    def _start_runner(self) -> None:
        from devicelink.runtime import installed_runtime, phone_abi

        self.pushed = self.session.push_model(self.model_path)
        runtime = installed_runtime(self.session) if self.config.runner != "benchmark_model" else None
        self.abi = self.abi or phone_abi(self.session)
        if self.config.runner == "persistent" and runtime is None:
            raise DeviceError(f"no LiteRT runtime on {self.config.serial} for the persistent runner: run 'planestrike "
                              f"device setup --runtime --device {self.config.serial}' (or use benchmark_model)")
        self.runner_name = "persistent" if runtime else "benchmark_model"
        if runtime:
            from devicelink.runners.persistent import PersistentOptions, PersistentRunner

            self.runner = PersistentRunner(self.session, self.pushed, self.spec, PersistentOptions(
                runtime, timeout_s=self.config.move_timeout_s, threads=self.config.threads))
        else:
            from devicelink.runners.benchmark_model import BenchmarkModelRunner, BenchmarkOptions

            self.runner = BenchmarkModelRunner(self.session, self.pushed, self.spec, BenchmarkOptions(
                threads=self.config.threads, delegate=self.config.delegate, timeout_s=self.config.move_timeout_s))

    @property
    def backend(self) -> str:
        """What computes the moves: the persistent runner's own word (LiteRT and its accelerator), else the tool."""
        if self.runner is None:
            return "unknown"
        return getattr(self.runner, "backend", None) or f"benchmark_model-{self.config.delegate}"

    @property
    def online(self) -> bool:
        return self.runner is not None and self.session.connected

    def reconnect(self, on_auth_wait: Callable[[], None] | None = None) -> None:
        """Bring the phone back after ``DeviceLost`` or a runner failure: connect if needed, then a fresh runner
        (the model is still cached on the phone, so nothing is pushed again)."""
        self._drop_runner()
        try:
            if not self.session.connected:
                self.session.connect(on_auth_wait)
            self._start_runner()
        except DeviceUnreachable as error:
            raise DeviceLost(f"{self.config.serial} is still unreachable: {error}") from None

    def probabilities_batch(self, boards: np.ndarray) -> np.ndarray:
        boards = np.asarray(boards, dtype=np.float32).reshape(-1, 64)
        if not self.online:
            self.reconnect()
        results = []
        for board in boards:
            try:
                evaluation = self.runner.evaluate(board.reshape(self.spec.input_shape).astype("<f4").tobytes())
            except DeviceError:
                # A lost phone or a runner in an unknown state (half a reply, a crash): start afresh next time.
                self._drop_runner()
                raise
            self.last_latency_us = evaluation.latency_us
            results.append(evaluation.probabilities)
            _report_move(len(boards))
        return np.stack(results).astype(np.float32)

    def _drop_runner(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            try:
                runner.close()
            except DeviceError:
                pass  # the phone is gone or the runner is stuck: nothing left to tidy up over the wire

    def close(self) -> None:
        self._drop_runner()
        self.session.close()


def parse_device_argument(argument: str) -> tuple[str, Path | None]:
    """``SERIAL[:MODEL]`` where SERIAL is HOST:PORT (``[IPV6]:PORT``) or a USB serial: (serial, model or None)."""
    tcp = re.fullmatch(r"(\[[^\]]*\]|[^:]+):([^:]*)(?::(.*))?", argument)
    port_like = tcp is not None and tcp.group(2) != "" and all(ch in "+-" or ch.isdigit() for ch in tcp.group(2))
    if tcp and (tcp.group(1).startswith("[") or port_like):  # HOST:PORT, or one with a bad port: say so
        host, port, model = tcp.groups()
        address = Address.parse(f"{host}:{port}")
    elif "::" in argument:
        raise BadAgentSpec(f"'device:{argument}': write an IPv6 address in brackets, like device:[::1]:5555")
    else:
        serial, colon, model = argument.partition(":")
        address, model = Address.parse(serial), model if colon else None
    if model == "":
        raise BadAgentSpec(f"'device:{argument}' ends with ':': give the model file after it, or drop the ':'")
    return address.serial, Path(model) if model else None


@contextlib.contextmanager
def runner_for_specs(runner: str | None) -> Iterator[None]:
    """Within this block, ``device:`` specs use ``runner`` (None: the environment variable, else auto)."""
    global _runner_for_specs
    if runner is not None and runner not in RUNNERS:
        raise DeviceError(f"unknown device runner '{runner}': use one of {', '.join(RUNNERS)}")
    previous, _runner_for_specs = _runner_for_specs, runner
    try:
        yield
    finally:
        _runner_for_specs = previous


# Who hears about each move a device agent computes: (moves in the current batch) -> None. A command's progress
# bar registers here (watching_moves), since agents built from specs take no callbacks.
_move_listeners: list[Callable[[int], None]] = []


@contextlib.contextmanager
def watching_moves(listener: Callable[[int], None]) -> Iterator[None]:
    _move_listeners.append(listener)
    try:
        yield
    finally:
        _move_listeners.remove(listener)


def _report_move(batch_size: int) -> None:
    for listener in list(_move_listeners):
        listener(batch_size)


def _load(argument: str, seed: int) -> DeviceAgent:
    serial, model = parse_device_argument(argument)
    runner = _runner_for_specs or os.environ.get(RUNNER_ENVIRONMENT) or "auto"
    return DeviceAgent(DeviceAgentConfig(serial, model, runner=runner))


DEVICE_KIND = AgentKind("device", "device:SERIAL[:MODEL]", "the model running on an Android phone over ADB", _load)
