"""The help screen (? or F1): every key, what the boards and panels show, and how to start a phone or a training
run. The footer only has room for the keys a person needs to play; everything else is here."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Markdown

HELP = """\
## Keys

**In a game**

- **arrows + enter**, or click: strike
- **n** / **o**: new game / choose the opponent
- **p**, then arrows, **r**, enter: place your plane before the first strike
- **h**: hint, the optimal cells of your board
- **v**: numbers in the cells (log10 p, rank, %)
- **f** / **g**: difference view (every panel minus the reference) / next reference
- **a** / **x**: add a panel / remove one
- **t** / **c**: retrain (a training run) / convert a checkpoint to .tflite
- **l** / **d**: load a model into a panel / connect a phone
- **ctrl+s**: save a screenshot (SVG)
- **ctrl+p** / **ctrl+q**: command palette / quit

**Spectator mode** (agent against agent)

- **s** / **S**: start or stop it / choose both agents
- **space**: pause / go on (for a presenter)
- **→**: one move, while paused
- **b**: the panels show the other board
- **+** / **-**: faster / slower

## The boards

The left board is the one you strike (the agent's plane is hidden until the game ends), the right one is yours,
with your plane; `✕` a hit, `•` a miss, the last strike highlighted. At the end both planes are revealed: cells
of a plane that were never hit show `○`. The board marked **panels ▼** is the one the panels look at.

## The panels

One panel per agent, each on the board it is about to strike:

- a **policy** (Flax, LiteRT, a phone, the official app's model) shows its strike probabilities, which sum to 1;
- the **hunter** shows hit probabilities per cell (they sum to the plane cells still hidden);
- the **optimal** agent shows, in each cell, the expected strikes to finish the game if that cell is struck next
  and play is perfect afterwards; its optimal cells are the hottest, underlined.

Colours are a log scale over the whole range; `1 2 3` mark an agent's top cells and its choice is reversed.
Under each panel: its choice, that choice's **regret** (expected strikes it adds against perfect play, `+0.000`
for an optimal move) and its total over the game (`Σ`). The strip compares every panel with the reference
(max |Δp|, KL, same choice now and over the game); `f` draws every panel as log10 p minus the reference's:
red higher, blue lower. At the end of a game the status says what each side lost to perfect play.

## A phone, a training run

- **Phone**: `d` opens the phone screen. With no phone at hand, start the virtual phone in another terminal:
  `planestrike device emulate --accept-all-keys`, then connect to `127.0.0.1:15555`. A real phone: USB
  debugging on (or `adb tcpip 5555`), then its address. See docs/device.md.
- **Training**: `t` starts `planestrike train` in the background and charts it; when it has ended, convert the
  checkpoint (`c`) and add the results as panels.

Escape, `q` or `?` closes this screen.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Label("[b]Help[/b]", id="help-title")
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
