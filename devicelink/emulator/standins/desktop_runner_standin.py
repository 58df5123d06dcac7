"""A desktop stand-in for the persistent runner, speaking docs/device-protocol.md over stdin/stdout.

The real runner is devicelink/runner/planestrike_runner.c, built for the phone by `planestrike device setup
--runtime`. This one runs desktop LiteRT through Python and says so (backend=litert-cpu-standin): the protocol
tests install it on the virtual phone explicitly (``Sandbox.install_standin_runtime``) when they need a runner
without a C toolchain. One model, loaded once; one line per request and per response.
"""

import sys
import time

PROTOCOL = "planestrike-runner/1"


def tensor_text(detail, np):
    dtype = np.dtype(detail["dtype"]).name
    return f"{dtype}:{'x'.join(str(int(n)) for n in detail['shape'])}"


def reply(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv):
    if len(argv) not in (2, 4) or argv[0] != "--model" or (len(argv) == 4 and argv[2] != "--threads"):
        reply("error - usage: desktop_runner_standin --model PATH [--threads N]")
        return 2
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=argv[1])
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        reply(f"error - cannot load {argv[1]}: {error}".replace("\n", " "))
        return 1
    (source,) = interpreter.get_input_details()
    (result,) = interpreter.get_output_details()
    input_bytes = int(np.prod(source["shape"])) * np.dtype(source["dtype"]).itemsize
    reply(f"ready {PROTOCOL} input={tensor_text(source, np)} output={tensor_text(result, np)} backend=litert-cpu-standin")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            return 0
        request_id = words[1] if len(words) > 1 else "-"
        if words[0] == "ping" and len(words) == 2:
            reply(f"pong {request_id}")
        elif words[0] == "eval" and len(words) == 3:
            try:
                raw = bytes.fromhex(words[2])
            except ValueError:
                reply(f"error {request_id} input is not hexadecimal")
                continue
            if len(raw) != input_bytes:
                reply(f"error {request_id} input has {len(raw)} bytes, the model needs {input_bytes}")
                continue
            interpreter.set_tensor(source["index"], np.frombuffer(raw, dtype=source["dtype"]).reshape(source["shape"]))
            begin = time.perf_counter()
            interpreter.invoke()
            latency_us = (time.perf_counter() - begin) * 1e6
            reply(f"ok {request_id} {latency_us:.1f} {interpreter.get_tensor(result['index']).tobytes().hex()}")
        else:
            reply(f"error {request_id} unknown request {words[0]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
