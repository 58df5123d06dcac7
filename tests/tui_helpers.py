"""Shared helpers for the app's tests (imported by tests/test_tui_*.py)."""

from __future__ import annotations

import html
import re
import time
from xml.etree import ElementTree

from assets import OFFICIAL_APP_DIR as REFERENCE_MODELS  # noqa: F401  (for the tests: the official app's models)
from planestrike_tui.app import PlanestrikeApp
from planestrike_tui.roster import RosterConfig, SlotState


def make_app(**config) -> PlanestrikeApp:
    """The app as `planestrike play` builds it; tests that do not look at the panels load the hunter alone."""
    config.setdefault("opponent", "hunter")
    config.setdefault("panels", ("hunter",))
    return PlanestrikeApp(RosterConfig(**config))


async def wait_until(pilot, predicate, what: str, timeout: float = 30.0) -> None:
    """Let the app run until ``predicate()`` holds. Workers post their results as messages, so the state the
    test looks at is what the person would see."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.02)


async def wait_for_agents(pilot, timeout: float = 60.0) -> None:
    """Every slot loaded or failed, and every ready agent has answered the current position."""
    app = pilot.app

    def settled() -> bool:
        game = app.game
        if any(slot.state is SlotState.LOADING for slot in app.roster.slots.values()):
            return False
        ready = {kind for kind, slot in app.roster.slots.items() if slot.state is SlotState.READY}
        return game.match.over or ready <= set(game.current_thoughts())

    await wait_until(pilot, settled, "the agents to load and answer", timeout)
    for worker in list(app.workers):  # and no worker still running (a stale thought, a reload, a solve)
        await worker.wait()
    # and every solved position counted (the solver's answers arrive as messages)
    await wait_until(pilot, lambda: not app.game.solving, "the positions to be solved", timeout)


def slot_of(app, kind: str):
    """The first slot of a kind (``tflite`` with ``--model`` is keyed by the model's spec)."""
    slot = app.roster.first_of(kind)
    assert slot is not None, f"no {kind} panel in {list(app.roster.slots)}"
    return slot


def panel_of(app, kind: str):
    """The panel of the first slot of a kind."""
    return app.game.panels[slot_of(app, kind).spec]


def svg_text(svg: str) -> str:
    """The characters of a Textual SVG screenshot (one string; spaces are non-breaking in the file)."""
    ElementTree.fromstring(svg)  # a well-formed SVG
    return "".join(html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg)).replace("\xa0", " ")


async def lose_row_by_row(pilot) -> None:
    """The person strikes the cells in order, A1 onwards, until the game is over (the agent wins)."""
    game = pilot.app.game
    cell = 0
    while not game.match.over:
        while game.match.boards[0].is_tried(cell):
            cell += 1
        game.strike(cell)
        await wait_for_agents(pilot)
