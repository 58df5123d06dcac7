"""`planestrike train`: train the policy with the jitted REINFORCE trainer, with checkpoints, resume and progress."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from engine.limits import OutOfRange
from planestrike_tui.commands.arguments import in_range, limit_help, path
from training import config as limits

DEFAULT_OUT = Path("runs") / "train"

# The options that set one number of the TrainConfig: (option, field, metavar, what it sets). Range and default come
# from training.config, so --help cannot drift from them. The options default to None so that a resumed run can
# tell which ones the user actually gave.
_NUMBERS = (
    ("--batch-size", "batch_size", "N", "complete games per update"),
    ("--lr", "learning_rate", "RATE", "Adam learning rate"),
    ("--gamma", "gamma", "G", "discount of the reward-to-go"),
    ("--hit-reward", "hit_reward", "R", "reward for a hit"),
    ("--miss-reward", "miss_reward", "R", "reward for a miss"),
    ("--entropy", "entropy", "W", "weight of the entropy bonus"),
    ("--tried-mass-weight", "tried_mass_weight", "W", "weight of the loss term that keeps the raw softmax's mass "
     "off tried cells"),
    ("--explore", "explore", "SHARE", "share of each batch's games that sometimes strike a cell other than the "
     "policy's first choice (each of their first 12 moves with chance 1/4), trained only after the last such move"),
    ("--seed", "seed", "S", "seed of the whole run"),
)
_CONFIG_OPTIONS = ("games", "minutes", "hidden", *(field for _, field, _, _ in _NUMBERS))


def hidden_sizes(text: str) -> tuple[int, ...]:
    parts = text.split(",")
    try:
        limits.HIDDEN_LAYERS.check(len(parts))
        return tuple(limits.HIDDEN_WIDTH.parse(part) for part in parts)
    except OutOfRange:
        raise argparse.ArgumentTypeError(
            f"must be {limits.HIDDEN_LAYERS.low} to {limits.HIDDEN_LAYERS.high} comma-separated layer widths, each "
            f"{limits.HIDDEN_WIDTH.describe()} (like 128,64), got {text[:40]!r}") from None


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train the policy network (Flax/JAX REINFORCE)",
        description="Train the Plane Strike policy: batches of complete games per update, REINFORCE with "
        "normalised discounted returns, Adam. Writes DIR/checkpoint.msgpack every few seconds and at the end, and "
        "TensorBoard logs in DIR/logs. Ctrl-C saves and stops; --resume DIR continues exactly where it stopped.",
    )
    defaults = limits.TrainConfig()
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--games", type=in_range(limits.GAMES), metavar="N",
                        help=f"train on this many games, {limit_help(limits.GAMES)} (default: {defaults.games})")
    budget.add_argument("--minutes", type=in_range(limits.MINUTES), metavar="M",
                        help=f"train for this many minutes instead of a game count, {limit_help(limits.MINUTES)}")
    for option, field, metavar, what in _NUMBERS:
        parser.add_argument(option, dest=field, type=in_range(limits.RANGES[field]), metavar=metavar,
                            help=f"{what}, {limit_help(limits.RANGES[field])} (default: {getattr(defaults, field):g})")
    parser.add_argument("--hidden", type=hidden_sizes, metavar="W1,W2,...",
                        help=f"hidden layer widths, {limit_help(limits.HIDDEN_LAYERS)} layers of "
                        f"{limit_help(limits.HIDDEN_WIDTH)} (default: "
                        f"{','.join(map(str, defaults.model.hidden))}, the reference network)")
    parser.add_argument("--out", type=path, metavar="DIR", help=f"run directory (default: {DEFAULT_OUT}, or the --resume DIR)")
    parser.add_argument("--resume", type=path, metavar="DIR", help="continue the run saved in DIR")
    parser.add_argument("--init", type=path, metavar="CHECKPOINT",
                        help="fine-tune: start from this checkpoint's parameters (a file, or a run directory for its "
                        "checkpoint.msgpack) with a fresh optimiser, instead of random ones; the run records the "
                        "commands that made it, so a bundle made from it stays reproducible from scratch")
    parser.add_argument("--progress", choices=("bar", "jsonl"), default="bar",
                        help="a progress bar, or one JSON object per line for programs (default: bar)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.errors import PlanestrikeError
    from training.signals import stop_on_signals

    try:
        with stop_on_signals([], on_second=_stop_now) as stop:  # before JAX loads: a Ctrl-C then is a stop too
            return _train(args, stop)
    except PlanestrikeError as error:
        if args.progress == "jsonl":
            _emit({"event": "error", "message": str(error)})
        raise


def _train(args: argparse.Namespace, stop: list[str]) -> int:
    from assets import ASSETS_DIR
    from engine.errors import PlanestrikeError
    from training.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint
    from training.config import ModelConfig, TrainConfig
    from training.loop import resume_config, train

    given = {name: getattr(args, name) for name in _CONFIG_OPTIONS if getattr(args, name) is not None}
    fields = {"model" if name == "hidden" else name: value for name, value in given.items()}
    if "model" in fields:
        fields["model"] = ModelConfig(hidden=fields["model"])
    if "games" in fields or "minutes" in fields:  # one budget replaces the default one
        fields.setdefault("games", None)
        fields.setdefault("minutes", None)
    requested = TrainConfig(**fields)

    init_params = None
    if args.resume is not None and args.init is not None:
        raise PlanestrikeError("--init starts a new run from a checkpoint's parameters and --resume continues a run: "
                               "give one of them")
    if args.resume is not None:
        checkpoint = load_checkpoint(args.resume)
        config = resume_config(checkpoint, requested, set(fields))
        out = args.out or checkpoint.path.parent
    else:
        checkpoint, config = None, requested
        out = args.out or DEFAULT_OUT
        if args.init is not None:
            from training.finetune import fine_tuning_config, init_from

            init, source = init_from(args.init)
            config = fine_tuning_config(requested, init, source, model_given="model" in fields)
            init_params = source.params
    if out.resolve().is_relative_to(ASSETS_DIR):
        raise PlanestrikeError(f"{out} is planestrike's bundled assets folder, not a run directory: give --out DIR "
                               "for the run (the bundled files stay as they are)")
    if (out / CHECKPOINT_NAME).exists() and (checkpoint is None or (out / CHECKPOINT_NAME).resolve() != checkpoint.path.resolve()):
        raise CheckpointError(
            f"{out} already holds a training run: continue it with '--resume {out}', or choose a new --out"
        )

    if stop:  # Ctrl-C while JAX was loading: nothing has started, nothing to save
        raise KeyboardInterrupt
    display = _JsonLines(config, checkpoint) if args.progress == "jsonl" else _Bar(config)
    try:
        with display:
            result = train(config, out, resume=checkpoint, init_params=init_params,
                           on_progress=_or_stop(display.update, stop), stop=stop)
    except OSError as error:  # the run directory became unwritable (disk full, permissions...)
        kept = "; the last checkpoint there is intact" if (out / CHECKPOINT_NAME).is_file() else ""
        raise PlanestrikeError(f"cannot write to {out}: {error.strerror or error}{kept}") from None
    summary = {
        "checkpoint": str(result.checkpoint),
        "step": result.step,
        "games": result.games,
        "eval_exact": round(result.eval_exact, 4),
        "best_exact": round(result.best_exact, 4),
        "elapsed_s": round(result.elapsed_s, 1),
        "interrupted": result.interrupted,
    }
    if args.progress == "jsonl":
        _emit({"event": "done", **summary})
    else:
        _print_summary(result, out)
    if result.interrupted:
        print(f"interrupted: checkpoint saved; resume with 'planestrike train --resume {out}'", file=sys.stderr)
        if result.abandoned:
            # A compiled chunk still runs in a worker thread; letting the interpreter shut down under it aborts
            # inside XLA. Everything is saved and flushed: leave at once.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130
    return 0


def _or_stop(update, stop: list[str]):
    """``update``, except that output nobody reads any more (``train ... | head``, the app gone) is a stop
    request, as Ctrl-C is: the run saves and ends, and what is left to print goes nowhere."""
    def guarded(progress) -> None:
        try:
            update(progress)
        except BrokenPipeError:
            stop.append("SIGPIPE")
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    return guarded


def _stop_now() -> None:
    """A second Ctrl-C: leave at once. A compiled chunk may be running in a worker thread, and a normal interpreter
    shutdown under it aborts inside XLA; the checkpoint of at most a few seconds ago is intact."""
    print("interrupted again: stopped at once without saving; checkpoints written before (every few seconds) are "
          "intact", file=sys.stderr, flush=True)
    os._exit(130)


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _print_summary(result, out: Path) -> None:
    minutes, seconds = divmod(round(result.elapsed_s), 60)
    print(f"trained      {result.games:,} games, {result.step:,} updates, {minutes}m {seconds:02d}s")
    print(f"exact mean   {result.eval_exact:.4f} strikes (120 placements, masked argmax); best {result.best_exact:.4f}")
    print(f"checkpoint   {result.checkpoint} (best: {result.checkpoint.with_name('best.msgpack')})")
    print(f"evaluate     planestrike eval --agent flax:{out} --exact")


class _JsonLines:
    """One JSON object per chunk on stdout (the terminal app runs training in a subprocess and reads these), after
    a ``start`` object when training begins (the first chunk then compiles for a few seconds)."""

    def __init__(self, config, checkpoint) -> None:
        self._start = {"event": "start", "step": checkpoint.step if checkpoint else 0,
                       "games": checkpoint.games if checkpoint else 0, "updates": config.updates}

    def __enter__(self):
        _emit(self._start)
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, progress) -> None:
        _emit(progress.to_dict())


class _Bar:
    """A rich progress bar: games, games/s, mean game length, last exact evaluation, ETA."""

    def __init__(self, config) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self._config = config
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[games]:>9,} games  {task.fields[speed]:>7,.0f}/s  "
                       "length {task.fields[length]:6.2f}  exact {task.fields[exact]}  ETA {task.fields[eta]}"),
            transient=False,
        )
        self._task = self._progress.add_task("compiling", total=1.0, games=0, speed=0.0, length=float("nan"),
                                             exact="  -   ", eta="?")

    def __enter__(self):
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def update(self, progress) -> None:
        fields = {"games": progress.games, "speed": progress.games_per_s, "length": progress.mean_length}
        if progress.eval_exact is not None:
            fields["exact"] = f"{progress.eval_exact:6.3f}"
        if progress.eta_s is not None:
            minutes, seconds = divmod(round(progress.eta_s), 60)
            fields["eta"] = f"{minutes}:{seconds:02d}"
        self._progress.update(self._task, description="training", completed=self._fraction(progress), **fields)

    def _fraction(self, progress) -> float:
        fractions = []
        if self._config.updates is not None:
            fractions.append(progress.step / self._config.updates)
        if self._config.minutes is not None:
            fractions.append(progress.elapsed_s / (self._config.minutes * 60))
        return min(1.0, max(fractions, default=0.0))
