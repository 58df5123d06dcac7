"""An agent's scores over the 64 cells, drawn line by line as a colour ramp: its probabilities, or their signed
difference from a reference agent.

Probabilities: untried cells go from the ``heatmap--cold`` to the ``heatmap--hot`` background (both from the
stylesheet, so the ramp follows the theme) on a log scale spanning every untried cell (see ``heat``); tried cells
are greyed; the three most likely cells are numbered 1, 2, 3 and the one the agent strikes is drawn reversed.

Difference: each untried cell's signed difference from the reference in log10 p (how many decades this agent
puts the cell above or below the reference: a conversion error shows on every cell, not only on the one cell a
confident policy gives 0.99), from ``heatmap--lower`` through the cold colour (no difference) to
``heatmap--higher``, on a log scale of its size (see ``difference_heat``); the agent's choice is ``◆``
(reversed), the reference's ``◇``.

Values (the optimal agent's panel): each untried cell's expected strikes to finish the game if it is struck next
and play is optimal afterwards, written in the cell; the optimal cells are hot (and bold), the others cool off
with their regret on a log scale (see ``value_heat``).

With numbers on, each cell shows what its colour means: log10 of its probability (in the difference view the
difference in log10 p), its rank, or its probability in percent (the difference in percentage points), as
precisely as the cell width allows.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from engine.rules import BOARD_SIZE, UNTRIED
from planestrike_tui.widgets.board import LABEL_WIDTH, ROW_LABELS, cell_size, cell_text

MARKED_RANKS = 3  # the top choices numbered on the ramp
# The difference ramp, in |Δ log10 p|: a whole decade is full colour, 10^-DIFFERENCE_DECADES and below is "no
# difference". Measured on the bundled model: float16 weights move its cells by about 0.01 decade, int8 weights
# by about 0.3, float32 conversions by 1e-6 or less: the three look apart, and float32 looks like its source,
# which it is.
DIFFERENCE_DECADES = 4
REGRET_TOLERANCE = 1e-9  # expected totals are exact fractions shown as floats: equal within this is optimal
PROBABILITY_FLOOR = 1e-38  # about float32's smallest normal number: a probability of 0 counts as this in log10 p


class Numbers(Enum):
    """What ``v`` writes in the cells, in the order it cycles through them."""

    OFF = "off"
    LOG10 = "log10 p"
    RANK = "rank"
    PERCENT = "%"

    def next(self) -> "Numbers":
        members = list(Numbers)
        return members[(members.index(self) + 1) % len(members)]


def _untried(board: np.ndarray) -> np.ndarray:
    return np.asarray(board).reshape(-1) == UNTRIED


def heat(probabilities: np.ndarray, board: np.ndarray) -> np.ndarray:
    """Each cell's place on the colour ramp, 0 (cold) to 1 (hot), for float [64] ``probabilities``.

    Log scale from the smallest positive untried probability up to the largest untried one, however many orders
    of magnitude lie between. A trained net puts 0.99 on one cell and its runners-up at 1e-6 and below, down to
    1e-16: a linear ramp (or one cut a few decades below the top) would draw them all alike; here every cell keeps
    its own colour. The hunter's flatter distribution spans about one decade, which then fills the whole ramp.
    Tried cells, zeros and NaNs are 0.
    """
    p = np.nan_to_num(np.asarray(probabilities, dtype=np.float64).reshape(-1), nan=0.0)
    candidates = _untried(board) & (p > 0)
    result = np.zeros_like(p)
    if not candidates.any():
        return result
    top, floor = p[candidates].max(), p[candidates].min()
    if top <= floor:  # every candidate equal
        result[candidates] = 1.0
        return result
    scaled = np.log(np.maximum(p, floor) / floor) / np.log(top / floor)
    result[candidates] = np.clip(scaled[candidates], 0.0, 1.0)
    return result


def ranks(probabilities: np.ndarray, board: np.ndarray) -> np.ndarray:
    """int [64]: 1 for the most likely untried cell, 2 for the next...; ties by lowest index (the masked argmax's
    rule, so rank 1 is a deterministic agent's choice); 0 for tried cells."""
    p = np.nan_to_num(np.asarray(probabilities, dtype=np.float64).reshape(-1), nan=-np.inf)
    untried = np.flatnonzero(_untried(board))
    order = untried[np.lexsort((untried, -p[untried]))]
    result = np.zeros(p.shape, dtype=np.int64)
    result[order] = np.arange(1, len(order) + 1)
    return result


def log_difference(probabilities: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """float64 [64]: log10 p - log10 p_reference, each floored at PROBABILITY_FLOOR."""
    def log10(p: np.ndarray) -> np.ndarray:
        p = np.nan_to_num(np.asarray(p, dtype=np.float64).reshape(-1), nan=0.0)
        return np.log10(np.maximum(p, PROBABILITY_FLOOR))

    return log10(probabilities) - log10(reference)


def difference_heat(difference: np.ndarray, board: np.ndarray) -> np.ndarray:
    """Each cell's place on the diverging ramp, -1 (far lower than the reference) to 1 (far higher): the sign of
    its difference times log10 |difference| mapped from 10^-DIFFERENCE_DECADES (0) to 1 (1) and beyond (1).
    Tried cells are 0."""
    d = np.nan_to_num(np.asarray(difference, dtype=np.float64).reshape(-1), nan=0.0)
    size = np.log10(np.maximum(np.abs(d), 10.0**-DIFFERENCE_DECADES)) / DIFFERENCE_DECADES + 1.0
    return np.where(_untried(board), np.sign(d) * np.clip(size, 0.0, 1.0), 0.0)


def value_heat(values: np.ndarray, board: np.ndarray) -> np.ndarray:
    """Each untried cell's place on the ramp for float [64] expected totals ``values``: 1 for the optimal cells;
    the others from 0.8 (the smallest regret) down to 0 (the largest) on a log scale of their regret, so a cell
    1/120 of a strike worse than the best stands apart from one a whole strike worse. Tried cells are 0."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    candidates = _untried(board) & ~np.isnan(v)
    result = np.zeros(v.shape)
    if not candidates.any():
        return result
    regret = np.where(candidates, v - v[candidates].min(), np.nan)
    optimal = candidates & (regret <= REGRET_TOLERANCE)
    result[optimal] = 1.0
    worse = candidates & ~optimal
    if worse.any():
        low, high = regret[worse].min(), regret[worse].max()
        span = np.log(high / low) if high > low else 1.0
        result[worse] = 0.8 * (1.0 - np.log(regret[worse] / low) / span)
    return result


def strikes_text(value: float, width: int) -> str:
    """Expected strikes for a cell: ``4.05`` where it fits, else ``4.1``, else ``4``."""
    if np.isnan(value):
        return "·"
    room = _room(width)
    for decimals in (2, 1, 0):
        text = f"{value:.{decimals}f}"
        if len(text) <= room:
            return text
    return f"{value:.0f}"[:room]


def percent(probability: float, width: int) -> str:
    """``probability`` in percent for a cell ``width`` columns wide: one decimal when it fits with a column to
    spare, else a whole number (3-column cells use all three: their backgrounds keep neighbours apart)."""
    value = 100 * float(probability)
    if np.isnan(value):
        return "nan"[:width]
    room = _room(width)
    for decimals in (1, 0):
        text = f"{value:.{decimals}f}"
        if len(text) <= room:
            return text
    return "+" * room  # unreachable for probabilities (100 fits in 3 columns); an out-of-range score


def log10_text(value: float, width: int) -> str:
    """log10 of a probability (or of a difference's size) for a cell: ``-6.1`` where it fits, else ``-6``;
    ``-∞`` for 0. The top cell of a confident policy reads ``-0.0``: it is what the percentages cannot show that
    matters here."""
    value = abs(float(value))
    if np.isnan(value):
        return "nan"[:width]
    if value == 0:
        return "-∞"
    exponent = np.log10(value)
    room = _room(width)
    for decimals in (1, 0):
        text = f"{exponent:.{decimals}f}"
        if len(text) <= room:
            return text
    return f"{exponent:.0f}"[:room]


def signed_text(value: float, width: int) -> str:
    """A signed difference for a cell: ``+.02``, ``-.35``, ``+1.2``, as many decimals as fit."""
    if np.isnan(value):
        return "nan"[:width]
    room = _room(width)
    for decimals in (2, 1, 0):
        text = f"{value:+.{decimals}f}".replace("0.", ".", 1)
        if len(text) <= room:
            return text
    return ("+" if value > 0 else "-") * room


def _room(width: int) -> int:
    return width if width <= 3 else width - 1


class Heatmap(Widget):
    COMPONENT_CLASSES = {"heatmap--cold", "heatmap--hot", "heatmap--lower", "heatmap--higher", "heatmap--tried",
                         "heatmap--choice", "heatmap--optimal", "heatmap--label"}

    numbers: reactive[Numbers] = reactive(Numbers.OFF)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.board: np.ndarray | None = None
        self.probabilities: np.ndarray | None = None
        self.heat: np.ndarray | None = None
        self.ranks: np.ndarray | None = None
        self.choice: int | None = None
        self.difference: np.ndarray | None = None  # set in the difference view: log10 p - log10 p_reference
        self.reference: np.ndarray | None = None  # the reference's probabilities, in the difference view
        self.reference_choice: int | None = None
        self.to_finish: np.ndarray | None = None  # set for the optimal agent: expected strikes to finish per cell

    def show(self, board: np.ndarray, probabilities: np.ndarray, choice: int) -> None:
        self._set(board, probabilities, choice)
        self.heat = heat(self.probabilities, self.board)
        self.refresh()

    def show_values(self, board: np.ndarray, probabilities: np.ndarray, choice: int, values: np.ndarray) -> None:
        """The optimal agent's expected total strikes ``values`` (float [64]): written in the cells as the strikes
        still to come (the board's strikes so far taken off), coloured by regret."""
        self._set(board, probabilities, choice)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        self.to_finish = values - np.count_nonzero(self.board != UNTRIED)
        self.ranks = ranks(-np.nan_to_num(values, nan=np.inf), self.board)  # rank 1: the lowest expected total
        self.heat = value_heat(values, self.board)
        self.refresh()

    def show_difference(self, board: np.ndarray, probabilities: np.ndarray, choice: int,
                        reference: np.ndarray, reference_choice: int) -> None:
        """log10 ``probabilities`` minus log10 ``reference`` (both float [64]) on the diverging ramp."""
        self._set(board, probabilities, choice)
        self.reference = np.asarray(reference, dtype=np.float64).reshape(-1)
        self.difference = log_difference(self.probabilities, self.reference)
        self.reference_choice = reference_choice
        self.heat = difference_heat(self.difference, self.board)
        self.refresh()

    def _set(self, board: np.ndarray, probabilities: np.ndarray, choice: int) -> None:
        self.board = np.asarray(board).reshape(-1)
        self.probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        self.ranks = ranks(self.probabilities, self.board)
        self.choice = choice
        self.difference = self.reference = self.reference_choice = self.to_finish = None

    def clear(self) -> None:
        self.board = self.probabilities = self.heat = self.ranks = self.choice = None
        self.difference = self.reference = self.reference_choice = self.to_finish = None
        self.refresh()

    def _number(self, action: int, width: int) -> str:
        if self.to_finish is not None:  # the optimal agent's panel: rank, or else its strikes to finish
            if self.numbers is Numbers.RANK:
                rank = int(self.ranks[action])
                return str(rank) if rank else "·"
            return strikes_text(self.to_finish[action], width)
        difference = self.difference is not None
        if self.numbers is Numbers.LOG10:
            if difference:
                return signed_text(self.difference[action], width)
            return log10_text(self.probabilities[action], width)
        if self.numbers is Numbers.RANK:
            rank = int(self.ranks[action])
            return str(rank) if rank else "·"
        if self.numbers is Numbers.PERCENT:
            if difference:
                return signed_text(100 * (self.probabilities[action] - self.reference[action]), width)
            return percent(self.probabilities[action], width)
        return ""

    def _mark(self, action: int) -> str:
        """What a cell shows with numbers off: the top choices' ranks, or the choices in the difference view."""
        if self.difference is not None:
            if action == self.choice:
                return "◆"
            return "◇" if action == self.reference_choice else ""
        rank = int(self.ranks[action])
        # A cell given 0 is nobody's choice (the optimal agent's values rank every cell: its probabilities do not).
        if 0 < rank <= MARKED_RANKS and (self.to_finish is not None or self.probabilities[action] > 0):
            return str(rank)
        return "◆" if action == self.choice else ""  # a sampling agent may choose an unlikely cell

    def _background(self, value: float, colours: dict[str, Color]) -> Color:
        if self.difference is None:
            return colours["cold"].blend(colours["hot"], value)
        return colours["cold"].blend(colours["higher" if value > 0 else "lower"], abs(value))

    def _cell(self, action: int, width: int, colours: dict[str, Color]) -> Segment:
        if self.board is None or self.probabilities is None:
            return Segment(" " * width, self.get_component_rich_style("heatmap--tried"))
        # The optimal agent's values are its whole point: written wherever a cell has room for "4.1".
        numbers = self.numbers is not Numbers.OFF or (self.to_finish is not None and _room(width) >= 3 and width > 3)
        if self.board[action] != UNTRIED:  # greyed; its number still shows (a net may favour a tried cell)
            style = self.get_component_rich_style("heatmap--tried")
            text = self._number(action, width) if numbers and self.numbers is not Numbers.RANK else "·"
        else:
            background = self._background(float(self.heat[action]), colours)
            style = Style(bgcolor=background.rich_color, color=background.get_contrast_text(0.9).rich_color)
            text = self._number(action, width) if numbers else self._mark(action)
            if self.to_finish is not None and self.heat[action] >= 1.0:
                style += self.get_component_rich_style("heatmap--optimal")
        if action == self.choice:
            style += self.get_component_rich_style("heatmap--choice")
            text = text or "◆"
        return Segment(cell_text(text, width), style)

    def _colours(self) -> dict[str, Color]:
        return {name: Color.from_rich_color(self.get_component_rich_style(f"heatmap--{name}").bgcolor)
                for name in ("cold", "hot", "lower", "higher")}

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        labels = (width - LABEL_WIDTH) // BOARD_SIZE >= 4  # small panels spend no columns on labels
        cw, ch = cell_size(width, self.content_size.height, labels)
        label_style = self.get_component_rich_style("heatmap--label")
        if labels:
            if y == 0:
                text = " " * LABEL_WIDTH + "".join(cell_text(str(c + 1), cw) for c in range(BOARD_SIZE))
                return Strip([Segment(text, label_style)]).adjust_cell_length(width, label_style)
            y -= 1
        row, sub = divmod(y, ch)
        if row >= BOARD_SIZE:
            return Strip.blank(width, self.rich_style)
        middle = sub == (ch - 1) // 2
        colours = self._colours()
        segments = [Segment(f"{ROW_LABELS[row]} " if middle else "  ", label_style)] if labels else []
        for col in range(BOARD_SIZE):
            segment = self._cell(row * BOARD_SIZE + col, cw, colours)
            segments.append(segment if middle else Segment(" " * cw, segment.style))
        return Strip(segments).adjust_cell_length(width, label_style)

    def watch_numbers(self) -> None:
        self.refresh()
