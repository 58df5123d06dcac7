"""`planestrike device ...`: connect to a phone, set it up, push models, benchmark it, or run the virtual phone."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator

from engine.limits import NumberRange, WholeRange
from planestrike_tui.commands.arguments import in_range, non_empty, path
from planestrike_tui.commands.output import print_rows, progress_bar

DEFAULT_EMULATOR_PORT = 15555  # outside 5555-5585, which the adb server scans for emulators
AUTH_TIMEOUT_S = NumberRange(0, 3600, above_low=True)
BENCH_MOVES = WholeRange(1, 100_000)
PHONE_THREADS = WholeRange(1, 64)
LISTEN_PORT = WholeRange(0, 65535)  # 0: any free port


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "device", help="run the agent on an Android phone over ADB (or the virtual phone)",
        description="Connect to an Android phone over ADB (USB, or TCP after 'adb tcpip 5555'), push models to it and "
        "run the agent there; 'emulate' starts a virtual phone on this computer that speaks the same protocol.")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True, parser_class=type(parser))

    def device_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--device", type=non_empty, metavar="SERIAL",
                         help="HOST:PORT or USB serial (default: $PLANESTRIKE_DEVICE, else the last connected phone)")
        auth_timeout_option(sub)

    def auth_timeout_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--auth-timeout", type=in_range(AUTH_TIMEOUT_S), default=30.0, metavar="S",
                         help="seconds to wait for 'Allow USB debugging?' to be accepted (default: 30)")

    sub = actions.add_parser("list", help="phones on USB and phones connected before")
    sub.set_defaults(run=run_list)

    sub = actions.add_parser("connect", help="connect to a phone over TCP and remember it as the default")
    sub.add_argument("address", metavar="HOST[:PORT]", help="the phone's address (port 5555 if omitted)")
    auth_timeout_option(sub)
    sub.set_defaults(run=run_connect)

    sub = actions.add_parser("setup", help="install the LiteRT runtime (--runtime) or benchmark_model on the phone",
                             description="--runtime builds the persistent runner for the phone's CPU, bundles it with "
                             "LiteRT's libLiteRt.so and the glibc it runs on, and installs that on the phone (cached "
                             "here and there by hash). --benchmark-model installs TFLite's classic tool; with "
                             "neither, the installed benchmark_model is checked.")
    device_option(sub)
    sub.add_argument("--runtime", action="store_true",
                     help="build and install the LiteRT runtime: the persistent runner (see docs/device.md)")
    sub.add_argument("--benchmark-model", type=path, metavar="PATH",
                     help="the classic TFLite benchmark_model binary for the phone (android_aarch64)")
    sub.set_defaults(run=run_setup)

    sub = actions.add_parser("push", help="push a model to the phone (cached by its sha256)")
    sub.add_argument("model", type=path, metavar="MODEL", help="a .tflite file")
    device_option(sub)
    sub.set_defaults(run=run_push)

    sub = actions.add_parser("models", help="list (or remove) the models pushed to the phone")
    device_option(sub)
    sub.add_argument("--remove", type=non_empty, metavar="SHA256_PREFIX", help="remove the pushed model whose hash starts with this")
    sub.set_defaults(run=run_models)

    sub = actions.add_parser("bench", help="time moves on the phone: round trip per move and inference time")
    device_option(sub)
    sub.add_argument("--model", type=path, metavar="MODEL", help="a .tflite file (default: the bundled model)")
    runner_option(sub, "--runner")
    sub.add_argument("--moves", type=in_range(BENCH_MOVES), default=20, help="boards to evaluate (default: 20)")
    sub.add_argument("--threads", type=in_range(PHONE_THREADS), default=1, help="CPU threads on the phone (default: 1)")
    sub.add_argument("--delegate", choices=("cpu", "xnnpack", "gpu", "nnapi"), default="cpu",
                     help="benchmark_model delegate (default: cpu)")
    sub.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    sub.set_defaults(run=run_bench)

    sub = actions.add_parser("emulate", help="run a virtual phone on this computer (loopback only by default)",
                             description="An ADB daemon whose storage is a folder standing in for /data/local/tmp, "
                             "with a stand-in benchmark_model (desktop LiteRT) installed. Its shell runs real "
                             "processes on this computer, in that folder; an arm64 phone runs arm64 programs through "
                             "qemu-aarch64, so 'device setup --runtime' installs and runs the real arm64 runtime.")
    sub.add_argument("--abi", choices=("arm64-v8a", "x86_64"), default=None,
                     help="the phone's CPU (default: arm64-v8a when qemu-aarch64 is installed, else x86_64)")
    sub.add_argument("--host", type=listen_host, default="127.0.0.1",
                     help="address to listen on (default: 127.0.0.1)")
    sub.add_argument("--port", type=in_range(LISTEN_PORT), default=DEFAULT_EMULATOR_PORT,
                     help=f"port to listen on, 0 for any free one (default: {DEFAULT_EMULATOR_PORT})")
    sub.add_argument("--accept-all-keys", action="store_true",
                     help="trust every computer that connects, as if 'Always allow' had been tapped")
    sub.add_argument("--state-dir", type=path, metavar="DIR", help="where the virtual phone keeps adb_keys and its storage "
                     "(default: ~/.local/state/planestrike/virtual-phone)")
    sub.set_defaults(run=run_emulate)


def runner_option(sub: argparse.ArgumentParser, flag: str = "--device-runner") -> None:
    """How a phone computes moves: shared by `device bench` and the commands that take device: specs."""
    sub.add_argument(flag, choices=("auto", "persistent", "benchmark_model"), default=None,
                     help="persistent (the LiteRT runtime of 'device setup --runtime', one process per game), "
                     "benchmark_model (one process per move), or auto (default: persistent when the runtime is "
                     "installed)")


def listen_host(text: str) -> str:
    """An address to listen on: an IP address or a host name (an empty one would mean every interface)."""
    from devicelink.session import check_host  # devicelink loads adb-shell: only when this option is given

    try:
        return check_host(text.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _session_config(args: argparse.Namespace):
    from devicelink.session import SessionConfig

    return SessionConfig(auth_timeout_s=args.auth_timeout)


def _tap_allow_hint(serial: str):
    def hint() -> None:
        print(f"waiting for {serial}: unlock the phone and tap Allow on 'Allow USB debugging?'", file=sys.stderr,
              flush=True)

    return hint


def _open(args: argparse.Namespace):
    from devicelink.known_devices import default_serial
    from devicelink.session import DeviceSession

    serial = default_serial(args.device)
    return DeviceSession.open(serial, _session_config(args), on_auth_wait=_tap_allow_hint(serial))


def run_list(args: argparse.Namespace) -> int:
    from devicelink.known_devices import load, usb_serials

    usb = usb_serials()
    known = load()
    if usb is None:
        print("usb             (not available: pip install 'planestrike[usb]' for USB phones)")
    elif not usb:
        print("usb             none found (is USB debugging on? is another adb server holding the phone?)")
    for serial in usb or []:
        print(f"usb             {serial}")
    if not known["known"]:
        print("tcp             none yet: planestrike device connect HOST[:PORT]")
    for serial in known["known"]:
        print(f"tcp             {serial}{'  (default)' if serial == known['default'] else ''}")
    return 0


def run_connect(args: argparse.Namespace) -> int:
    from devicelink.known_devices import remember
    from devicelink.session import Address, DeviceSession

    serial = Address.parse(args.address).serial
    with DeviceSession.open(serial, _session_config(args), on_auth_wait=_tap_allow_hint(serial)) as session:
        info = session.info()
    remember(serial)
    print_rows(_info_rows(info))
    return 0


def _info_rows(info) -> list[tuple[str, str]]:
    runners = [name for name, present in (("benchmark_model", info.has_benchmark_model),
                                          ("persistent", info.has_persistent_runner)) if present]
    return [
        ("connected to", info.serial),
        ("model", info.model or "?"),
        ("android", info.android_version or "?"),
        ("abi", info.abi or "?"),
        ("runners", ", ".join(runners) or "none: run 'planestrike device setup --runtime'"),
        ("latency", f"{info.latency_ms:.2f} ms"),
    ]


def run_setup(args: argparse.Namespace) -> int:
    from devicelink.setup import install_benchmark_model

    with _open(args) as session:
        if args.runtime:
            _install_runtime(session)
        if args.benchmark_model or not args.runtime:
            print(install_benchmark_model(session, args.benchmark_model))
    return 0


def _install_runtime(session) -> None:
    from devicelink import runtime

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    start = time.perf_counter()
    abi = runtime.phone_abi(session)
    bundle = runtime.build_bundle(abi, say)
    with progress_bar("pushing the runtime", "bytes") as progress:
        sent = [0]

        def pushed(chunk: int, _total: int) -> None:
            sent[0] += chunk
            progress(sent[0], bundle.size)

        fresh = runtime.install(session, bundle, say, pushed)
    print_rows([("abi", abi), ("runtime", bundle.device_dir),
                ("files", f"{len(bundle.files)}, {bundle.size / 1e6:.1f} MB (runner, libLiteRt.so "
                          f"{runtime.litert_version()}, glibc; licenses in LICENSES/)"),
                ("status", "installed, sha256 of every file checked on the phone" if fresh
                 else "already installed (every file's sha256 matches): nothing pushed"),
                ("time", f"{time.perf_counter() - start:.1f} s")])


def run_push(args: argparse.Namespace) -> int:
    from pathlib import Path

    from devicelink.model_spec import read_model_spec

    read_model_spec(Path(args.model))  # the checks of 'eval --agent tflite:FILE', before anything reaches the phone
    with _open(args) as session:
        start = time.perf_counter()
        pushed = session.push_model(Path(args.model))
        seconds = time.perf_counter() - start
    print_rows([("model", args.model), ("sha256", pushed.sha256), ("on the phone", pushed.device_path),
                 ("size", f"{pushed.size:,} bytes"), ("time", f"{seconds:.2f} s (nothing sent if already cached)")])
    return 0


def run_models(args: argparse.Namespace) -> int:
    with _open(args) as session:
        if args.remove:
            removed = session.remove_model(args.remove)
            print(f"removed {removed.device_path}")
            return 0
        models = session.models()
    if not models:
        print("no models pushed yet: planestrike device push MODEL")
    for model in models:
        print(f"{model.sha256[:12]}  {model.size:>9,} bytes  {model.device_path}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from devicelink.agent import DeviceAgent, DeviceAgentConfig
    from devicelink.bench import time_moves
    from devicelink.known_devices import default_serial

    serial = default_serial(args.device)
    config = DeviceAgentConfig(serial, Path(args.model) if args.model else None, runner=args.runner or "auto",
                               threads=args.threads, delegate=args.delegate, session=_session_config(args))
    agent = DeviceAgent(config, on_auth_wait=_tap_allow_hint(serial))
    try:
        timed = time_moves(agent, args.moves, warm_up=False)
        round_trips, inference = timed.round_trip_ms, timed.inference_us
        link_ms = agent.session.latency_ms()
        runner, backend, abi = agent.runner_name, agent.backend, agent.abi
    finally:
        agent.close()
    report = {
        "device": serial, "runner": runner, "backend": backend, "abi": abi,
        "threads": args.threads, "moves": args.moves,
        "move_ms_median": float(np.median(round_trips)), "move_ms_p95": float(np.percentile(round_trips, 95)),
        "inference_us_median": float(np.median(inference)) if inference else None,
        "link_latency_ms": link_ms,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print_rows([
        ("device", serial), ("runner", f"{runner} ({backend}, {abi})"),
        ("moves", str(args.moves)),
        ("per move", f"{report['move_ms_median']:.2f} ms median, {report['move_ms_p95']:.2f} ms p95 (round trip)"),
        ("inference", f"{report['inference_us_median']:.1f} us median (reported by the phone)"
         if inference else "not reported"),
        ("link latency", f"{link_ms:.2f} ms"),
    ])
    return 0


def run_emulate(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    from pathlib import Path

    from devicelink.emulator import VirtualPhone, VirtualPhoneConfig
    from devicelink.emulator.daemon import default_state_dir
    from engine.errors import PlanestrikeError

    state_dir = Path(args.state_dir) if args.state_dir else default_state_dir()
    config = VirtualPhoneConfig(state_dir, host=args.host, port=args.port, accept_all_keys=args.accept_all_keys,
                                abi=args.abi,
                                on_key_waiting=lambda who: print(
                                    f"refused an unknown key ({who}): restart with --accept-all-keys, or add its "
                                    f".pub line to {state_dir / 'adb_keys'}", flush=True))

    async def serve() -> None:
        # Handlers first: a SIGTERM that arrives while starting up must still stop the phone cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        phone = VirtualPhone(config)
        try:
            await phone.start()
        except OSError as error:
            raise PlanestrikeError(f"cannot listen on {args.host}:{args.port}: {error.strerror}: "
                                   f"pick another --port (0 for any free one)") from None
        print(f"virtual phone listening on {phone.serial} (use it as device:{phone.serial})")
        print(f"storage: {phone.sandbox.root} stands in for /data/local/tmp")
        print(f"cpu: {phone.cpu.abi}" + (" (arm64 programs run through qemu-aarch64)" if phone.cpu.emulated else ""))
        if phone.sandbox.shell_root != phone.sandbox.root:
            print(f"shell commands see it as {phone.sandbox.shell_root} (its path needs quoting in a shell)")
        print("warning: its shell runs real processes on this computer, in that folder, as you")
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: listening on {args.host}, not loopback: anyone who can reach it and is trusted can run "
                  f"commands here")
        print("keys: " + ("every key is trusted (--accept-all-keys)" if args.accept_all_keys
                          else f"only keys in {config.adb_keys} are trusted"))
        print("stop with Ctrl-C", flush=True)
        await stop.wait()
        await phone.stop()

    asyncio.run(serve())
    print("virtual phone stopped")
    return 0


# --- progress of moves computed on a phone (eval, compare) ---------------------------------------------------------
class MoveMeter:
    """Counts the moves device agents compute and estimates how many are left.

    With ``total`` known (compare: one move per board) that is exact. For games played in lockstep rounds (eval), each
    round asks for one move per game still running, so the round sizes say how many games ended and when; the moves
    left are estimated as the running games times the mean length of the games already over, minus the moves they
    have made (an estimate that starts low, since short games end first, and sharpens as games end).
    """

    def __init__(self, total: int | None = None):
        self.total = total
        self.moves = 0
        self.started = time.monotonic()
        self._left_in_round = 0
        self._round = 0
        self._running = 0
        self._ended = 0
        self._ended_moves = 0

    def __call__(self, batch_size: int) -> None:
        self.moves += 1
        if self._left_in_round == 0:
            if batch_size > self._running:  # a new set of games (the next batch of an eval)
                self._round = 0
            else:
                ended = self._running - batch_size
                self._ended += ended
                self._ended_moves += ended * self._round
            self._round += 1
            self._running = self._left_in_round = batch_size
        self._left_in_round -= 1

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.moves / elapsed if elapsed > 0 else 0.0

    def moves_left(self) -> int | None:
        if self.total is not None:
            return max(self.total - self.moves, 0)
        if not self._ended:
            return None
        mean_length = self._ended_moves / self._ended
        return int(self._left_in_round + self._running * max(mean_length - self._round, 1.0))

    def eta_text(self) -> str:
        left = self.moves_left()
        if left is None or self.rate <= 0:
            return "ETA -"
        seconds = int(left / self.rate)
        return f"ETA {'~' if self.total is None else ''}{seconds // 60}:{seconds % 60:02d}"


@contextlib.contextmanager
def device_moves(specs, runner: str | None, total: int | None = None) -> Iterator[bool]:
    """While a command plays ``specs``: device specs use ``runner`` (``--device-runner``), and a bar on stderr (a
    terminal only) shows the phone's moves done, moves/s and the time left. Yields whether a device is involved."""
    involved = any(spec.strip().startswith("device:") for spec in specs)
    if not involved:  # no phone: devicelink (adb-shell, 80 ms of imports) stays unloaded
        yield False
        return
    from devicelink.agent import runner_for_specs, watching_moves

    with runner_for_specs(runner):
        if not (involved and sys.stderr.isatty()):
            yield involved
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        meter = MoveMeter(total)
        columns = (TextColumn("moves on the phone"), BarColumn(), TextColumn("{task.fields[done]}"),
                   TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}"))
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("phone", total=None, done="0", rate="", eta="ETA -")

            def update(batch_size: int) -> None:
                meter(batch_size)
                left = meter.moves_left()
                progress.update(task, completed=meter.moves, total=None if left is None else meter.moves + left,
                                done=f"{meter.moves:,}", rate=f"{meter.rate:.1f} moves/s", eta=meter.eta_text())

            with watching_moves(update):
                yield involved
