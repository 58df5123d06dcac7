"""The training loop: jitted chunks of updates, and everything that happens between them.

Brax-style: a plain Python loop calls the compiled ``train_chunk`` (``training/learner.py``) for a chunk of
updates sized to take about a second, then, at the chunk boundary, reports progress, runs the exact evaluation,
writes TensorBoard scalars and checkpoints, and honours a stop request (Ctrl-C / SIGTERM). None of this changes
the math: the parameters after update k are the same however the run was cut into chunks or resumed.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from engine.evaluation import evaluate
from training.checkpoint import BEST_NAME, CHECKPOINT_NAME, Checkpoint, CheckpointError, save_checkpoint
from training.config import UPDATES, TrainConfig
from training.flax_agent import FlaxAgent
from training.learner import TrainState, init_train_state, make_optimizer, make_train_chunk
from training.signals import stop_on_signals

MAX_CHUNK_UPDATES = 64  # static bound of one compiled chunk; the loop picks n <= this per call


@dataclass(frozen=True)
class LoopOptions:
    """How the loop reports and saves; none of it affects the trained parameters."""

    chunk_seconds: float = 1.0  # aim for a progress report about this often
    stop_grace_s: float = 0.5  # after a stop request, wait this long for the running chunk before abandoning it
    eval_every: int = 16  # updates between exact evaluations (120 placements, masked argmax); also at the end
    checkpoint_seconds: float = 5.0  # checkpoint at most this often, and at the end
    tensorboard: bool = True  # event files in OUT/logs


@dataclass(frozen=True)
class Progress:
    step: int  # updates done
    games: int  # games played
    mean_length: float  # mean game length over the last chunk's updates
    games_per_s: float  # over the last chunk
    eta_s: float | None  # to the end of the budget; None while unknown
    elapsed_s: float  # training wall time, across resumes
    eval_exact: float | None = None  # set when an exact evaluation ran at this boundary

    def to_dict(self) -> dict:
        data = {
            "step": self.step,
            "games": self.games,
            "mean_length": round(self.mean_length, 4),
            "games_per_s": round(self.games_per_s, 1),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "elapsed_s": round(self.elapsed_s, 2),
        }
        if self.eval_exact is not None:
            data["eval_exact"] = round(self.eval_exact, 4)
        return data


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    step: int
    games: int
    eval_exact: float  # of the final parameters
    best_exact: float  # of best.msgpack
    elapsed_s: float
    interrupted: bool  # stopped by a signal before the budget was spent
    abandoned: bool = False  # a chunk was still running when the run stopped: it goes on in a background thread


def compiled_chunk(config: TrainConfig):
    """The jitted chunk for ``config``. Cached on the settings that shape it (not the budget, not the seed, which
    lives in the state's RNG key), so a resumed or repeated run in the same process reuses the compiled code."""
    return _compiled_chunk(config.replace(games=None, minutes=None, seed=0, init=None))


@functools.lru_cache(maxsize=4)
def _compiled_chunk(learning: TrainConfig):
    return make_train_chunk(learning, MAX_CHUNK_UPDATES)


def exact_mean_length(config: TrainConfig, params) -> float:
    """The policy's exact expected game length: masked argmax on each of the 120 placements, uniform weights."""
    return evaluate(FlaxAgent(config.model, params), exact=True).mean_strikes


def resume_config(checkpoint: Checkpoint, requested: TrainConfig, explicit: set[str]) -> TrainConfig:
    """The config a resumed run continues with: the checkpoint's, with a new budget if one was asked for.

    Settings that change the learning (model shape, batch size, learning rate...) must match the checkpoint;
    ``explicit`` names the settings the user gave, and any that differs is refused with an explanation.
    """
    config = checkpoint.config
    budget = {"games", "minutes"}
    for name in sorted(explicit - budget):
        mine, theirs = getattr(requested, name), getattr(config, name)
        if mine != theirs:
            what = "model shape" if name == "model" else name.replace("_", " ")
            mine_text = mine.hidden if name == "model" else mine
            theirs_text = theirs.hidden if name == "model" else theirs
            raise CheckpointError(
                f"cannot resume {checkpoint.path}: it was trained with {what} {theirs_text}, not {mine_text}; "
                "drop the option to continue that run, or start a new one with a different --out"
            )
    if explicit & budget:
        config = config.replace(games=requested.games, minutes=requested.minutes)
    return config


class TrainingDiverged(CheckpointError):
    """An update made the parameters NaN or infinite; the last finite state is saved."""

    exit_code = 1

    @classmethod
    def at(cls, config: TrainConfig, last_finite_step: int, saved: Path) -> "TrainingDiverged":
        return cls(f"training diverged at update {last_finite_step + 1:,}: it made the parameters NaN or infinite "
                   f"(learning rate {config.learning_rate:g}, rewards {config.hit_reward:g}/{config.miss_reward:g}, "
                   f"entropy {config.entropy:g}, tried-mass weight {config.tried_mass_weight:g}); the last finite "
                   f"state (update {last_finite_step:,}) is in {saved}; start a new run with a lower --lr")


def train(
    config: TrainConfig,
    out: Path,
    *,
    resume: Checkpoint | None = None,
    init_params: dict | None = None,
    options: LoopOptions = LoopOptions(),
    on_progress: Callable[[Progress], None] = lambda progress: None,
    handle_signals: bool = True,
    stop: list[str] | None = None,
) -> TrainResult:
    """Train until the budget in ``config`` is spent or a signal arrives; checkpoint to ``out``.

    Writes ``out/checkpoint.msgpack`` (the latest state, to resume from) and ``out/best.msgpack`` (the state with
    the lowest exact mean among the evaluations at every ``options.eval_every``-th update and at the end of the
    budget). Both points are fixed update counts, so the best snapshot of a run is reproducible too; only when
    a stopped run's last state beats them all does that state become the best, so ``best.msgpack`` is never
    worse than the model the run ends with.

    ``init_params``: a fine-tuning run's starting parameters (``config.init`` says where they came from; see
    ``training.finetune``); the optimiser state starts fresh and the RNG key comes from the seed, as in a new run.

    ``stop``: a list someone else fills to ask for a stop (``training.signals.stop_on_signals``); without it,
    ``handle_signals`` installs the handlers for the duration of the run. A stop request is honoured within about
    ``options.stop_grace_s`` even while a chunk is still compiling or running: the chunk runs in a worker thread
    and, if it does not finish in time, is abandoned (``TrainResult.abandoned``) and the last finished state is
    saved. Raises ``TrainingDiverged`` if an update makes the
    parameters non-finite, after saving the last finite state.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state, games, elapsed_before, metrics = _initial_state(config, resume, init_params)
    chunk = compiled_chunk(config)
    writer = _tensorboard_writer(out) if options.tensorboard else None
    owns_signals = handle_signals and stop is None
    stop = [] if stop is None else stop
    step = int(state.step)
    start = time.perf_counter()

    def save(name: str = CHECKPOINT_NAME) -> Path:
        metrics["elapsed_s"] = elapsed_before + (time.perf_counter() - start)
        checkpoint = Checkpoint(state.params, state.opt_state, step, games, np.asarray(state.rng_key), config, dict(metrics))
        return save_checkpoint(out, checkpoint, name=name)

    last_save = start
    seconds_per_update: float | None = None
    abandoned = False
    evaluated_at = None  # the step metrics["eval_exact"] belongs to, once this run has evaluated
    try:
        with stop_on_signals(stop) if owns_signals else nullcontext():
            while not _budget_spent(config, step, elapsed_before + time.perf_counter() - start) and not stop:
                n = 1 if seconds_per_update is None else round(options.chunk_seconds / seconds_per_update)
                n = max(1, min(n, MAX_CHUNK_UPDATES, options.eval_every - step % options.eval_every))
                if config.updates is not None:
                    n = min(n, config.updates - step)
                tick = time.perf_counter()
                finished = _run_chunk(chunk, state, n, stop, options.stop_grace_s)
                if finished is None:  # stopped while the chunk still runs: keep the last finished state
                    abandoned = True
                    break
                new_state, chunk_metrics = finished
                done = int(chunk_metrics.updates)
                lengths = np.asarray(chunk_metrics.mean_lengths[:done])
                took = time.perf_counter() - tick
                if not bool(chunk_metrics.finite):
                    state, step, games = new_state, step + done, games + done * config.batch_size
                    raise TrainingDiverged.at(config, step, save())
                state = new_state
                seconds_per_update = took / n  # the first chunk (one update) includes compilation: the next is one too
                step += n
                games += n * config.batch_size
                elapsed = elapsed_before + time.perf_counter() - start
                # Evaluations at fixed update counts compete for best.msgpack; the one at an interruption only
                # reports (and wins only if it beats them all, below). A tie goes to the later snapshot: the same
                # skill after more training (and more of the tried-mass term).
                scheduled = step % options.eval_every == 0 or _budget_spent(config, step, elapsed)
                evaluated = None
                if scheduled or stop:
                    evaluated = metrics["eval_exact"] = exact_mean_length(config, state.params)
                    evaluated_at = step
                    if scheduled and evaluated <= metrics.get("best_exact", math.inf):
                        metrics.update(best_exact=evaluated, best_step=step)
                        save(BEST_NAME)
                if writer is not None:
                    _log(writer, config, step, games, lengths, n * config.batch_size / took, evaluated)
                on_progress(Progress(step, games, float(lengths.mean()), n * config.batch_size / took,
                                     _eta(config, step, elapsed, seconds_per_update), elapsed, evaluated))
                if time.perf_counter() - last_save >= options.checkpoint_seconds:
                    save()
                    last_save = time.perf_counter()
            if evaluated_at != step:  # nothing ran (a resumed run whose budget was spent), or a chunk was abandoned
                metrics["eval_exact"] = exact_mean_length(config, state.params)
            if metrics["eval_exact"] < metrics.get("best_exact", math.inf) or not (out / BEST_NAME).exists():
                metrics.update(best_exact=metrics["eval_exact"], best_step=step)
                save(BEST_NAME)
            path = save()
    finally:
        if writer is not None:
            writer.close()
    return TrainResult(path, step, games, metrics["eval_exact"], metrics["best_exact"], metrics["elapsed_s"],
                       bool(stop), abandoned)


def _run_chunk(chunk, state: TrainState, n: int, stop: list[str], grace_s: float):
    """``chunk(state, n)`` with its results ready, or None if a stop arrived and it did not finish within
    ``grace_s``. It runs in a daemon thread: compiling and running release the GIL, so this thread keeps
    serving signals. An abandoned chunk runs on to its end in the background, its results unused."""
    done = threading.Event()
    result: list = []

    def work() -> None:
        try:
            new_state, metrics = chunk(state, n)
            jax.block_until_ready((new_state, metrics))
            result.append((new_state, metrics))
        except BaseException as error:  # re-raised in the caller's thread
            result.append(error)
        finally:
            done.set()

    threading.Thread(target=work, name="train-chunk", daemon=True).start()
    deadline = None
    while not done.wait(0.05):
        if stop and deadline is None:
            deadline = time.monotonic() + grace_s
        if deadline is not None and time.monotonic() > deadline:
            return None
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _initial_state(config: TrainConfig, resume: Checkpoint | None,
                   init_params: dict | None = None) -> tuple[TrainState, int, float, dict]:
    if resume is None:
        state = init_train_state(config)
        if init_params is not None:  # fine-tuning: the given parameters, a fresh Adam state, the seed's key
            params = jax.tree_util.tree_map(jax.numpy.asarray, init_params)
            state = state._replace(params=params, opt_state=make_optimizer(config).init(params))
        return state, 0, 0.0, {}
    if resume.opt_state is None:
        raise CheckpointError(f"cannot resume {resume.path}: it holds no optimiser state (a policy-only checkpoint)")
    state = TrainState(
        params=jax.tree_util.tree_map(jax.numpy.asarray, resume.params),
        opt_state=jax.tree_util.tree_map(jax.numpy.asarray, resume.opt_state),
        step=jax.numpy.asarray(resume.step, jax.numpy.int32),
        rng_key=jax.numpy.asarray(resume.rng_key, jax.numpy.uint32),
    )
    return state, resume.games, float(resume.metrics.get("elapsed_s", 0.0)), dict(resume.metrics)


def _budget_spent(config: TrainConfig, step: int, elapsed: float) -> bool:
    if step >= min(config.updates or UPDATES.high, UPDATES.high):  # a time budget still stops where steps end
        return True
    return config.minutes is not None and elapsed >= config.minutes * 60


def _eta(config: TrainConfig, step: int, elapsed: float, seconds_per_update: float) -> float | None:
    etas = []
    if config.updates is not None:
        etas.append((config.updates - step) * seconds_per_update)
    if config.minutes is not None:
        etas.append(max(0.0, config.minutes * 60 - elapsed))
    return min(etas) if etas else None


def _tensorboard_writer(out: Path):
    from tensorboardX import SummaryWriter

    return SummaryWriter(logdir=str(out / "logs"))


def _log(writer, config: TrainConfig, step: int, games: int, lengths: np.ndarray, games_per_s: float, evaluated) -> None:
    """Scalars against games played, like the reference trainer's one-game-per-step ``game_length`` curve."""
    first = games - len(lengths) * config.batch_size
    for i, length in enumerate(lengths):
        writer.add_scalar("game_length", float(length), first + (i + 1) * config.batch_size)
    writer.add_scalar("games_per_s", games_per_s, games)
    if evaluated is not None:
        writer.add_scalar("eval/exact_mean_length", evaluated, games)
    writer.flush()
