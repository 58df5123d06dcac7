"""The default runner: TFLite's classic ``benchmark_model`` binary, run once per move.

Per move: push the board as the input tensor's raw bytes, run the tool once with no warm-up, pull the output file
(raw float32) and parse the inference time it logs. Each runner works in its own folder on the phone, so two
clients can share a phone. The newer LiteRT benchmark tool cannot read inputs from or write outputs to files:
``validate_help`` tells the two apart.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from devicelink import layout
from devicelink.errors import DeviceCommandFailed, DeviceError, DeviceUnsupported, RunnerError
from devicelink.model_spec import ModelSpec
from devicelink.runners import Evaluation, decode_probabilities
from devicelink.session import DeviceSession, PushedModel, quote

REQUIRED_FLAGS = ("--input_layer_value_files", "--output_filepath")
DELEGATES = ("cpu", "xnnpack", "gpu", "nnapi")
_INFERENCE_AVG = re.compile(rb"Inference \(avg\): ([0-9.eE+-]+)")
MAX_OUTPUT_FILE_BYTES = 64 * 1024  # the output file holds 256 bytes; anything far larger is not worth pulling


@dataclass(frozen=True)
class BenchmarkOptions:
    threads: int = 1
    delegate: str = "cpu"  # one of DELEGATES
    timeout_s: float = 20.0  # each move: push the board, run the tool, pull its output
    binary: str = layout.BENCHMARK_MODEL


def validate_help(help_text: str, binary: str) -> None:
    missing = [flag for flag in REQUIRED_FLAGS if flag not in help_text]
    if missing:
        raise DeviceUnsupported(
            f"{binary} does not list {' or '.join(missing)} in its --help: it is probably the newer LiteRT benchmark "
            f"tool, which cannot read inputs from files or write outputs. Use the classic TFLite benchmark_model "
            f"for android_aarch64 (see docs/device.md)")


class BenchmarkModelRunner:
    name = "benchmark_model"

    def __init__(self, session: DeviceSession, model: PushedModel, spec: ModelSpec, options: BenchmarkOptions):
        if options.delegate not in DELEGATES:
            raise RunnerError(f"unknown delegate '{options.delegate}': use one of {', '.join(DELEGATES)}")
        self.session = session
        self.options = options
        self.spec = spec
        self.work_dir = f"{layout.WORK_DIR}/{secrets.token_hex(6)}"
        self.input_path = f"{self.work_dir}/input.bin"
        self.output_path = f"{self.work_dir}/output.bin"
        name = spec.input_name.replace(":", "::")  # benchmark_model's escape for ':' inside a layer name
        self.arguments = [
            options.binary, f"--graph={model.device_path}",
            f"--input_layer={spec.input_name}", f"--input_layer_shape={spec.shape_text}",
            f"--input_layer_value_files={name}:{self.input_path}", f"--output_filepath={self.output_path}",
            "--num_runs=1", "--warmup_runs=0", "--min_secs=0", "--warmup_min_secs=0",
            f"--num_threads={options.threads}",
        ]
        if options.delegate != "cpu":
            self.arguments.append(f"--use_{options.delegate}=true")
        session.check(["mkdir", "-p", self.work_dir])

    def evaluate(self, input_bytes: bytes) -> Evaluation:
        """One move: push the board, run the tool, pull its output, all within the move's timeout."""
        with self.session.operation("computing a move with benchmark_model", self.options.timeout_s):
            self.session.push(input_bytes, self.input_path)
            # Remove the last output first: a tool that exits 0 without writing must not hand back the previous move.
            script = f"rm -f {quote([self.output_path])} && {quote(self.arguments)}"
            result = self.session.run(["sh", "-c", script], doing="running benchmark_model")
            if result.exit_code != 0:
                output_lines = result.stdout.decode("utf-8", "replace").strip().splitlines()
                detail = result.stderr_line() or (output_lines[-1] if output_lines else "")
                raise RunnerError(f"benchmark_model failed on {self.session.serial} with exit status "
                                  f"{result.exit_code}" + (f": {detail[:200]}" if detail else ""))
            try:
                raw = self.session.pull(self.output_path, MAX_OUTPUT_FILE_BYTES)
            except DeviceCommandFailed:
                raise RunnerError(f"benchmark_model exited 0 on {self.session.serial} but wrote no usable output "
                                  f"file (missing, or over {MAX_OUTPUT_FILE_BYTES:,} bytes): is it the classic TFLite "
                                  f"tool? (see 'planestrike device setup')") from None
        probabilities = decode_probabilities(raw, self.spec.output_bytes, "benchmark_model")
        match = _INFERENCE_AVG.search(result.stdout + result.stderr)
        return Evaluation(probabilities, float(match.group(1)) if match else None)

    def close(self) -> None:
        if self.session.connected:
            try:
                self.session.run(["rm", "-rf", self.work_dir])
            except (DeviceError, OSError, ValueError, TypeError):
                # Best effort: a leftover work folder holds two small files. The socket may also be closed under
                # us by a worker that lost the phone meanwhile (select() then fails on a closed descriptor).
                pass
