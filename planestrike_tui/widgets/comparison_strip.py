"""The strip under the panels: do the converted models agree with the original on this move, and how fast is each.

For each pair that is loaded (Flax vs LiteRT, LiteRT vs the phone): the largest absolute difference between their
64 probabilities and whether they would strike the same cell. Then each agent's last inference latency.
"""

from __future__ import annotations

import numpy as np
from textual.content import Content
from textual.widgets import Static

from engine.rules import cell_name
from planestrike_tui.roster import KIND_TITLES, Thought

# Pairs worth comparing: the same network before and after conversion, and on the phone.
PAIRS = (("flax", "tflite"), ("tflite", "device"))


def format_latency(seconds: float) -> str:
    micro = seconds * 1e6
    if micro < 1000:
        return f"{micro:.0f} µs"
    return f"{micro / 1000:.1f} ms"


def format_difference(diff: float) -> str:
    return f"{diff:.1e}"


def describe_pair(a: str, b: str, first: Thought, second: Thought) -> Content:
    diff = float(np.max(np.abs(first.probabilities.astype(np.float64) - second.probabilities)))
    agree = first.choice == second.choice
    verdict = (
        Content.from_markup("[$success]agree[/] on $cell", cell=cell_name(first.choice))
        if agree
        else Content.from_markup("[$error]disagree[/] $a vs $b", a=cell_name(first.choice), b=cell_name(second.choice))
    )
    return Content.assemble(
        Content.from_markup("[b]$a vs $b[/b]  max |Δp| ", a=KIND_TITLES[a], b=KIND_TITLES[b]),
        Content(format_difference(diff)),
        "  ",
        verdict,
    )


class ComparisonStrip(Static):
    def update_thoughts(self, thoughts: dict[str, Thought]) -> None:
        parts: list[Content] = []
        for a, b in PAIRS:
            if a in thoughts and b in thoughts:
                parts.append(describe_pair(a, b, thoughts[a], thoughts[b]))
        if thoughts:
            latencies = "  ".join(
                f"{KIND_TITLES.get(kind, kind)} {format_latency(thought.latency_s)}" for kind, thought in thoughts.items()
            )
            parts.append(Content.assemble(Content.from_markup("[b]latency[/b] "), latencies))
        if not parts:
            parts.append(Content("waiting for the agents…"))
        self.update(Content(" │ ").join(parts))
