"""An agent's probabilities over the 64 cells, drawn line by line as a colour ramp.

Untried cells go from the ``heatmap--cold`` to the ``heatmap--hot`` background (both from the stylesheet, so the
ramp follows the theme) on a log scale (see ``heat``); tried cells are greyed; the cell the agent would strike is
marked. With numbers on, each cell shows its probability in percent, as precisely as the cell width allows.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from engine.rules import BOARD_SIZE, UNTRIED
from planestrike_tui.widgets.board import LABEL_WIDTH, ROW_LABELS, cell_size, cell_text

DECADES = 4  # the colour ramp spans at most this many orders of magnitude below the top untried cell


def heat(probabilities: np.ndarray, board: np.ndarray) -> np.ndarray:
    """Each cell's place on the colour ramp, 0 (cold) to 1 (hot), for float [64] ``probabilities``.

    Log scale from the smallest positive untried probability (but at most ``DECADES`` orders of magnitude below the
    largest) up to the largest untried one. A trained net puts 0.99 on one cell: on a linear ramp its runners-up
    would all look alike; here they stay apart. The hunter's flatter distribution spans about one decade, which
    then fills the whole ramp. Tried cells, zeros and NaNs are 0.
    """
    p = np.nan_to_num(np.asarray(probabilities, dtype=np.float64).reshape(-1), nan=0.0)
    candidates = (np.asarray(board).reshape(-1) == UNTRIED) & (p > 0)
    result = np.zeros_like(p)
    if not candidates.any():
        return result
    top = p[candidates].max()
    floor = max(p[candidates].min(), top * 10.0**-DECADES)
    if top <= floor:  # every candidate equal
        result[candidates] = 1.0
        return result
    scaled = np.log(np.maximum(p, floor) / floor) / np.log(top / floor)
    result[candidates] = np.clip(scaled[candidates], 0.0, 1.0)
    return result


def percent(probability: float, width: int) -> str:
    """``probability`` in percent for a cell ``width`` columns wide: one decimal when it fits with a column to
    spare, else a whole number (3-column cells use all three: their backgrounds keep neighbours apart)."""
    value = 100 * float(probability)
    if np.isnan(value):
        return "nan"[:width]
    room = width if width <= 3 else width - 1
    for decimals in (1, 0):
        text = f"{value:.{decimals}f}"
        if len(text) <= room:
            return text
    return "+" * room  # unreachable for probabilities (100 fits in 3 columns); an out-of-range score


class Heatmap(Widget):
    COMPONENT_CLASSES = {"heatmap--cold", "heatmap--hot", "heatmap--tried", "heatmap--choice", "heatmap--label"}

    show_numbers: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.board: np.ndarray | None = None
        self.probabilities: np.ndarray | None = None
        self.heat: np.ndarray | None = None
        self.choice: int | None = None

    def show(self, board: np.ndarray, probabilities: np.ndarray, choice: int) -> None:
        self.board = np.asarray(board).reshape(-1)
        self.probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        self.heat = heat(self.probabilities, self.board)
        self.choice = choice
        self.refresh()

    def clear(self) -> None:
        self.board = self.probabilities = self.heat = self.choice = None
        self.refresh()

    def _cell(self, action: int, width: int, cold: Color, hot: Color) -> Segment:
        if self.board is None or self.probabilities is None:
            return Segment(" " * width, self.get_component_rich_style("heatmap--tried"))
        probability = float(self.probabilities[action])
        if self.board[action] != UNTRIED:  # greyed; its number still shows (a net may favour a tried cell)
            style = self.get_component_rich_style("heatmap--tried")
            text = percent(probability, width) if self.show_numbers else "·"
        else:
            background = cold.blend(hot, float(self.heat[action]))
            style = Style(bgcolor=background.rich_color, color=background.get_contrast_text(0.9).rich_color)
            text = percent(probability, width) if self.show_numbers else ""
        if action == self.choice:
            style += self.get_component_rich_style("heatmap--choice")
            text = text or "◆"
        return Segment(cell_text(text, width), style)

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
        cold = Color.from_rich_color(self.get_component_rich_style("heatmap--cold").bgcolor)
        hot = Color.from_rich_color(self.get_component_rich_style("heatmap--hot").bgcolor)
        segments = [Segment(f"{ROW_LABELS[row]} " if middle else "  ", label_style)] if labels else []
        for col in range(BOARD_SIZE):
            segment = self._cell(row * BOARD_SIZE + col, cw, cold, hot)
            segments.append(segment if middle else Segment(" " * cw, segment.style))
        return Strip(segments).adjust_cell_length(width, label_style)

    def watch_show_numbers(self) -> None:
        self.refresh()
