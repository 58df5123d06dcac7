"""Choose an agent: as the opponent, or for a new panel. And choose a panel to remove.

The list holds the built-in agents (with what each is) and the loaded ones; the field below takes anything
else: any agent spec (``tflite:model.int8.tflite``, ``device:emulator-5554``), a model file (a ``.tflite`` goes
to LiteRT, a checkpoint to Flax) or a phone's adb serial.
"""

from __future__ import annotations

import re
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from engine.errors import PlanestrikeError
from planestrike_tui.roster import FILE_KINDS, KIND_DESCRIPTIONS, AgentSlot, Roster, SlotState, canonical_spec

# What adb calls a device: emulator-5554, R58M12345AB, 192.168.1.7:5555, [::1]:5555 (a word with a digit in it).
ADB_SERIAL = re.compile(r"(?=.*\d)[\w.\-:\[\]]+")
# The built-in choices, in the order listed.
CHOICES = ("flax", "tflite", "tflite:float16", "tflite:int8", "hunter", "optimal", "app", "random")


def spec_from_text(text: str) -> str:
    """What a person typed, as a spec: a spec as it is, an existing file as its model's spec, any other single
    word as a phone's serial. Raises PlanestrikeError (one line) for a spec that names no agent."""
    from engine.specs import agent_kinds, check_agent_spec

    text = text.strip()
    kind, _, argument = text.partition(":")
    if kind in agent_kinds():
        check_agent_spec(text)
        spec = canonical_spec(text)
        if kind in FILE_KINDS and spec.startswith(f"{kind}:/") and not Path(spec.partition(":")[2]).exists():
            raise PlanestrikeError(f"{argument} does not exist: check the path")
        return spec
    path = Path(text).expanduser()
    if path.exists():
        return canonical_spec(f"{'tflite' if path.suffix == '.tflite' else 'flax'}:{path}")
    if "/" in text or path.suffix in (".tflite", ".msgpack"):
        raise PlanestrikeError(f"{text} does not exist: check the path")
    if not ADB_SERIAL.fullmatch(text):
        raise PlanestrikeError(f"'{text[:60]}' is not an agent spec, a model file or an adb serial: try "
                               "tflite:int8, a path to a .tflite file, or emulator-5554")
    return f"device:{text}"


def available_choices() -> list[str]:
    """The built-in choices whose kind is installed (the optimal agent comes with the engine's solver)."""
    from engine.specs import agent_kinds

    kinds = agent_kinds()
    return [spec for spec in CHOICES if spec.partition(":")[0] in kinds]


def choice_title(spec: str) -> str:
    return AgentSlot(spec).title


class AgentDialog(ModalScreen[str | None]):
    """Dismisses with a canonical spec or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, roster: Roster, *, heading: str, current: str | None, offer_loaded: bool) -> None:
        super().__init__()
        self.roster = roster
        self.heading = heading
        self.current = current
        self.offer_loaded = offer_loaded  # the opponent may be any loaded agent; a new panel only a new one

    @classmethod
    def for_opponent(cls, roster: Roster, current: str) -> "AgentDialog":
        return cls(roster, heading="[b]Choose your opponent[/b] (a new game starts)", current=current,
                   offer_loaded=True)

    @classmethod
    def for_player(cls, roster: Roster, seat: str, current: str) -> "AgentDialog":
        """Spectator mode: the agent that plays ``seat`` ("first" strikes first)."""
        return cls(roster, heading=f"[b]Spectate: the {seat} player[/b] (any agent, model file or phone)",
                   current=current, offer_loaded=True)

    @classmethod
    def for_panel(cls, roster: Roster) -> "AgentDialog":
        return cls(roster, heading="[b]Add a panel[/b]: an agent, a model file or a phone", current=None,
                   offer_loaded=False)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.heading)
            yield OptionList(*self.options(), id="opponents")
            yield Label("or type a spec, a model file (.tflite or checkpoint) or a phone's adb serial",
                        classes="hint")
            yield Input(placeholder="tflite:model.int8.tflite, runs/x, emulator-5554", id="serial")
            yield Label("", id="problem", classes="problem", markup=False)

    def options(self) -> list[Option]:
        specs = available_choices()
        if self.offer_loaded:
            specs = list(dict.fromkeys([*specs, *self.roster.slots]))
        options = []
        for spec in specs:
            slot = self.roster.get(spec)
            if slot is not None and not self.offer_loaded:
                continue  # already has a panel
            label = escape(slot.title if slot else choice_title(spec))
            description = KIND_DESCRIPTIONS.get(spec)
            note = f"  [dim]{description}[/dim]" if description else ""
            if slot is not None and slot.state is SlotState.FAILED:
                note += f"  [dim]unavailable: {escape(slot.error or '')}[/dim]"
            elif slot is not None and slot.state is SlotState.LOADING:
                note += "  [dim]loading[/dim]"
            if spec == self.current:
                note += "  [dim](current)[/dim]"
            options.append(Option(f"{label}{note}", id=spec,
                                   disabled=slot is not None and slot.state is SlotState.FAILED))
        return options

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    @on(Input.Submitted, "#serial")
    def typed(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            return
        try:
            spec = spec_from_text(event.value)
        except PlanestrikeError as error:
            self.query_one("#problem", Label).update(str(error))
            return
        self.dismiss(spec)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PanelChoiceDialog(ModalScreen[str | None]):
    """Which panel to remove: dismisses with its spec or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, slots: list[AgentSlot]) -> None:
        super().__init__()
        self.slots = slots

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Remove a panel[/b] (the opponent's stays while it plays)")
            yield OptionList(*(Option(self.describe(slot), id=slot.spec) for slot in self.slots), id="panels-list")

    @staticmethod
    def describe(slot: AgentSlot) -> str:
        spec = slot.spec if ":" in slot.spec else ""  # a file or a phone: say which
        return f"{escape(slot.title)}  [dim]{escape(spec)}[/dim]" if spec else escape(slot.title)

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
