"""The desktop side of the persistent runner protocol (docs/device-protocol.md).

The runner is started once per game through a shell-protocol-v2 stream, which gives it stdin, stdout, a separate
stderr and an exit status; requests and responses are single lines. Everything the runner sends is checked:
a reply must be a known verb with the id that was asked for, the probabilities exactly 64 finite float32s.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from devicelink import layout
from devicelink.errors import DeviceError, RunnerError
from devicelink.model_spec import ModelSpec
from devicelink.runners import Evaluation, decode_probabilities
from devicelink.session import DeviceSession, PushedModel, quote

PROTOCOL = "planestrike-runner/1"
MAX_LINE_BYTES = 64 * 1024
_PACKET = struct.Struct("<BI")
_STDIN, _STDOUT, _STDERR, _EXIT, _CLOSE_STDIN = range(5)
_READY = re.compile(r"^ready (\S+) input=float32:(\S+) output=float32:(\S+)(?: backend=(\S+))?$")


@dataclass(frozen=True)
class PersistentOptions:
    timeout_s: float = 20.0  # for the runner to start and for each answer
    binary: str = layout.PERSISTENT_RUNNER


class PersistentRunner:
    name = "persistent"

    def __init__(self, session: DeviceSession, model: PushedModel, spec: ModelSpec, options: PersistentOptions):
        self.session = session
        self.spec = spec
        self.options = options
        self._lines: list[str] = []
        self._partial = b""
        self._packets = b""
        self._stderr = b""
        self._exit_code: int | None = None
        self._next_id = 1
        self.stream = session.open_stream(f"shell,v2,raw:{quote([options.binary, '--model', model.device_path])}",
                                          timeout_s=options.timeout_s)
        self.backend = self._handshake()

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

    # --- lines over shell v2 packets ------------------------------------------------------------------------------
    def _send_line(self, line: str) -> None:
        payload = (line + "\n").encode("ascii")
        with self.session.stream_errors("talking to the runner"):
            self.stream.write(_PACKET.pack(_STDIN, len(payload)) + payload)

    def _read_line(self, doing: str) -> str:
        while not self._lines:
            if self._exit_code is not None:
                detail = self._stderr.decode("utf-8", "replace").strip().splitlines()
                raise RunnerError(f"the runner on {self.session.serial} exited with status {self._exit_code} while "
                                  f"{doing}" + (f": {_shorten(detail[-1])}" if detail else ""))
            with self.session.stream_errors(f"waiting for the runner ({doing})"):
                data = self.stream.read()
            if not data:
                raise RunnerError(f"the runner's stream on {self.session.serial} closed while {doing}")
            self._take_packets(data)
        return self._lines.pop(0)

    def _take_packets(self, data: bytes) -> None:
        self._packets += data
        while len(self._packets) >= _PACKET.size:
            packet_id, length = _PACKET.unpack_from(self._packets)
            if len(self._packets) < _PACKET.size + length:
                break
            payload = self._packets[_PACKET.size:_PACKET.size + length]
            self._packets = self._packets[_PACKET.size + length:]
            if packet_id == _STDOUT:
                self._partial += payload
                *complete, self._partial = self._partial.split(b"\n")
                self._lines += [line.decode("utf-8", "replace").rstrip("\r") for line in complete]
                if len(self._partial) > MAX_LINE_BYTES:
                    raise RunnerError(f"the runner sent a line over {MAX_LINE_BYTES} bytes: it is not speaking {PROTOCOL}")
            elif packet_id == _STDERR:
                self._stderr = (self._stderr + payload)[-4096:]
            elif packet_id == _EXIT:
                self._exit_code = payload[0] if payload else -1

    # --- requests -------------------------------------------------------------------------------------------------
    def _request(self, verb: str, argument: str = "") -> list[str]:
        request_id = str(self._next_id)
        self._next_id += 1
        self._send_line(f"{verb} {request_id} {argument}".rstrip())
        while True:
            words = self._read_line(f"answering '{verb}'").split()
            # A reply to an earlier request that timed out is skipped; anything else that is not ours is garbage.
            if len(words) >= 2 and words[0] in ("ok", "pong", "error") and words[1].isdigit() and words[1] != request_id:
                continue
            if len(words) >= 2 and words[1] == request_id:
                if words[0] == "error":
                    raise RunnerError(f"the runner on {self.session.serial} failed: {_shorten(' '.join(words[2:]))}")
                return words
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
        if self.stream.closed or not self.session.connected:
            return
        try:
            self._send_line("quit")
            with self.session.stream_errors("closing the runner"):
                self.stream.close()
        except DeviceError:
            pass  # closing: a dead runner or connection needs no goodbye


def _shorten(text: str, limit: int = 120) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
