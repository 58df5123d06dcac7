"""The desktop side of the persistent runner protocol (docs/device-protocol.md).

The runner is started once per game through a shell-protocol-v2 stream, which gives it stdin, stdout, a separate
stderr and an exit status; requests and responses are single lines. Everything the runner sends is checked:
a reply must be a known verb with the id that was asked for, the probabilities exactly 64 finite float32s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devicelink import layout
from devicelink.errors import DeviceError, RunnerError
from devicelink.model_spec import ModelSpec
from devicelink.runners import Evaluation, decode_probabilities
from devicelink.session import DeviceSession, PushedModel, quote
from devicelink.stream import EXIT, STDERR, STDIN, STDOUT, ShellPackets, shell_packet

PROTOCOL = "planestrike-runner/1"
MAX_LINE_BYTES = 64 * 1024
STDERR_KEPT_BYTES = 4096  # the tail of the runner's stderr, for the message when it dies
_READY = re.compile(r"^ready (\S+) input=float32:(\S+) output=float32:(\S+)(?: backend=(\S+))?$")
_REPLIES = ("ok", "pong", "error")
_QUIT_WAIT_S = 2.0


@dataclass(frozen=True)
class PersistentOptions:
    runtime: str  # the runtime's folder on the phone (devicelink.runtime.installed_runtime)
    timeout_s: float = 20.0  # the whole start (stream and ready line), and each request with its answer
    threads: int = 1

    def command(self, model_path: str) -> list[str]:
        """The runtime's `start` script runs the runner through its own glibc loader (devicelink/runtime.py)."""
        return ["sh", f"{self.runtime}/{layout.RUNTIME_START}", "--model", model_path,
                "--threads", str(self.threads)]


class PersistentRunner:
    name = "persistent"

    def __init__(self, session: DeviceSession, model: PushedModel, spec: ModelSpec, options: PersistentOptions):
        self.session = session
        self.spec = spec
        self.options = options
        self._packets = ShellPackets()
        self._lines: list[str] = []
        self._partial = b""
        self._stderr = b""
        self._exit_code: int | None = None
        self._next_id = 1
        self.stream = None
        try:
            with session.operation("starting the runner", options.timeout_s):
                self.stream = session.open_stream(f"shell,v2,raw:{quote(options.command(model.device_path))}")
                self.backend = self._handshake()
        except BaseException:
            self.close()
            raise

    def _handshake(self) -> str:
        line = self._read_line("starting")
        match = _READY.match(line)
        if not match:
            raise RunnerError(f"the runner on {self.session.serial} did not start: {_shorten(line)}")
        protocol, input_shape, output_shape, backend = match.groups()
        if protocol != PROTOCOL:
            raise RunnerError(f"the runner speaks {protocol}, this planestrike speaks {PROTOCOL}: update one of them")
        expected_in = "x".join(map(str, self.spec.input_shape))
        expected_out = "x".join(map(str, self.spec.output_shape))
        if (input_shape, output_shape) != (expected_in, expected_out):
            raise RunnerError(f"the runner loaded a model of shape {input_shape} -> {output_shape}, "
                              f"expected {expected_in} -> {expected_out}")
        return backend or "unknown"

    # --- lines over shell v2 packets, always inside a session operation (its deadline bounds every wait) -------
    def _send_line(self, line: str) -> None:
        self.stream.write(shell_packet(STDIN, (line + "\n").encode("ascii")))

    def _read_line(self, doing: str) -> str:
        while not self._lines:
            if self._exit_code is not None:
                detail = self._stderr.decode("utf-8", "replace").strip().splitlines()
                raise RunnerError(f"the runner on {self.session.serial} exited with status {self._exit_code} while "
                                  f"{doing}" + (f": {_shorten(detail[-1])}" if detail else ""))
            data = self.stream.read()
            if not data:
                raise RunnerError(f"the runner's stream on {self.session.serial} closed while {doing}")
            self._take_packets(data)
        return self._lines.pop(0)

    def _take_packets(self, data: bytes) -> None:
        for packet_id, payload in self._packets.feed(data):
            if packet_id == STDOUT:
                *complete, self._partial = (self._partial + payload).split(b"\n")
                if len(self._partial) > MAX_LINE_BYTES or any(len(line) > MAX_LINE_BYTES for line in complete):
                    raise RunnerError(f"the runner sent a line over {MAX_LINE_BYTES} bytes: it is not speaking "
                                      f"{PROTOCOL}")
                self._lines += [line.decode("utf-8", "replace").rstrip("\r") for line in complete]
            elif packet_id == STDERR:
                self._stderr = (self._stderr + payload)[-STDERR_KEPT_BYTES:]
            elif packet_id == EXIT:
                self._exit_code = payload[0] if payload else -1

    # --- requests -------------------------------------------------------------------------------------------------
    def _request(self, verb: str, argument: str = "") -> list[str]:
        """Send one request and return its reply's words, all within the timeout."""
        request_id = self._next_id
        self._next_id += 1
        with self.session.operation(f"waiting for the runner to answer '{verb}'", self.options.timeout_s):
            self._send_line(f"{verb} {request_id} {argument}".rstrip())
            while True:
                words = self._read_line(f"answering '{verb}'").split()
                reply_id = _reply_id(words)
                if reply_id == request_id:
                    if words[0] == "error":
                        raise RunnerError(f"the runner on {self.session.serial} failed: "
                                          f"{_shorten(' '.join(words[2:]))}")
                    return words
                # A reply to an earlier request (one that timed out) is skipped; the deadline still runs.
                if reply_id is None or reply_id > request_id:
                    raise RunnerError(f"the runner answered garbage: {_shorten(' '.join(words))}")

    def evaluate(self, input_bytes: bytes) -> Evaluation:
        words = self._request("eval", input_bytes.hex())
        if words[0] != "ok" or len(words) != 4:
            raise RunnerError(f"the runner answered '{_shorten(' '.join(words))}' to eval")
        try:
            latency_us = float(words[2])
            raw = bytes.fromhex(words[3])
        except ValueError:
            raise RunnerError(f"the runner's answer is malformed: {_shorten(' '.join(words))}") from None
        return Evaluation(decode_probabilities(raw, self.spec.output_bytes, "the runner"), latency_us)

    def ping(self) -> None:
        if self._request("ping")[0] != "pong":
            raise RunnerError("the runner did not answer ping with pong")

    def close(self) -> None:
        if self.stream is None or self.stream.closed or not self.session.connected:
            return
        try:
            with self.session.operation("closing the runner", min(self.options.timeout_s, _QUIT_WAIT_S)):
                self._send_line("quit")
                self.stream.close()
        except DeviceError:
            pass  # closing: a dead runner or connection needs no goodbye


def _reply_id(words: list[str]) -> int | None:
    """The id a well-formed reply carries (ASCII digits only), else None."""
    if len(words) >= 2 and words[0] in _REPLIES and re.fullmatch(r"[0-9]{1,18}", words[1]):
        return int(words[1])
    return None


def _shorten(text: str, limit: int = 120) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
