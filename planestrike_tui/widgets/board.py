"""An 8x8 Plane Strike board drawn line by line (one Strip per terminal row, no widget per cell).

The same widget draws the board the person strikes (cursor, clicks) and the person's own board (their plane, the
agent's hits and misses). Cell size follows the widget's size, which the stylesheet sets per breakpoint. Colours
come from component classes, so they follow the theme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Offset
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from engine.rules import BOARD_SIZE, HIT, MISS

ROW_LABELS = "ABCDEFGH"  # engine.rules.cell_name: row letter, column number
LABEL_WIDTH = 2


@dataclass(frozen=True)
class BoardView:
    """What one board shows."""

    observation: np.ndarray  # float32 8x8: 0 untried, 1 hit, -1 miss
    plane: np.ndarray | None = None  # bool 8x8 to draw, or None while it is hidden
    last: int | None = None  # the most recent strike on this board
    plane_look: str = "board--plane"  # board--plane, board--placing (being moved) or board--reveal (game over)
    hints: tuple[int, ...] = ()  # cells to mark as optimal strikes (the hint key)

    @classmethod
    def empty(cls) -> "BoardView":
        return cls(np.zeros((BOARD_SIZE, BOARD_SIZE), np.float32))


def cell_size(width: int, height: int, labels: bool = True) -> tuple[int, int]:
    """(columns, rows) per cell for a content area of ``width`` x ``height``."""
    spare_w, spare_h = (LABEL_WIDTH, 1) if labels else (0, 0)
    return max(1, (width - spare_w) // BOARD_SIZE), max(1, (height - spare_h) // BOARD_SIZE)


def cell_text(symbol: str, width: int) -> str:
    return symbol.center(width)[:width]


class BoardWidget(Widget, can_focus=True):
    """A board. Posts ``CellClicked`` when a cell is clicked; the screen decides what that means."""

    COMPONENT_CLASSES = {
        "board--label",
        "board--water",
        "board--water-alt",
        "board--plane",
        "board--reveal",
        "board--placing",
        "board--hit",
        "board--miss",
        "board--last",
        "board--cursor",
        "board--hint",
    }

    cursor: reactive[int | None] = reactive(None)

    @dataclass
    class CellClicked(Message):
        board: "BoardWidget"
        action: int

        @property
        def control(self) -> "BoardWidget":
            return self.board

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.view = BoardView.empty()

    def show(self, view: BoardView) -> None:
        self.view = view
        self.refresh()

    def _cell_size(self) -> tuple[int, int]:
        return cell_size(self.content_size.width, self.content_size.height)

    def cell_at(self, offset: Offset) -> int | None:
        """The action under a point of the widget's content, or None for the labels and the margins."""
        cw, ch = self._cell_size()
        col, row = (offset.x - LABEL_WIDTH) // cw, (offset.y - 1) // ch
        if offset.x < LABEL_WIDTH or offset.y < 1 or not (0 <= row < BOARD_SIZE and 0 <= col < BOARD_SIZE):
            return None
        return row * BOARD_SIZE + col

    def on_click(self, event) -> None:
        action = self.cell_at(event.get_content_offset(self) or Offset(-1, -1))
        if action is not None:
            self.post_message(self.CellClicked(self, action))

    def _cell_style_and_symbol(self, action: int) -> tuple[Style, str]:
        row, col = divmod(action, BOARD_SIZE)
        view = self.view
        value = view.observation[row, col]
        on_plane = view.plane is not None and bool(view.plane[row, col])
        water = self.get_component_rich_style("board--water" if (row + col) % 2 == 0 else "board--water-alt")
        if value == HIT:
            style, symbol = self.get_component_rich_style("board--hit"), "✕"
        elif value == MISS:
            style, symbol = water + self.get_component_rich_style("board--miss"), "•"
        elif on_plane:  # revealed at the end of a game: the cells never hit are marked, apart from the hits
            style = self.get_component_rich_style(view.plane_look)
            symbol = "○" if view.plane_look == "board--reveal" else ""
        else:
            style, symbol = water, ""
        if action in view.hints:
            style += self.get_component_rich_style("board--hint")
            symbol = symbol or "★"
        if view.last == action:
            style += self.get_component_rich_style("board--last")
        if self.cursor == action:
            style += self.get_component_rich_style("board--cursor")
            symbol = symbol or "+"
        return style, symbol

    def render_line(self, y: int) -> Strip:
        cw, ch = self._cell_size()
        label = self.get_component_rich_style("board--label")
        width = self.content_size.width
        if y == 0:
            text = " " * LABEL_WIDTH + "".join(cell_text(str(c + 1), cw) for c in range(BOARD_SIZE))
            return Strip([Segment(text, label)]).adjust_cell_length(width, label)
        row, sub = divmod(y - 1, ch)
        if row >= BOARD_SIZE:
            return Strip.blank(width, self.rich_style)
        middle = sub == (ch - 1) // 2
        segments = [Segment(f"{ROW_LABELS[row]} " if middle else "  ", label)]
        for col in range(BOARD_SIZE):
            style, symbol = self._cell_style_and_symbol(row * BOARD_SIZE + col)
            segments.append(Segment(cell_text(symbol if middle else "", cw), style))
        return Strip(segments).adjust_cell_length(width, label)

    def watch_cursor(self) -> None:
        self.refresh()
