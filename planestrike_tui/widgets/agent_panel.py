"""One agent's panel: its title (agent and model), then its heatmap, or "loading", or the one-line reason it failed.

The subtitle says what the numbers are (a policy's strike probabilities, which sum to 1, or the hunter's per-cell
hit probabilities), which cell the agent strikes, and whether it is the opponent or the reference of the
difference view.
"""

from __future__ import annotations

import itertools

import numpy as np
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from engine.rules import cell_name
from planestrike_tui.roster import AgentSlot, SlotState, Thought
from planestrike_tui.widgets.heatmap import Heatmap

_ids = itertools.count(1)  # widget ids must be identifiers: a spec (a path, a serial) is not one


class AgentPanel(Vertical):
    """Shows a slot's state. The screen hands it thoughts; it never computes anything."""

    def __init__(self, slot: AgentSlot, *, opponent: bool = False) -> None:
        super().__init__(id=f"panel-{next(_ids)}", classes="agent-panel")
        self.slot = slot
        self.opponent = opponent
        self.reference = False  # the panel the others are compared with
        self.difference_of: str | None = None  # the reference's title while this panel shows its difference

    def compose(self) -> ComposeResult:
        yield Heatmap()
        yield Static(classes="panel-message", markup=False)

    def on_mount(self) -> None:
        self.refresh_state()

    @property
    def heatmap(self) -> Heatmap:
        return self.query_one(Heatmap)

    def attach(self, slot: AgentSlot, *, opponent: bool) -> None:
        """Follow another slot (a reloaded model) or a new opponent role."""
        self.slot, self.opponent = slot, opponent
        self.refresh_state()

    def refresh_state(self) -> None:
        slot = self.slot
        title = escape(slot.title)  # a spec is the person's text: "[b]" in it is not markup
        self.border_title = title if self.difference_of is None else f"Δ {title}"
        self.set_class(slot.state is SlotState.LOADING, "-loading")
        self.set_class(slot.state is SlotState.FAILED, "-failed")
        self.set_class(slot.state is SlotState.READY, "-ready")
        self.set_class(self.difference_of is not None, "-difference")
        message = next(self.query(".panel-message").results(Static), None)
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
            self.set_subtitle(self.choice_text())

    def choice_text(self) -> str:
        choice = self.heatmap.choice
        if choice is None:
            return "ready"
        if self.difference_of is not None:
            reference = self.heatmap.reference_choice
            return f"Δlog p · ◆ {cell_name(choice)} ◇ {cell_name(reference)}"  # the strip names the reference
        return f"{'p(hit)' if self.slot.gives_hit_probabilities else 'p(strike)'} {cell_name(choice)}"

    def set_subtitle(self, detail: str) -> None:
        roles = [role for role, held in (("opponent", self.opponent), ("ref", self.reference)) if held]
        self.border_subtitle = " · ".join([detail, *roles])  # a narrow border cuts the end: the roles go last

    def show_thought(self, board: np.ndarray, thought: Thought) -> None:
        self.difference_of = None
        self.heatmap.show(board, thought.probabilities, thought.choice)
        self.refresh_state()

    def show_difference(self, board: np.ndarray, thought: Thought, reference: Thought, reference_title: str) -> None:
        self.difference_of = reference_title
        self.heatmap.show_difference(board, thought.probabilities, thought.choice, reference.probabilities,
                                     reference.choice)
        self.refresh_state()
