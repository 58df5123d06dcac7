"""Choose the opponent: the loaded agents, the reference agents, or a phone by serial."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from planestrike_tui.roster import KIND_DESCRIPTIONS, KIND_TITLES, Roster, SlotState

CHOICES = ("flax", "tflite", "hunter", "app", "random")


class OpponentDialog(ModalScreen[str | None]):
    """Dismisses with a spec (``hunter``, ``device:SERIAL``) or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, roster: Roster, current: str) -> None:
        super().__init__()
        self.roster = roster
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Choose your opponent[/b] (a new game starts)")
            yield OptionList(*self.options(), id="opponents")
            yield Label("or a phone: its adb serial", classes="hint")
            yield Input(placeholder="device serial, e.g. emulator-5554", id="serial")

    def options(self) -> list[Option]:
        kinds = list(dict.fromkeys([*CHOICES, *self.roster.slots]))
        options = []
        for kind in kinds:
            slot = self.roster.get(kind)
            label = slot.title if slot else KIND_TITLES.get(kind, kind)
            description = KIND_DESCRIPTIONS.get(kind) if slot is None or slot.spec == kind else None
            note = f"  [dim]{description}[/dim]" if description else ""
            if slot is not None and slot.state is SlotState.FAILED:
                note += f"  [dim]unavailable: {slot.error}[/dim]"
            elif slot is not None and slot.state is SlotState.LOADING:
                note += "  [dim]loading[/dim]"
            if kind == self.current:
                note += "  [dim](current)[/dim]"
            options.append(Option(f"{label}{note}", id=kind, disabled=slot is not None and slot.state is SlotState.FAILED))
        return options

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    @on(Input.Submitted, "#serial")
    def serial_given(self, event: Input.Submitted) -> None:
        serial = event.value.strip()
        if serial:
            self.dismiss(f"device:{serial}")

    def action_cancel(self) -> None:
        self.dismiss(None)
