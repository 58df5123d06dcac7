"""Convert a checkpoint to TensorFlow Lite from the app: runs ``planestrike convert --json`` as a child process.

The converter's last stdout line is a JSON report (sizes, parity with JAX); this screen shows it as a table. A
model whose parity check passed can be made the active one: the Flax and LiteRT panels reload it in place.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Select, Static

from planestrike_tui.jobs import Job, planestrike_argv

QUANTIZATIONS = ("none", "float16", "dynamic-int8")


@dataclass(frozen=True)
class ConvertRequest:
    checkpoint: Path
    out: Path
    quantize: str = "none"

    def argv(self) -> list[str]:
        return planestrike_argv("convert", "--checkpoint", str(self.checkpoint), "--out", str(self.out),
                                "--quantize", self.quantize, "--json")


@dataclass
class ConversionEnded(Message):
    request: ConvertRequest
    report: dict | None  # the converter's JSON report
    error: str | None  # one line, when it failed


def report_passed(report: dict) -> bool:
    """Whether the converted model passed the parity gate (it answers like the checkpoint)."""
    return bool(report.get("passed"))


# The report's fields worth reading on screen, in order: (label, path in the report, format).
REPORT_ROWS = (
    ("Model", ("model",), str),
    ("Size", ("bytes",), lambda n: f"{n:,} bytes"),
    ("Quantization", ("quantization",), str),
    ("Ops", ("ops",), lambda ops: ", ".join(dict.fromkeys(ops))),
    ("Parity boards", ("parity", "boards"), lambda n: f"{n:,}"),
    ("Max |Δp| vs Flax", ("parity", "max_abs_diff"), lambda x: f"{x:.2e}"),
    ("Mean |Δp| vs Flax", ("parity", "mean_abs_diff"), lambda x: f"{x:.2e}"),
    ("Same choice as Flax", ("parity", "argmax_agreement"), lambda x: f"{100 * x:.2f}% of boards"),
    ("Parity gate", ("passed",), lambda ok: "passed" if ok else "FAILED"),
    ("Exact mean strikes", ("eval", "exact_mean_strikes"), lambda x: f"{x:.4f}"),
    ("Conversion time", ("seconds",), lambda s: f"{s:.1f} s"),
)


def report_rows(report: dict) -> list[tuple[str, str]]:
    """(label, value) rows for the fields of ``REPORT_ROWS`` the report has."""
    rows = []
    for label, path, fmt in REPORT_ROWS:
        value = report
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            rows.append((label, fmt(value)))
    return rows


class ConversionScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back to the game")]

    def __init__(self, checkpoint: Path | None = None) -> None:
        super().__init__(id="conversion")
        self.initial_checkpoint = checkpoint
        self.converted: ConvertRequest | None = None

    def compose(self) -> ComposeResult:
        checkpoint = self.initial_checkpoint
        out = default_output(checkpoint) if checkpoint else Path("planestrike.tflite")
        yield Header()
        with VerticalScroll(id="conversion-body"):
            with Horizontal(classes="form"):
                yield Label("Checkpoint")
                yield Input(str(checkpoint or ""), id="checkpoint", placeholder="checkpoint directory or file")
                yield Label("Output")
                yield Input(str(out), id="out")
            with Horizontal(classes="form"):
                yield Label("Quantize")
                yield Select([(q, q) for q in QUANTIZATIONS], value="none", allow_blank=False, id="quantize")
            with Horizontal(classes="buttons"):
                yield Button("Convert", id="start", variant="primary")
            yield Static("", id="outcome", markup=False)
            yield DataTable(id="report", show_cursor=False, zebra_stripes=True)
            yield Button("Use this model in the game", id="activate", variant="success", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Plane Strike"
        self.sub_title = "Conversion to TensorFlow Lite"
        self.query_one("#report", DataTable).add_columns("field", "value")

    def set_checkpoint(self, checkpoint: Path) -> None:
        self.query_one("#checkpoint", Input).value = str(checkpoint)
        self.query_one("#out", Input).value = str(default_output(checkpoint))

    @on(Button.Pressed, "#start")
    def start_pressed(self) -> None:
        checkpoint = self.query_one("#checkpoint", Input).value.strip()
        out = self.query_one("#out", Input).value.strip()
        if not checkpoint or not out:
            self.show_outcome("Give a checkpoint and an output file.", error=True)
            return
        self.start(ConvertRequest(Path(checkpoint), Path(out), str(self.query_one("#quantize", Select).value)))

    def start(self, request: ConvertRequest) -> None:
        self.converted = None
        self.query_one("#report", DataTable).clear()
        self.query_one("#start", Button).disabled = True
        self.query_one("#activate", Button).disabled = True
        self.show_outcome(f"Converting {request.checkpoint} → {request.out}…")
        self.run_conversion(request)

    @work(exclusive=True, group="conversion")
    async def run_conversion(self, request: ConvertRequest) -> None:
        job = Job(request.argv())
        report = None
        try:
            await job.start()
            async for data in job.objects():
                report = data  # the report is the last JSON line
            result = await job.finish()
        except asyncio.CancelledError:
            job.kill()
            raise
        except OSError as failure:
            self.post_message(ConversionEnded(request, None, f"could not start the converter: {failure}"))
            return
        if result.ok and report is not None:
            self.post_message(ConversionEnded(request, report, None))
        else:
            self.post_message(ConversionEnded(request, None, result.error or "the converter printed no report"))

    @on(ConversionEnded)
    def ended(self, message: ConversionEnded) -> None:
        self.query_one("#start", Button).disabled = False
        if message.error:
            self.show_outcome(f"Conversion failed: {message.error}", error=True)
            return
        table = self.query_one("#report", DataTable)
        for name, value in report_rows(message.report):
            table.add_row(name, value)
        if report_passed(message.report):
            self.converted = message.request
            self.query_one("#activate", Button).disabled = False
            self.show_outcome(f"Converted: {message.request.out}. Parity check passed.")
        else:
            self.show_outcome(f"Converted: {message.request.out}, but the parity check did not pass: "
                              "it cannot be made the active model.", error=True)

    def show_outcome(self, text: str, *, error: bool = False) -> None:
        outcome = self.query_one("#outcome", Static)
        outcome.update(text)
        outcome.set_class(error, "-error")

    @on(Button.Pressed, "#activate")
    def activate_pressed(self) -> None:
        if self.converted is not None:
            self.app.activate_models(self.converted.checkpoint, self.converted.out)


def default_output(checkpoint: Path) -> Path:
    """Next to the checkpoint: ``runs/x/planestrike.tflite`` for ``runs/x`` or ``runs/x/checkpoint.msgpack``."""
    directory = checkpoint if checkpoint.suffix == "" else checkpoint.parent
    return directory / "planestrike.tflite"
