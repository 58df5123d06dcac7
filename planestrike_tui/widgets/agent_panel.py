"""One agent's panel: its title (agent and model), then its heatmap, or "loading", or the one-line reason it failed.

The subtitle says what the numbers are (a policy's strike probabilities, which sum to 1, the hunter's per-cell
hit probabilities, or the optimal agent's expected strikes to finish), which cell the agent strikes, what that
choice costs against perfect play (its regret, ``+0.000`` when optimal) and its total over the game so far, and
its role (the opponent, or a spectated player) and whether it is the reference of the difference view. It is
shortened to fit the panel's width.
"""

from __future__ import annotations

import itertools

import numpy as np
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from engine.rules import cell_name
from planestrike_tui.regrets import Tally
from planestrike_tui.roster import AgentSlot, SlotState, Thought
from planestrike_tui.widgets.heatmap import Heatmap

_ids = itertools.count(1)  # widget ids must be identifiers: a spec (a path, a serial) is not one


class AgentPanel(Vertical):
    """Shows a slot's state. The screen hands it thoughts; it never computes anything."""

    def __init__(self, slot: AgentSlot, *, role: str | None = None) -> None:
        super().__init__(id=f"panel-{next(_ids)}", classes="agent-panel")
        self.slot = slot
        self.role = role  # "opponent", or in spectator mode "plays 1st" / "plays 2nd"; None: only watching
        self.reference = False  # the panel the others are compared with
        self.difference_of: str | None = None  # the reference's title while this panel shows its difference
        self.regret: Tally | None = None  # its choices' cost against perfect play, this game (set by the screen)
        self.waiting: str | None = None  # e.g. "solving…" while an answer for the new position is slow to come

    def compose(self) -> ComposeResult:
        yield Heatmap()
        yield Static(classes="panel-message", markup=False)

    def on_mount(self) -> None:
        self.refresh_state()

    def on_resize(self) -> None:
        self.refresh_state()  # the subtitle's length follows the width

    @property
    def heatmap(self) -> Heatmap:
        return self.query_one(Heatmap)

    def attach(self, slot: AgentSlot, *, role: str | None) -> None:
        """Follow another slot (a reloaded model) in the same role, or a new role."""
        self.slot, self.role = slot, role
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

    def choice_text(self) -> list[str]:
        """What the subtitle says of the current answer, most complete first: the panel takes the first that fits
        (the roles are dropped before the regret, the name of the numbers after it)."""
        choice = self.heatmap.choice
        if self.waiting is not None:
            return [self.waiting]
        if choice is None:
            return ["ready"]
        cell = cell_name(choice)
        if self.difference_of is not None:
            reference = self.heatmap.reference_choice
            return [f"Δlog p · ◆ {cell} ◇ {cell_name(reference)}"]  # the strip names the reference
        if self.heatmap.to_finish is not None:  # the optimal agent: its regret is 0 by definition
            to_go = self.heatmap.to_finish[choice]
            return [f"strikes to finish {cell} {to_go:.2f}", f"{cell} {to_go:.2f} to go", cell]
        kind = "p(hit)" if self.slot.gives_hit_probabilities else "p(strike)"
        tally = self.regret
        if tally is None or tally.moves == 0:
            return [f"{kind} {cell}", cell]
        last, total = ("…" if tally.last is None else f"{tally.last:+.3f}"), tally.text()
        return [f"{kind} {cell} · {last} · game {total}", f"{kind} {cell} · {last} Σ{total}", f"{cell} · {last} Σ{total}",
                f"{cell} · {last}", cell]

    def set_subtitle(self, detail: str | list[str]) -> None:
        roles = " · ".join(role for role in (self.role, "ref" if self.reference else None) if role)
        details = [detail] if isinstance(detail, str) else detail
        with_roles = [f"{text} · {roles}" if roles else text for text in details[:2]]
        candidates = [*with_roles, *details[1:]] if len(details) > 1 else with_roles
        room = self.size.width - 4 if self.size.width else None  # the border's corners and a space each side
        fitting = [text for text in candidates if room is None or len(text) <= room]
        self.border_subtitle = fitting[0] if fitting else candidates[-1]

    def show_thought(self, board: np.ndarray, thought: Thought) -> None:
        self.difference_of = None
        self.waiting = None
        if thought.values is not None:
            self.heatmap.show_values(board, thought.probabilities, thought.choice, thought.values)
        else:
            self.heatmap.show(board, thought.probabilities, thought.choice)
        self.refresh_state()

    def show_difference(self, board: np.ndarray, thought: Thought, reference: Thought, reference_title: str) -> None:
        self.difference_of = reference_title
        self.waiting = None
        self.heatmap.show_difference(board, thought.probabilities, thought.choice, reference.probabilities,
                                     reference.choice)
        self.refresh_state()
