"""What the LiteRT agent adds to a bare ``invoke()``, and what conversion costs.

Target (issue 4): the agent's per-move overhead over a bare ``invoke()`` stays under 2x. Measured in the same
run, on the same interpreter settings, interleaved in rounds so machine noise hits both sides alike. Each time is
the median over rounds; each ratio is the median of the rounds' own ratios, since a round's sides ran within half
a second of each other under the same load, while two medians may come from rounds under different loads:
- baseline: ``interpreter.invoke()`` on an input set once (the floor: no data in or out);
- ``probabilities``: ``LiteRTAgent.probabilities(board)``, what the app and ``compare`` call per move (set the
  board, invoke, copy the 64 scores out, through LiteRT's C++ wrapper rather than its Python methods);
- ``api_floor``: the public three interpreter calls (``set_tensor``, ``invoke``, ``get_tensor``) written inline with
  nothing else, for reference: what a caller of LiteRT's Python API pays to get data in and out;
- ``wrapper_invoke``: the C++ wrapper's ``Invoke()`` alone, for reference: the baseline without the Python check
  that ``invoke()`` adds (no numpy view of a tensor alive), which the agent skips too;
- ``choose``: ``LiteRTAgent.choose(board)``, reported too: it adds the engine's masked argmax, which every agent
  shares and which is not LiteRT overhead.
With ``--convert``, it also times ``planestrike convert`` on a fresh reference-architecture checkpoint in a new
process (TensorFlow import included; target under 10 s).

Prints a few lines, then one JSON object. Usage: python benchmarks/litert_overhead.py [--moves N] [--convert]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assets import OFFICIAL_APP_MODEL  # noqa: E402
from engine.rules import UNTRIED  # noqa: E402
from training.litert_agent import LiteRTAgent  # noqa: E402
from training.litert_model import open_interpreter  # noqa: E402
from training.parity import game_boards  # noqa: E402

APP_MODEL = OFFICIAL_APP_MODEL  # the official app's policy, vendored in assets/official_app


def per_call_us(call, items, rounds: int) -> list[float]:
    """Mean microseconds per call over ``items``, once per round."""
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            call(item)
        results.append((time.perf_counter() - start) / len(items) * 1e6)
    return results


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of each round's ratio."""
    return statistics.median(n / d for n, d in zip(numerator, denominator))


def conversion_seconds() -> float:
    """Wall time of `planestrike convert` on a fresh checkpoint, in a new process, TensorFlow import included."""
    import jax

    from training.checkpoint import Checkpoint, save_checkpoint
    from training.config import TrainConfig
    from training.model import init_params

    with tempfile.TemporaryDirectory() as scratch:
        config = TrainConfig()
        save_checkpoint(scratch, Checkpoint(init_params(config.model, jax.random.PRNGKey(0)), None, 0, 0,
                                            np.zeros(2, np.uint32), config))
        planestrike = shutil.which("planestrike", path=str(Path(sys.executable).parent))
        start = time.perf_counter()
        subprocess.run([planestrike, "convert", "--checkpoint", scratch], check=True, capture_output=True,
                       env={**os.environ, "XDG_CACHE_HOME": str(Path(scratch) / "cache")})
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20000, help="boards per round (default: 20000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds, interleaved (default: 7)")
    parser.add_argument("--model", type=Path, default=APP_MODEL, help="model to run (default: the app's)")
    parser.add_argument("--convert", action="store_true", help="also time `planestrike convert` (about 10 s)")
    args = parser.parse_args()

    boards = game_boards(min(args.moves, 4000), seed=0)
    boards = boards[np.arange(args.moves) % len(boards)]
    agent = LiteRTAgent(args.model)
    interpreter = open_interpreter(args.model.read_bytes())
    input_index = interpreter.get_input_details()[0]["index"]
    input_shape = tuple(interpreter.get_input_details()[0]["shape"])
    output_index = interpreter.get_output_details()[0]["index"]
    shaped = [board.reshape(input_shape) for board in boards]
    interpreter.set_tensor(input_index, shaped[0])
    moves = range(args.moves)

    def api_floor(board):
        interpreter.set_tensor(input_index, board)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    playable = boards[(boards.reshape(len(boards), 64) == UNTRIED).any(axis=1)]
    bare, wrapper, floor, probabilities, choose = [], [], [], [], []
    for _ in range(args.rounds):  # interleaved, so drifting machine load hits every side alike
        bare += per_call_us(lambda _: interpreter.invoke(), moves, 1)
        # Fetched on each call: a reference held here would make invoke() refuse to run, as a live view does.
        wrapper += per_call_us(lambda _: interpreter._interpreter.Invoke(), moves, 1)
        floor += per_call_us(api_floor, shaped, 1)
        probabilities += per_call_us(agent.probabilities, boards, 1)
        choose += per_call_us(agent.choose, playable, 1)

    bare_us, wrapper_us, floor_us, probabilities_us, choose_us = (
        statistics.median(x) for x in (bare, wrapper, floor, probabilities, choose))
    wrapper_x, floor_x, probabilities_x, choose_x = (
        paired_ratio(x, bare) for x in (wrapper, floor, probabilities, choose))
    result = {
        "model": args.model.name,
        "moves_per_round": args.moves,
        "rounds": args.rounds,
        "bare_invoke_us": round(bare_us, 3),
        "wrapper_invoke_us": round(wrapper_us, 3),
        "api_floor_us": round(floor_us, 3),
        "agent_probabilities_us": round(probabilities_us, 3),
        "agent_choose_us": round(choose_us, 3),
        "ratio_wrapper_invoke_over_bare": round(wrapper_x, 3),
        "ratio_api_floor_over_bare": round(floor_x, 3),
        "ratio_probabilities_over_bare": round(probabilities_x, 3),
        "ratio_choose_over_bare": round(choose_x, 3),
        "target_ratio": 2.0,
    }
    if args.convert:
        result["convert_seconds"] = round(conversion_seconds(), 2)
        result["convert_target_seconds"] = 10.0
    print(f"bare invoke()            {bare_us:7.2f} us")
    print(f"C++ wrapper Invoke()     {wrapper_us:7.2f} us  ({wrapper_x:.2f}x, without invoke()'s check)")
    print(f"set + invoke + get       {floor_us:7.2f} us  ({floor_x:.2f}x, LiteRT's Python API alone)")
    print(f"agent.probabilities()    {probabilities_us:7.2f} us  ({probabilities_x:.2f}x, target < 2x)")
    print(f"agent.choose()           {choose_us:7.2f} us  ({choose_x:.2f}x, with the engine's masked argmax)")
    if args.convert:
        print(f"planestrike convert      {result['convert_seconds']:7.2f} s   (target < 10 s)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
