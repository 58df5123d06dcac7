"""Load another model file: a .tflite file goes to the LiteRT agent, a checkpoint to the Flax agent."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class ModelDialog(ModalScreen[Path | None]):
    # A Label is as wide as its text and one line high: the hint must wrap within the dialog instead of being cut.
    DEFAULT_CSS = """
    ModelDialog #dialog .hint, ModelDialog #dialog .problem { width: 1fr; height: auto; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Load a model[/b]")
            yield Static("A .tflite file opens in a LiteRT panel of its own, a checkpoint (a .msgpack file or a run "
                         "directory) in a Flax panel. Enter loads it, escape cancels.", classes="hint", markup=False)
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
