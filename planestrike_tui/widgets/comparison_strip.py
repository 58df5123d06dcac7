"""The strip beside the panels: how every agent's answer compares with the reference panel's (Flax by default),
on this move and over the game so far, and how fast each agent answers.

For each panel, against the reference: the largest absolute difference between their 64 scores, the KL divergence
of their strike distributions (``engine.policy_distance``, as `planestrike compare` reports it), whether they
strike the same cell; then, over the positions of this game both answered, how often they chose the same cell and
the largest difference seen. A converted model that chooses another cell than its source is an error (red); two
panels from different checkpoints (the sidecar's source hash against the checkpoint's), or an agent that is not a
model of the reference at all (the hunter), just choose differently.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
from textual.content import Content
from textual.widgets import Static

from engine.policy_distance import kl_divergence, strike_distribution
from engine.rules import cell_name
from planestrike_tui.roster import AgentSlot, Thought, model_name

# Agents that are not a network: comparing them with one says how they differ, not whether a conversion failed.
NOT_MODELS = frozenset({"hunter", "random", "optimal"})


class Relation(Enum):
    SAME_MODEL = "same model"  # a conversion (or a phone running it): it should answer as the reference does
    DIFFERENT_MODELS = "different models"  # both know their checkpoint, and the checkpoints differ
    OTHER_AGENT = "other agent"  # not a model of the reference (the hunter), or the reference is not a model


def relation(slot: AgentSlot, reference: AgentSlot) -> Relation:
    if slot.kind in NOT_MODELS or reference.kind in NOT_MODELS:
        return Relation.OTHER_AGENT
    ours = getattr(slot.agent, "source_checkpoint_sha256", None)
    theirs = getattr(reference.agent, "source_checkpoint_sha256", None)
    if ours and theirs and ours != theirs:
        return Relation.DIFFERENT_MODELS
    return Relation.SAME_MODEL  # the same checkpoint, or one we cannot tell (a phone, a model without sidecar)


@dataclass(frozen=True)
class Versus:
    """One panel against the reference on one position."""

    max_abs_diff: float
    kl: float
    choice: int
    reference_choice: int

    @property
    def same_choice(self) -> bool:
        return self.choice == self.reference_choice


def as_strike_distributions(thought: Thought, reference: Thought, board: np.ndarray) -> tuple[Thought, Thought]:
    """Both answers as strike distributions over the untried cells: how the hunter's hit probabilities (they sum
    to 8) and a policy's strike probabilities (they sum to 1) can be set side by side."""
    both = strike_distribution(np.stack([thought.probabilities, reference.probabilities]), np.stack([board, board]))
    return replace(thought, probabilities=both[0]), replace(reference, probabilities=both[1])


def versus(thought: Thought, reference: Thought, board: np.ndarray, *, normalise: bool = False) -> Versus:
    """``normalise``: compare strike distributions, for answers on different scales (see
    ``as_strike_distributions``)."""
    if normalise:
        thought, reference = as_strike_distributions(thought, reference, board)
    diff = float(np.max(np.abs(thought.probabilities.astype(np.float64) - reference.probabilities)))
    kl = max(0.0, float(kl_divergence(reference.probabilities[None], thought.probabilities[None], board[None])[0]))  # not -1e-17
    return Versus(diff, kl, thought.choice, reference.choice)


@dataclass
class Agreement:
    """One panel against the reference over the positions of one game."""

    moves: int = 0
    same: int = 0
    worst_diff: float = 0.0
    worst_strike: int = 0  # the strike number (1 = the first) of the position where the difference was largest
    first_strike: int = 0  # the first position counted: later than 1 when the reference changed mid-game

    def record(self, result: Versus, strike: int) -> None:
        if self.moves == 0:
            self.first_strike = strike
        self.moves += 1
        self.same += result.same_choice
        if result.max_abs_diff > self.worst_diff or self.moves == 1:
            self.worst_diff, self.worst_strike = result.max_abs_diff, strike


@dataclass(frozen=True)
class Row:
    slot: AgentSlot
    result: Versus | None  # None until both it and the reference answered this position
    agreement: Agreement
    relation: Relation


def format_latency(seconds: float) -> str:
    micro = seconds * 1e6
    if micro < 1000:
        return f"{micro:.0f} µs"
    return f"{micro / 1000:.1f} ms"


def format_difference(diff: float) -> str:
    return f"{diff:.1e}"


def format_kl(kl: float) -> str:
    return f"{kl:.1e}"


def choice_verdict(row: Row) -> Content:
    result = row.result
    if result.same_choice:
        if row.relation is Relation.SAME_MODEL:
            return Content.from_markup("[$success]same[/] $cell", cell=cell_name(result.choice))
        return Content.from_markup("same $cell", cell=cell_name(result.choice))
    cells = dict(a=cell_name(result.choice), b=cell_name(result.reference_choice))
    if row.relation is Relation.SAME_MODEL:
        return Content.from_markup("[$error]differs[/] $a vs $b", **cells)
    return Content.from_markup("$a vs $b", **cells)


def describe_game(agreement: Agreement) -> Content:
    if agreement.moves == 0:
        return Content("")
    share = agreement.same / agreement.moves
    span = "game" if agreement.first_strike <= 1 else f"since strike {agreement.first_strike}"
    return Content.from_markup(
        "$span $same/$moves same ($share), worst $worst at strike $strike", span=span, same=str(agreement.same),
        moves=str(agreement.moves), share=f"{share:.0%}", worst=format_difference(agreement.worst_diff),
        strike=str(agreement.worst_strike))


def describe_row(row: Row) -> Content:
    """``LiteRT planestrike.int8  max |Δp| 3.1e-03  KL 2.0e-04  same D4 │ game 12/12 same (100%), worst ...``"""
    title = Content.from_markup("[b]$title[/b]  ", title=row.slot.title)
    if row.result is None:
        return Content.assemble(title, Content("waiting…" if row.slot.agent is not None else "—"))
    parts = [title, Content(f"max |Δp| {format_difference(row.result.max_abs_diff)}  KL {format_kl(row.result.kl)}  "),
             choice_verdict(row)]
    if row.relation is Relation.DIFFERENT_MODELS:
        parts.append(Content.from_markup("  [$warning]different models[/]"))
    game = describe_game(row.agreement)
    if game:
        parts += [Content(" │ "), game]
    return Content.assemble(*parts)


def describe_row_compact(row: Row) -> Content:
    """``planestrike.int8 3.1e-03 same`` for 80 columns: the difference and the verdict only."""
    name = row.slot.short_title if row.slot.spec == row.slot.kind else model_name(row.slot.spec)
    if row.result is None:
        return Content(f"{name} …")
    verdict = choice_verdict(row) if not row.result.same_choice or row.relation is Relation.SAME_MODEL else \
        Content("same")
    if row.relation is Relation.DIFFERENT_MODELS:
        verdict = Content.from_markup("[$warning]other model[/]")
    return Content.assemble(Content.from_markup("[b]$name[/b] ", name=name),
                            Content(format_difference(row.result.max_abs_diff)), " ", verdict)


class ComparisonStrip(Static):
    """Drawn from what the screen hands it: the reference slot, one row per other panel, the latencies."""

    def show_rows(self, reference: AgentSlot | None, rows: list[Row], latencies: dict[str, float],
                  *, compact: bool) -> None:
        if reference is None or not rows:
            head = Content("waiting for the agents…") if not latencies else Content("")
            lines = [head] if head else []
        elif compact:
            # One line: the conversions of the reference first, the point of the comparison.
            ordered = sorted(rows, key=lambda row: row.relation is not Relation.SAME_MODEL)
            lines = [Content.assemble(Content.from_markup("[b]vs $ref:[/b] ", ref=reference.title),
                                      Content(" · ").join(describe_row_compact(row) for row in ordered))]
        else:
            lines = [Content.from_markup("[b]Against $ref[/b] (the reference: [b]f[/b] shows the differences, "
                                         "[b]g[/b] picks another)", ref=reference.title)]
            lines += [describe_row(row) for row in rows]
        if latencies:
            timing = Content("  ").join(Content(f"{name} {format_latency(seconds)}")
                                        for name, seconds in latencies.items())
            latency = Content.assemble(Content.from_markup("[b]latency[/b] "), timing)
            if compact and lines:
                lines[0] = Content.assemble(lines[0], " │ ", latency)
            else:
                lines.append(latency)
        self.update(Content("\n").join(lines) if lines else Content("waiting for the agents…"))
