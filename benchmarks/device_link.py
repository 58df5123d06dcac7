"""How fast the desktop talks to a phone, measured against the virtual phone on loopback.

Figures (targets from issue 6 in brackets), each with a baseline measured in the same run:
- a move through the persistent runner protocol, median [< 5 ms], against a raw loopback TCP round trip;
- a small ADB request (sync STAT) with adb-shell's stock transport and with devicelink's (TCP_NODELAY);
- push throughput [>= 20 MB/s], against raw loopback socket throughput;
- a move through the benchmark_model path (one process per move on the phone), reported.

The virtual phone runs as a separate process, as a phone would. Prints a few lines, then one JSON object.
Usage: python benchmarks/device_link.py [--moves N] [--push-mb N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assets import OFFICIAL_APP_MODEL  # noqa: E402
from devicelink import layout  # noqa: E402
from devicelink.emulator.sandbox import Sandbox  # noqa: E402
from devicelink.agent import DeviceAgent, DeviceAgentConfig  # noqa: E402
from devicelink.bench import time_moves  # noqa: E402
from devicelink.keys import generate_key, load_signer  # noqa: E402
from devicelink.session import DeviceSession, SessionConfig  # noqa: E402

REFERENCE_MODEL = OFFICIAL_APP_MODEL  # the official app's policy, vendored in assets/official_app


def start_phone(state_dir: Path) -> tuple[subprocess.Popen, str]:
    """An x86_64 virtual phone with the desktop stand-in runner as its runtime: this benchmark measures the link and
    the protocol, not LiteRT on arm64 (benchmarks/device_runtime.py does)."""
    Sandbox(state_dir / "data-local-tmp").install_standin_runtime()
    process = subprocess.Popen([sys.executable, "-m", "planestrike_tui.cli", "device", "emulate", "--port", "0",
                                "--abi", "x86_64", "--accept-all-keys", "--state-dir", str(state_dir)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        if match:
            return process, match.group(1)
    raise RuntimeError("the virtual phone did not start")


def raw_round_trip_ms(samples: int) -> float:
    """Median time to send 24 bytes over loopback TCP and get 24 back: the floor for any ADB round trip."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def echo():
            connection, _ = listener.accept()
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with connection:
                while data := connection.recv(64):
                    connection.sendall(data)

        thread = threading.Thread(target=echo, daemon=True)
        thread.start()
        with socket.create_connection(listener.getsockname()) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            times = []
            for _ in range(samples):
                start = time.perf_counter()
                client.sendall(b"x" * 24)
                received = 0
                while received < 24:
                    received += len(client.recv(64))
                times.append((time.perf_counter() - start) * 1000)
        thread.join(5)
    return statistics.median(times)


def raw_throughput_mb_s(megabytes: int) -> float:
    payload = os.urandom(1024 * 1024)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def drain():
            connection, _ = listener.accept()
            with connection:
                while connection.recv(1 << 20):
                    pass

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        with socket.create_connection(listener.getsockname()) as client:
            start = time.perf_counter()
            for _ in range(megabytes):
                client.sendall(payload)
            client.shutdown(socket.SHUT_WR)
            thread.join(30)
            seconds = time.perf_counter() - start
    return megabytes / seconds


def stat_round_trip_ms(serial: str, key: Path, transport_class, samples: int) -> float:
    """Median time of one sync STAT (open, request, reply, close) with the given adb-shell transport class."""
    from adb_shell.adb_device import AdbDevice

    host, port = serial.split(":")
    device = AdbDevice(transport_class(host, int(port)), default_transport_timeout_s=10)
    device.connect(rsa_keys=[load_signer(key)], auth_timeout_s=5)
    try:
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            device.stat(layout.DEVICE_TMP)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        device.close()
    return statistics.median(times)


def move_times_ms(serial: str, key: Path, runner: str, moves: int) -> tuple[float, float | None]:
    agent = DeviceAgent(DeviceAgentConfig(serial, REFERENCE_MODEL, runner=runner, move_timeout_s=60,
                                          session=SessionConfig(key_path=key)))
    try:
        timed = time_moves(agent, moves)
    finally:
        agent.close()
    inference = timed.inference_us
    return statistics.median(timed.round_trip_ms), (statistics.median(inference) if inference else None)


def push_mb_s(serial: str, key: Path, megabytes: int) -> float:
    payload = os.urandom(megabytes * 1024 * 1024)
    with DeviceSession.open(serial, SessionConfig(key_path=key, command_timeout_s=30)) as session:
        start = time.perf_counter()
        session.push(payload, f"{layout.DEVICE_TMP}/bench-push.bin")
        seconds = time.perf_counter() - start
        session.run(["rm", "-f", f"{layout.DEVICE_TMP}/bench-push.bin"])
    return megabytes / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200, help="moves through the persistent runner (default 200)")
    parser.add_argument("--benchmark-model-moves", type=int, default=5, help="moves through benchmark_model (default 5)")
    parser.add_argument("--push-mb", type=int, default=32, help="megabytes to push (default 32)")
    args = parser.parse_args()

    from adb_shell.transport.tcp_transport import TcpTransport

    from devicelink.transport import ReliableTcpTransport

    with tempfile.TemporaryDirectory(prefix="planestrike-bench-") as scratch:
        scratch = Path(scratch)
        key = scratch / "adbkey"
        generate_key(key)
        process, serial = start_phone(scratch / "phone")
        try:
            raw_rtt = raw_round_trip_ms(1000)
            raw_mb_s = raw_throughput_mb_s(args.push_mb * 4)
            stat_stock = stat_round_trip_ms(serial, key, TcpTransport, 10)
            stat_fixed = stat_round_trip_ms(serial, key, ReliableTcpTransport, 200)
            persistent_ms, persistent_inference_us = move_times_ms(serial, key, "persistent", args.moves)
            push = push_mb_s(serial, key, args.push_mb)
            benchmark_model_ms, benchmark_model_inference_us = move_times_ms(
                serial, key, "benchmark_model", args.benchmark_model_moves)
        finally:
            process.terminate()
            process.wait(15)
            process.stdout.close()

    report = {
        "raw_loopback_round_trip_ms": raw_rtt,
        "raw_loopback_throughput_mb_s": raw_mb_s,
        "adb_stat_ms_stock_transport": stat_stock,
        "adb_stat_ms_devicelink_transport": stat_fixed,
        "nodelay_speedup": stat_stock / stat_fixed,
        "persistent_move_ms_median": persistent_ms,
        "persistent_move_vs_raw_round_trip": persistent_ms / raw_rtt,
        "persistent_inference_us_median": persistent_inference_us,
        "persistent_move_target_met": persistent_ms < 5.0,
        "push_mb_s": push,
        "push_vs_raw_throughput": push / raw_mb_s,
        "push_target_met": push >= 20.0,
        "benchmark_model_move_ms_median": benchmark_model_ms,
        "benchmark_model_inference_us_median": benchmark_model_inference_us,
        "benchmark_model_vs_persistent": benchmark_model_ms / persistent_ms,
    }
    print(f"raw loopback round trip        {raw_rtt:.3f} ms; raw throughput {raw_mb_s:.0f} MB/s")
    print(f"sync STAT, stock adb-shell     {stat_stock:.2f} ms; with devicelink's transport {stat_fixed:.2f} ms "
          f"({stat_stock / stat_fixed:.0f}x)")
    print(f"move, persistent protocol      {persistent_ms:.2f} ms median ({persistent_ms / raw_rtt:.1f}x a raw round trip)")
    print(f"push                           {push:.1f} MB/s ({100 * push / raw_mb_s:.1f}% of raw loopback)")
    print(f"move, benchmark_model path     {benchmark_model_ms:.0f} ms median "
          f"({benchmark_model_ms / persistent_ms:.0f}x the persistent protocol)")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
