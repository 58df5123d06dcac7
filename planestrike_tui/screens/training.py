"""Retrain from the app: runs ``planestrike train --progress jsonl`` as a child process and charts its progress.

The run lives in a separate process because JAX compiling in this process would stall the UI. Each JSON line
becomes a ``TrainingProgress`` message; cancelling sends SIGINT, on which the trainer saves its last checkpoint
and exits. The screen is installed once and kept, so a run goes on while the person plays.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, ProgressBar, Sparkline, Static

from planestrike_tui.jobs import Job, planestrike_argv

DEFAULT_GAMES = 200_000


@dataclass(frozen=True)
class TrainRequest:
    games: int
    seed: int
    out: Path

    def argv(self) -> list[str]:
        return planestrike_argv("train", "--progress", "jsonl", "--games", str(self.games), "--seed", str(self.seed),
                                "--out", str(self.out))


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


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def default_run_dir() -> Path:
    return Path("runs") / time.strftime("app-%Y%m%d-%H%M%S")


class TrainingScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back to the game"),
        Binding("x", "cancel", "Stop training"),
    ]

    def __init__(self) -> None:
        super().__init__(id="training")
        self.job: Job | None = None
        self.lengths: list[float] = []
        self.checkpoint: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="training-body"):
            with Horizontal(classes="form"):
                yield Label("Games")
                yield Input(str(DEFAULT_GAMES), id="games", type="integer")
                yield Label("Seed")
                yield Input("0", id="seed", type="integer")
                yield Label("Output")
                yield Input(str(default_run_dir()), id="out")
            with Horizontal(classes="buttons"):
                yield Button("Start", id="start", variant="primary")
                yield Button("Stop", id="stop", variant="error", disabled=True)
            yield ProgressBar(total=DEFAULT_GAMES, id="progress", show_eta=False)
            yield Static("Not started.", id="stats", markup=False)
            yield Label("Mean game length (strikes; lower is better)", classes="caption curve")
            yield Sparkline([], id="curve", classes="curve")
            yield Static("", id="outcome", markup=False)
            yield Button("Convert this checkpoint", id="convert", variant="success", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Plane Strike"
        self.sub_title = "Training"
        self.query_one("#start", Button).focus()  # enter starts a run with the defaults
        self.set_class(True, "-idle")  # no curve and no checkpoint to convert yet

    @on(Button.Pressed, "#start")
    def start_pressed(self) -> None:
        try:
            request = TrainRequest(int(self.query_one("#games", Input).value), int(self.query_one("#seed", Input).value),
                                   Path(self.query_one("#out", Input).value.strip() or default_run_dir()))
        except ValueError:
            self.show_outcome("Games and seed must be whole numbers.", error=True)
            return
        self.start(request)

    def start(self, request: TrainRequest) -> None:
        self.lengths.clear()
        self.checkpoint = None
        self.query_one("#curve", Sparkline).data = []
        progress = self.query_one("#progress", ProgressBar)
        progress.update(total=request.games, progress=0)
        self.query_one("#stats", Static).update(f"Starting: {' '.join(request.argv()[1:])}")
        self.show_outcome("")
        self.job = Job(request.argv())
        self.set_running(True)
        self.run_training(self.job)

    def set_running(self, running: bool) -> None:
        """While a run goes on its settings are fixed, and focus sits on Stop (so x and enter both stop it)."""
        for widget in self.query(".form Input"):
            widget.disabled = running
        self.query_one("#start", Button).disabled = running
        stop = self.query_one("#stop", Button)
        stop.disabled = not running
        convert = self.query_one("#convert", Button)
        convert.disabled = running or self.checkpoint is None
        if running:
            stop.focus()
        elif not convert.disabled:
            convert.focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.job is not None  # the footer offers "Stop training" only while one runs
        return True

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
                elif event is None and "step" in data:  # a progress line ("start" comes before compiling)
                    self.post_message(TrainingProgress(
                        step=int(data["step"]), games=int(data["games"]), mean_length=float(data["mean_length"]),
                        games_per_s=float(data["games_per_s"]),
                        eta_s=None if data.get("eta_s") is None else float(data["eta_s"]),
                        eval_exact=None if data.get("eval_exact") is None else float(data["eval_exact"]),
                    ))
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

    @on(TrainingProgress)
    def progress(self, message: TrainingProgress) -> None:
        self.query_one("#progress", ProgressBar).update(progress=message.games)
        self.set_class(False, "-idle")
        self.lengths.append(message.mean_length)
        self.query_one("#curve", Sparkline).data = list(self.lengths)
        stats = (f"update {message.step:,} · {message.games:,} games · {message.games_per_s:,.0f} games/s · "
                 f"ETA {format_eta(message.eta_s)} · mean length {message.mean_length:.2f}")
        if message.eval_exact is not None:
            stats += f" · exact eval {message.eval_exact:.3f}"
        self.query_one("#stats", Static).update(stats)

    @on(TrainingEnded)
    def ended(self, message: TrainingEnded) -> None:
        self.checkpoint = message.checkpoint
        self.job = None
        if message.error and not message.cancelled:
            self.show_outcome(f"Training failed: {message.error}", error=True)
        elif message.checkpoint:
            how = "Stopped" if message.cancelled else "Finished"
            self.show_outcome(f"{how}. Checkpoint: {message.checkpoint}. Convert it to try it against LiteRT.")
        else:
            self.show_outcome("Stopped before the first checkpoint was written.", error=True)
        self.set_running(False)

    def show_outcome(self, text: str, *, error: bool = False) -> None:
        outcome = self.query_one("#outcome", Static)
        outcome.update(text)
        outcome.set_class(error, "-error")

    def action_cancel(self) -> None:
        if self.job is not None:
            self.job.interrupt()
            self.query_one("#stats", Static).update("Stopping: the trainer is saving its last checkpoint…")

    @on(Button.Pressed, "#stop")
    def stop_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#convert")
    def convert_pressed(self) -> None:
        if self.checkpoint:
            self.app.open_conversion(Path(self.checkpoint))
