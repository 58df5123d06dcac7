"""The real LiteRT runtime on an arm64 virtual phone under qemu-aarch64: setup time, move time, a whole exact eval.

Figures (targets from issue 16 in brackets), each with a baseline measured in the same run:
- `device setup --runtime` on a fresh phone with nothing cached (build, pip download of the arm64 wheel with pip's
  own cache off, push) [< 120 s], and again on another fresh phone with the cache warm [seconds];
- a move through the arm64 runner, median round trip [< 5 ms], against a move through benchmark_model on the same
  phone (the path a phone without the runtime takes);
- `eval --agent device:... --exact` for the official app's model and the bundled one [< 60 s each], with the same
  mean as desktop LiteRT, against the same eval on desktop LiteRT;
- `compare` of the phone with desktop LiteRT on N boards: masked-argmax agreement [1.0] and max |Δp| (arm64 and
  x86_64 kernels may round differently).

Needs qemu-aarch64 (Debian's qemu-user) and aarch64-linux-gnu-gcc (gcc-aarch64-linux-gnu), and the network to the
package registry for the uncached setup. Prints a few lines, then one JSON object.
Usage: python benchmarks/device_runtime.py [--moves N] [--boards N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assets import BUNDLED_TFLITE, OFFICIAL_APP_MODEL  # noqa: E402
from devicelink.agent import DeviceAgent, DeviceAgentConfig  # noqa: E402
from devicelink.bench import time_moves  # noqa: E402
from devicelink.keys import generate_key  # noqa: E402
from devicelink.session import SessionConfig  # noqa: E402


def start_phone(state_dir: Path, environment: dict) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "planestrike_tui.cli", "device", "emulate", "--port", "0",
                                "--abi", "arm64-v8a", "--accept-all-keys", "--state-dir", str(state_dir)], cwd=REPO,
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        if match:
            return process, match.group(1)
    raise RuntimeError("the virtual phone did not start")


def stop_phone(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(15)
    process.stdout.close()


def planestrike(environment: dict, *arguments: str) -> tuple[str, float]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "planestrike_tui.cli", *arguments], cwd=REPO, env=environment,
                            capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"planestrike {' '.join(arguments)} failed: {result.stderr.strip()[-400:]}")
    return result.stdout, seconds


def exact_eval(environment: dict, spec: str) -> tuple[float, float]:
    """(mean strikes, wall-clock seconds of the whole command) of an exact evaluation."""
    output, seconds = planestrike(environment, "eval", "--agent", spec, "--exact", "--json")
    return json.loads(output.splitlines()[-1])["mean_strikes"], seconds


def move_ms(serial: str, key: Path, runner: str, moves: int) -> float:
    agent = DeviceAgent(DeviceAgentConfig(serial, OFFICIAL_APP_MODEL, runner=runner, move_timeout_s=60,
                                          session=SessionConfig(key_path=key)))
    try:
        return statistics.median(time_moves(agent, moves).round_trip_ms)
    finally:
        agent.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=300, help="moves through the arm64 runner (default 300)")
    parser.add_argument("--benchmark-model-moves", type=int, default=10, help="moves through benchmark_model "
                        "(default 10)")
    parser.add_argument("--boards", type=int, default=500, help="boards for compare (default 500)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="planestrike-bench-") as scratch:
        scratch = Path(scratch)
        key = scratch / "home" / ".android" / "adbkey"
        key.parent.mkdir(parents=True)
        generate_key(key)
        environment = dict(os.environ, HOME=str(scratch / "home"), XDG_CONFIG_HOME=str(scratch / "config"),
                           PLANESTRIKE_CACHE_DIR=str(scratch / "cache"), PLANESTRIKE_DEVICE="",
                           PLANESTRIKE_DEVICE_RUNNER="")
        cold = dict(environment, PIP_NO_CACHE_DIR="1")

        first, serial = start_phone(scratch / "phone-1", environment)
        try:
            _, setup_cold_s = planestrike(cold, "device", "setup", "--runtime", "--device", serial)
        finally:
            stop_phone(first)
        process, serial = start_phone(scratch / "phone-2", environment)
        try:
            _, setup_warm_s = planestrike(environment, "device", "setup", "--runtime", "--device", serial)
            persistent_ms = move_ms(serial, key, "persistent", args.moves)
            benchmark_model_ms = move_ms(serial, key, "benchmark_model", args.benchmark_model_moves)
            evals = {}
            for name, model in (("official_app", OFFICIAL_APP_MODEL), ("bundled", BUNDLED_TFLITE)):
                phone_mean, phone_s = exact_eval(environment, f"device:{serial}:{model}")
                desktop_mean, desktop_s = exact_eval(environment, f"tflite:{model}")
                evals[name] = {"phone_mean": phone_mean, "desktop_mean": desktop_mean, "phone_s": phone_s,
                               "desktop_s": desktop_s, "same_mean": phone_mean == desktop_mean}
            output, _ = planestrike(environment, "compare", "--agents", f"device:{serial},tflite", "--boards",
                                    str(args.boards), "--device-runner", "persistent", "--json")
            pair = json.loads(output)["pairs"][0]
        finally:
            stop_phone(process)

    report = {
        "setup_uncached_s": setup_cold_s,
        "setup_cached_s": setup_warm_s,
        "setup_target_met": setup_cold_s < 120,
        "persistent_move_ms_median": persistent_ms,
        "benchmark_model_move_ms_median": benchmark_model_ms,
        "benchmark_model_vs_persistent": benchmark_model_ms / persistent_ms,
        "persistent_move_target_met": persistent_ms < 5.0,
        **{f"eval_{name}_{field}": value for name, figures in evals.items() for field, value in figures.items()},
        "eval_phone_vs_desktop_time": evals["bundled"]["phone_s"] / evals["bundled"]["desktop_s"],
        "eval_target_met": all(figures["phone_s"] < 60 and figures["same_mean"] for figures in evals.values()),
        "compare_boards": args.boards,
        "compare_argmax_agreement": pair["argmax_agreement"],
        "compare_max_abs_diff": pair["max_abs_diff"],
        "compare_mean_abs_diff": pair["mean_abs_diff"],
    }
    print(f"setup --runtime                 {setup_cold_s:.1f} s with nothing cached, {setup_warm_s:.1f} s cached")
    print(f"move, arm64 runner under qemu   {persistent_ms:.2f} ms median; benchmark_model {benchmark_model_ms:.0f} ms "
          f"({benchmark_model_ms / persistent_ms:.0f}x)")
    for name, figures in evals.items():
        print(f"eval --exact, {name:<17} phone {figures['phone_mean']:.4f} in {figures['phone_s']:.1f} s; desktop "
              f"{figures['desktop_mean']:.4f} in {figures['desktop_s']:.1f} s")
    print(f"compare on {args.boards} boards          argmax agreement {pair['argmax_agreement']:.4f}, "
          f"max |dp| {pair['max_abs_diff']:.2e}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
