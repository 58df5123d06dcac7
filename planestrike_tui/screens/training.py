"""Retrain from the app: runs ``planestrike train --progress jsonl`` as a child process and charts its progress.

The run lives in a separate process because JAX compiling in this process would stall the UI. The trainer prints
one JSON object per line: ``start`` once it has loaded JAX (the first chunk then compiles, for seconds), one
progress object per chunk (some with an exact evaluation), then ``done`` or ``error``. Until the first progress
object the screen counts the seconds ("Starting…", then "Compiling…"); the progress bar appears with ``start``,
which names the run's updates, so a run that fails to start never shows a bar. Cancelling sends SIGINT, on which
the trainer saves its last checkpoint and exits. The screen is installed once and kept, so a run goes on while
the person plays.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, ProgressBar, Static

from planestrike_tui.jobs import Job, planestrike_argv
from planestrike_tui.training_chart import LearningCurve, legend

DEFAULT_GAMES = 200_000
TICK_S = 0.5  # how often the "Starting… / Compiling…" line counts its seconds


@dataclass(frozen=True)
class TrainRequest:
    games: int
    seed: int
    out: Path

    def argv(self) -> list[str]:
        return planestrike_argv("train", "--progress", "jsonl", "--games", str(self.games), "--seed", str(self.seed),
                                "--out", str(self.out))


@dataclass
class TrainingStarted(Message):
    """The trainer has loaded JAX and is compiling its first chunk."""

    step: int  # updates already done (a resumed run starts above 0)
    games: int
    updates: int | None  # the run's total, None for a time budget


@dataclass
class TrainingProgress(Message):
    step: int
    games: int
    mean_length: float
    games_per_s: float
    eta_s: float | None
    eval_exact: float | None = None


@dataclass
class TrainingEnded(Message):
    checkpoint: str | None  # the last checkpoint written, if any
    error: str | None  # one line, when the run failed
    cancelled: bool


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


def trainer_message(data: dict) -> TrainingStarted | TrainingProgress | None:
    """The message for one of the trainer's ``start`` or progress objects (None for any other object).
    Raises KeyError, TypeError or ValueError on an object that is not what the trainer prints."""
    event = data.get("event")
    if event == "start":
        updates = data.get("updates")
        return TrainingStarted(step=int(data["step"]), games=int(data["games"]),
                               updates=None if updates is None else int(updates))
    if event is None and "step" in data:
        return TrainingProgress(step=int(data["step"]), games=int(data["games"]),
                                mean_length=float(data["mean_length"]), games_per_s=float(data["games_per_s"]),
                                eta_s=_optional_float(data.get("eta_s")),
                                eval_exact=_optional_float(data.get("eval_exact")))
    return None


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def default_run_dir() -> Path:
    return Path("runs") / time.strftime("app-%Y%m%d-%H%M%S")


class TrainingScreen(Screen):
    DEFAULT_CSS = """
    TrainingScreen {
        #training-body {
            height: 1fr;
            padding: 0 1;
        }
        .form {
            height: auto;
            margin-top: 1;
            Label { padding: 0 1 0 0; }
            Input { margin-right: 2; }
            #games { width: 12; }
            #seed { width: 8; }
            #out { width: 1fr; margin-right: 0; }
        }
        .buttons {
            height: auto;
            margin-top: 1;
            Button { margin-right: 2; min-width: 10; }
            #convert { display: none; }
        }
        /* Textual's own focus marks (reversed text, a 5% tint) are easy to miss on a projector. */
        #training-body Button:focus {
            background: $accent;
            color: auto 90%;
            text-style: bold;
        }
        #training-body Input:focus { background-tint: $accent 25%; }
        #stats { height: auto; margin-top: 1; }
        #progress-row {
            visibility: hidden;
            height: 1;
            #progress-label { width: 1fr; padding-left: 2; }
        }
        #outcome {
            height: auto;
            color: $success;
            &.-error { color: $error; }
        }
        #legend { height: auto; color: $text-muted; }
        &.-idle .curve { display: none; }
    }
    TrainingScreen.-tall {
        #training-body { padding: 1 2; }
        #legend { margin-top: 1; }
    }
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back to the game"),
        Binding("x", "cancel", "Stop training"),
        Binding("z", "toggle_close_up", "Zoom", tooltip="The last third of the run, close up; again: the whole run"),
    ]

    clock = staticmethod(time.monotonic)  # the elapsed seconds on screen read this

    def __init__(self) -> None:
        super().__init__(id="training")
        self.job: Job | None = None
        self.checkpoint: str | None = None
        self.phase = "idle"  # idle, starting, compiling, training, ended
        self.started_at = 0.0
        self.updates: int | None = None  # the run's total, from its start object
        self.last_exact: float | None = None
        self.last_stats = ""  # the last update's line, shown again once a stopped run has ended

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="training-body"):
            with Horizontal(classes="form"):
                yield Label("Games")
                yield Input(str(DEFAULT_GAMES), id="games", type="integer", compact=True)
                yield Label("Seed")
                yield Input("0", id="seed", type="integer", compact=True)
                yield Label("Output")
                yield Input(str(default_run_dir()), id="out", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Start", id="start", variant="primary", compact=True)
                yield Button("Stop", id="stop", variant="error", disabled=True, compact=True)
                yield Button("Convert this checkpoint", id="convert", variant="success", compact=True)
            yield Static("Not started. Enter in a field, or Start, begins a run.", id="stats", markup=False)
            with Horizontal(id="progress-row"):
                yield ProgressBar(total=None, id="progress", show_eta=False)
                yield Static("", id="progress-label", markup=False)
            yield Static("", id="outcome", markup=False)
            yield Static(legend(), id="legend", classes="curve")
            yield LearningCurve(id="chart", classes="curve")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Plane Strike"
        self.sub_title = "Training"
        self.query_one("#start", Button).focus()  # enter starts a run with the defaults
        self.set_class(True, "-idle")  # no curve yet
        self.show_outcome("")
        self.ticker = self.set_interval(TICK_S, self.show_waiting, pause=True)

    @property
    def chart(self) -> LearningCurve:
        return self.query_one("#chart", LearningCurve)

    # ------------------------------------------------------------------------------------------- start
    @on(Button.Pressed, "#start")
    @on(Input.Submitted, ".form Input")
    def start_pressed(self) -> None:
        if self.job is not None:
            return
        try:
            request = TrainRequest(int(self.query_one("#games", Input).value), int(self.query_one("#seed", Input).value),
                                   Path(self.query_one("#out", Input).value.strip() or default_run_dir()))
        except ValueError:
            self.show_outcome("Games and seed must be whole numbers.", error=True)
            return
        self.start(request)

    def start(self, request: TrainRequest) -> None:
        self.checkpoint = None
        self.updates = None
        self.last_exact = None
        self.chart.clear()
        self.set_class(True, "-idle")
        # Hidden, not undisplayed, until the trainer says how long the run is: the bar keeps its width, which its
        # rendering rounds to, so one progress value always draws the same bar (and nothing jumps when it appears).
        self.query_one("#progress-row").visible = False
        self.show_outcome("")
        self.phase, self.started_at = "starting", self.clock()
        self.show_waiting()
        self.ticker.resume()
        self.job = Job(request.argv())
        self.set_running(True)
        self.run_training(self.job)

    def show_waiting(self) -> None:
        """The line shown until the first update: what the trainer is doing, and for how long it has."""
        seconds = int(self.clock() - self.started_at)
        if self.phase == "starting":
            self.query_one("#stats", Static).update(f"Starting the trainer (loading JAX)… {seconds} s")
        elif self.phase == "compiling":
            self.query_one("#stats", Static).update(
                f"Compiling… {seconds} s (JAX compiles the training step once; the first update follows)")

    def set_running(self, running: bool) -> None:
        """While a run goes on its settings are fixed, and focus sits on Stop (so x and enter both stop it).
        Convert is offered only once the run has ended with a checkpoint."""
        for widget in self.query(".form Input"):
            widget.disabled = running
        self.query_one("#start", Button).disabled = running
        stop = self.query_one("#stop", Button)
        stop.disabled = not running
        convert = self.query_one("#convert", Button)
        convert.display = not running and self.checkpoint is not None
        if running:
            stop.focus()
        elif convert.display:
            convert.focus()
        else:
            self.query_one("#start", Button).focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.job is not None  # the footer offers "Stop training" only while one runs
        if action == "toggle_close_up":
            return bool(self.chart.curve.lengths)
        return True

    # ------------------------------------------------------------------------------------------ the run
    @work(exclusive=True, group="training")
    async def run_training(self, job: Job) -> None:
        checkpoint, error, interrupted = None, None, False
        try:
            await job.start()
            async for data in job.objects():
                event = data.get("event")
                if event == "done":
                    checkpoint, interrupted = data.get("checkpoint"), bool(data.get("interrupted"))
                elif event == "error":
                    error = str(data.get("message", "training failed"))
                else:
                    try:
                        message = trainer_message(data)
                    except (KeyError, TypeError, ValueError):
                        continue  # not one of the trainer's objects: skipped like any other output
                    if message is not None:
                        self.post_message(message)
            result = await job.finish()
        except asyncio.CancelledError:  # the app is closing: the trainer saves its checkpoint and exits too
            job.interrupt()
            raise
        except OSError as failure:  # could not start at all
            self.post_message(TrainingEnded(None, f"could not start training: {failure}", cancelled=False))
            return
        if not result.ok and error is None:
            error = result.error
        self.post_message(TrainingEnded(checkpoint, error, cancelled=interrupted or job.interrupted))

    @on(TrainingStarted)
    def started(self, message: TrainingStarted) -> None:
        if self.phase != "starting":
            return
        self.phase = "compiling"
        self.updates = message.updates
        progress = self.query_one("#progress", ProgressBar)
        progress.update(total=message.updates, progress=message.step)  # None: a time budget, no end to show
        self.query_one("#progress-label", Static).update(self.updates_done(message.step))
        self.query_one("#progress-row").visible = True
        self.show_waiting()

    def updates_done(self, step: int, eta_s: float | None = None) -> str:
        total = f" of {self.updates:,}" if self.updates is not None else ""
        eta = f" · ETA {format_eta(eta_s)}" if eta_s is not None else ""
        return f"update {step:,}{total}{eta}"

    @on(TrainingProgress)
    def progress(self, message: TrainingProgress) -> None:
        if self.phase not in ("compiling", "training"):
            return
        self.phase = "training"
        self.ticker.pause()
        self.query_one("#progress", ProgressBar).update(progress=message.step)
        self.query_one("#progress-label", Static).update(self.updates_done(message.step, message.eta_s))
        self.set_class(False, "-idle")
        self.chart.add(message.games, message.mean_length, message.eval_exact)
        if message.eval_exact is not None:
            self.last_exact = message.eval_exact
        stats = (f"{message.games:,} games · {message.games_per_s:,.0f} games/s · "
                 f"mean length {message.mean_length:.2f}")
        if self.last_exact is not None:
            stats += f" · exact {self.last_exact:.3f}"
        self.last_stats = stats
        self.query_one("#stats", Static).update(stats)
        if len(self.chart.curve.lengths) == 1:
            self.refresh_bindings()  # the close-up key applies once there is a curve

    @on(TrainingEnded)
    def ended(self, message: TrainingEnded) -> None:
        updated = self.phase == "training"
        self.phase = "ended"
        self.ticker.pause()
        self.checkpoint = message.checkpoint
        self.job = None
        if updated:
            self.query_one("#stats", Static).update(self.last_stats)  # not "Stopping…" any more
        else:  # it ended before its first update: there is no progress to show
            self.query_one("#progress-row").visible = False
            self.query_one("#stats", Static).update(
                f"The trainer ended after {int(self.clock() - self.started_at)} s, before its first update.")
        if message.error and not message.cancelled:
            self.show_outcome(f"Training failed: {message.error}", error=True)
        elif message.checkpoint:
            how = "Stopped" if message.cancelled else "Finished"
            self.show_outcome(f"{how}. Checkpoint: {message.checkpoint}")
        else:
            self.show_outcome("Stopped before the first checkpoint was written.", error=True)
        self.set_running(False)

    def show_outcome(self, text: str, *, error: bool = False) -> None:
        outcome = self.query_one("#outcome", Static)
        outcome.update(text)
        outcome.set_class(error, "-error")
        outcome.display = bool(text)  # an empty line would push the chart down a row

    # -------------------------------------------------------------------------------------------- keys
    def action_cancel(self) -> None:
        if self.job is not None:
            self.job.interrupt()
            self.ticker.pause()
            self.query_one("#stats", Static).update("Stopping: the trainer is saving its last checkpoint…")

    def action_toggle_close_up(self) -> None:
        self.chart.zoomed = not self.chart.zoomed

    @on(Button.Pressed, "#stop")
    def stop_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#convert")
    def convert_pressed(self) -> None:
        if self.checkpoint and self.job is None:
            self.app.open_conversion(Path(self.checkpoint))
