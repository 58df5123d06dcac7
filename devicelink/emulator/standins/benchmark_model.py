"""Stand-in for TFLite's classic ``benchmark_model`` with the flags and file contract devicelink relies on.

Reads the model (``--graph``), fills each input from ``--input_layer_value_files=NAME:PATH`` (raw bytes, exactly
the tensor's size; '::' inside NAME stands for ':'), runs it ``--num_runs`` times, writes the raw bytes of every
output in order to ``--output_filepath`` and logs ``Inference (avg): N`` in microseconds, like the real tool.
Delegate flags are accepted and ignored: this "phone" only has a CPU.
"""

import sys
import time

HELP = """usage: benchmark_model --graph=PATH [flags]
Flags:
	--graph=string	path to the TFLite model file
	--num_runs=int	number of inference runs
	--min_secs=float	minimum seconds to run
	--warmup_runs=int	number of warmup runs
	--warmup_min_secs=float	minimum warmup seconds
	--num_threads=int	number of threads
	--input_layer=string	input layer names, comma separated
	--input_layer_shape=string	input layer shapes, ':' separated
	--input_layer_value_files=string	NAME:PATH pairs of raw input bytes, comma separated
	--output_filepath=string	file to write the raw bytes of all outputs to
	--use_gpu=bool	use the GPU delegate
	--use_nnapi=bool	use the NNAPI delegate
	--use_xnnpack=bool	use the XNNPACK delegate
"""


def parse_flags(argv):
    flags = {}
    for argument in argv:
        if not argument.startswith("--") or "=" not in argument:
            raise SystemExit(f"ERROR: unrecognized argument {argument!r}")
        name, value = argument[2:].split("=", 1)
        flags[name] = value
    return flags


def split_value_file(pair):
    """'NAME:PATH' with '::' escaping a ':' inside NAME."""
    index = 0
    while True:
        index = pair.index(":", index)
        if pair[index + 1:index + 2] == ":":
            index += 2
            continue
        return pair[:index].replace("::", ":"), pair[index + 1:]


def main(argv):
    if "--help" in argv:
        print(HELP)
        return 0
    flags = parse_flags(argv)
    if "graph" not in flags:
        print("ERROR: Please specify the name of your TF Lite input file with --graph", file=sys.stderr)
        return 1
    started = time.perf_counter()
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    print("INFO: STARTING!")
    print(f"INFO: Graph: [{flags['graph']}]")
    try:
        interpreter = Interpreter(model_path=flags["graph"], num_threads=int(flags.get("num_threads", "1")))
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        print(f"ERROR: Failed to load model {flags['graph']}: {error}", file=sys.stderr)
        return 1
    inputs = {detail["name"]: detail for detail in interpreter.get_input_details()}
    for pair in filter(None, flags.get("input_layer_value_files", "").split(",")):
        name, path = split_value_file(pair)
        if name not in inputs:
            print(f"ERROR: Cannot find the input layer {name!r} in the model", file=sys.stderr)
            return 1
        detail = inputs[name]
        expected = int(np.prod(detail["shape"])) * np.dtype(detail["dtype"]).itemsize
        with open(path, "rb") as handle:
            raw = handle.read()
        if len(raw) != expected:
            print(f"ERROR: {path} has {len(raw)} bytes, the input layer {name!r} needs {expected}", file=sys.stderr)
            return 1
        interpreter.set_tensor(detail["index"], np.frombuffer(raw, dtype=detail["dtype"]).reshape(detail["shape"]))
    init_us = (time.perf_counter() - started) * 1e6
    timings = []
    for _ in range(max(1, int(flags.get("num_runs", "50")))):
        begin = time.perf_counter()
        interpreter.invoke()
        timings.append((time.perf_counter() - begin) * 1e6)
    print(f"INFO: count={len(timings)} first={int(timings[0])} curr={int(timings[-1])}")
    print(f"INFO: Inference timings in us: Init: {int(init_us)}, First inference: {int(timings[0])}, "
          f"Warmup (avg): {timings[0]:g}, Inference (avg): {sum(timings) / len(timings):g}")
    if "output_filepath" in flags:
        with open(flags["output_filepath"], "wb") as handle:
            for detail in interpreter.get_output_details():
                handle.write(interpreter.get_tensor(detail["index"]).tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
