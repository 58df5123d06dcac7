"""One agent's panel: its title, then its heatmap, or "loading", or the one-line reason it failed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from engine.rules import cell_name
from planestrike_tui.roster import AgentSlot, SlotState, Thought
from planestrike_tui.widgets.heatmap import Heatmap


class AgentPanel(Vertical):
    """Shows a slot's state. The screen hands it thoughts; it never computes anything."""

    def __init__(self, slot: AgentSlot, *, opponent: bool = False) -> None:
        super().__init__(id=f"panel-{slot.kind}", classes="agent-panel")
        self.slot = slot
        self.opponent = opponent

    def compose(self) -> ComposeResult:
        yield Heatmap()
        yield Static(classes="panel-message", markup=False)

    def on_mount(self) -> None:
        self.refresh_state()

    @property
    def heatmap(self) -> Heatmap:
        return self.query_one(Heatmap)

    def attach(self, slot: AgentSlot, *, opponent: bool) -> None:
        """Follow another slot for the same kind (a reloaded model) or a new opponent role."""
        self.slot, self.opponent = slot, opponent
        self.refresh_state()

    def refresh_state(self) -> None:
        slot = self.slot
        self.border_title = slot.title
        self.set_class(slot.state is SlotState.LOADING, "-loading")
        self.set_class(slot.state is SlotState.FAILED, "-failed")
        self.set_class(slot.state is SlotState.READY, "-ready")
        messages = self.query(".panel-message").results(Static)
        message = next(messages, None)
        if message is None:  # not composed yet: on_mount draws the state
            return
        if slot.state is SlotState.LOADING:
            message.update("loading…")
            self.heatmap.clear()
            self.set_subtitle("loading")
        elif slot.state is SlotState.FAILED:
            message.update(slot.error or "failed")
            self.heatmap.clear()
            self.set_subtitle("unavailable")
        else:
            message.update("")
            choice = self.heatmap.choice
            self.set_subtitle("ready" if choice is None else f"choice {cell_name(choice)}")

    def set_subtitle(self, detail: str) -> None:
        self.border_subtitle = f"opponent · {detail}" if self.opponent else detail

    def show_thought(self, board, thought: Thought) -> None:
        self.heatmap.show(board, thought.probabilities, thought.choice)
        self.set_subtitle(f"choice {cell_name(thought.choice)}")
