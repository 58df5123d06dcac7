"""Convert a checkpoint to TensorFlow Lite from the app: runs ``planestrike convert --json`` as a child process.

The converter's last stdout line is a JSON report (sizes, parity with JAX); this screen shows it as a table. Each
quantization writes to its own file by default (``training.convert.variant_name``: ``planestrike.int8.tflite``
beside ``planestrike.tflite``), so a variant never replaces the float model. "Convert all variants" runs the three
one after the other; a running conversion can be cancelled (the converter writes through a temporary file, so a
cancelled one leaves the previous model as it was). Models that passed the parity gate can be added as panels,
and a float one made the active model (the first Flax and LiteRT panels reload it in place).
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
from training.convert import QUANTIZATIONS, variant_name

CANCEL_GRACE_S = 1.0  # after SIGINT, before SIGKILL: the converter stops within a second or two


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
    cancelled: bool = False


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
        self.converted: list[ConvertRequest] = []  # this run's models that passed the gate
        self.queue: list[ConvertRequest] = []  # conversions still to run ("convert all variants")
        self.running: ConvertRequest | None = None

    def compose(self) -> ComposeResult:
        checkpoint = self.initial_checkpoint
        out = default_output(checkpoint) if checkpoint else Path(variant_name())
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
                yield Button("Convert all variants", id="start-all")
                yield Button("Cancel", id="cancel", variant="error", disabled=True)
            yield Static("", id="outcome", markup=False)
            yield DataTable(id="report", show_cursor=False, zebra_stripes=True)
            with Horizontal(classes="buttons"):
                yield Button("Use this model in the game", id="activate", variant="success", disabled=True)
                yield Button("Add as panels", id="add-panels", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Plane Strike"
        self.sub_title = "Conversion to TensorFlow Lite"
        self.query_one("#report", DataTable).add_columns("field", "value")

    def set_checkpoint(self, checkpoint: Path) -> None:
        self.query_one("#checkpoint", Input).value = str(checkpoint)
        self.query_one("#out", Input).value = str(default_output(checkpoint, self.quantize()))

    def quantize(self) -> str:
        return str(self.query_one("#quantize", Select).value)

    @on(Select.Changed, "#quantize")
    def quantize_changed(self, event: Select.Changed) -> None:
        """An output still named by the default rule follows the quantization: int8 never lands on the float
        model's file unless the person types that name."""
        field = self.query_one("#out", Input)
        out = Path(field.value.strip())
        if out.name in {variant_name(q) for q in QUANTIZATIONS}:
            field.value = str(out.with_name(variant_name(str(event.value))))

    def form(self) -> tuple[Path, Path] | None:
        checkpoint = self.query_one("#checkpoint", Input).value.strip()
        out = self.query_one("#out", Input).value.strip()
        if not checkpoint or not out:
            self.show_outcome("Give a checkpoint and an output file.", error=True)
            return None
        return Path(checkpoint), Path(out)

    @on(Button.Pressed, "#start")
    def start_pressed(self) -> None:
        if (form := self.form()) is not None:
            self.start([ConvertRequest(*form, self.quantize())])

    @on(Button.Pressed, "#start-all")
    def start_all_pressed(self) -> None:
        """The three variants, each to the output's name for it (see ``variant_of``)."""
        if (form := self.form()) is not None:
            checkpoint, out = form
            self.start([ConvertRequest(checkpoint, variant_of(out, q), q) for q in QUANTIZATIONS])

    def start(self, requests: list[ConvertRequest]) -> None:
        self.converted = []
        self.queue = list(requests)
        self.query_one("#report", DataTable).clear()
        self.query_one("#activate", Button).disabled = True
        self.query_one("#add-panels", Button).disabled = True
        self.next_conversion()

    def next_conversion(self) -> None:
        busy = bool(self.queue)
        for button in ("#start", "#start-all"):
            self.query_one(button, Button).disabled = busy
        self.query_one("#cancel", Button).disabled = not busy
        if not busy:
            self.running = None
            return
        request = self.running = self.queue.pop(0)
        self.show_outcome(f"Converting {request.checkpoint} → {request.out} ({request.quantize})…")
        self.run_conversion(request)

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.queue.clear()
        self.workers.cancel_group(self, "conversion")

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
            await stop(job)
            self.post_message(ConversionEnded(request, None, None, cancelled=True))
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
        request = message.request
        if message.cancelled:
            self.queue.clear()
            self.show_outcome(f"Cancelled: {request.out} was not written (an earlier file there is unchanged).",
                              error=True)
        elif message.error:
            self.queue.clear()
            self.show_outcome(f"Conversion failed: {message.error}", error=True)
        else:
            self.show_report(request, message.report)
        self.next_conversion()
        if self.running is None and self.converted:
            self.query_one("#add-panels", Button).disabled = False
            self.query_one("#activate", Button).disabled = not any(r.quantize == "none" for r in self.converted)

    def show_report(self, request: ConvertRequest, report: dict) -> None:
        table = self.query_one("#report", DataTable)
        if table.row_count:
            table.add_row("", "")
        for name, value in report_rows(report):
            table.add_row(name, value)
        if report_passed(report):
            self.converted.append(request)
            self.show_outcome(f"Converted: {request.out}. Parity check passed.")
        else:
            self.show_outcome(f"Converted: {request.out}, but the parity check did not pass: "
                              "it cannot be made the active model.", error=True)

    def show_outcome(self, text: str, *, error: bool = False) -> None:
        outcome = self.query_one("#outcome", Static)
        outcome.update(text)
        outcome.set_class(error, "-error")

    @on(Button.Pressed, "#activate")
    def activate_pressed(self) -> None:
        floats = [request for request in self.converted if request.quantize == "none"]
        if floats:
            self.app.activate_models(floats[0].checkpoint, floats[0].out)

    @on(Button.Pressed, "#add-panels")
    def add_panels_pressed(self) -> None:
        if self.converted:
            self.app.add_model_panels([request.out for request in self.converted])


async def stop(job: Job) -> None:
    """Ask the converter to stop (SIGINT), and kill it if it has not within the grace period."""
    job.interrupt()
    try:
        await asyncio.wait_for(asyncio.shield(job.process.wait()), CANCEL_GRACE_S)
    except (asyncio.TimeoutError, AttributeError):
        job.kill()


def variant_of(out: Path, quantize: str) -> Path:
    """The file for ``quantize`` beside ``out``: a default name becomes that quantization's default name, any
    other ``NAME.tflite`` becomes ``NAME.float16.tflite`` / ``NAME.int8.tflite`` (float32: ``NAME.tflite``)."""
    if out.name in {variant_name(q) for q in QUANTIZATIONS}:
        return out.with_name(variant_name(quantize))
    suffix = variant_name(quantize).removeprefix(variant_name().removesuffix(".tflite"))  # ".int8.tflite"
    return out.with_name(out.name.removesuffix(".tflite") + suffix)


def default_output(checkpoint: Path, quantize: str = "none") -> Path:
    """Next to the checkpoint: ``runs/x/planestrike.tflite`` for ``runs/x`` or ``runs/x/checkpoint.msgpack``
    (``planestrike.int8.tflite`` for int8, and so on)."""
    directory = checkpoint if checkpoint.suffix == "" else checkpoint.parent
    return directory / variant_name(quantize)
