"""Load another model file: a .tflite file goes to the LiteRT agent, a checkpoint to the Flax agent."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class ModelDialog(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Load a model[/b]")
            yield Label("A .tflite file replaces the LiteRT agent; a checkpoint (file or directory) the Flax agent.",
                        classes="hint")
            yield Input(placeholder="path to model.tflite or a checkpoint", id="path")
            yield Label("", id="problem", classes="problem", markup=False)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        path = Path(text).expanduser()
        if not path.exists():
            self.query_one("#problem", Label).update(f"{path} does not exist: check the path.")
            return
        self.dismiss(path.resolve())

    def action_cancel(self) -> None:
        self.dismiss(None)
