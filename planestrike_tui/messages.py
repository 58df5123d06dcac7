"""Messages the workers post to the UI. Plain dataclasses: the handlers read fields, never widgets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from engine.agents import Agent
from planestrike_tui.roster import AgentSlot, Position, Thought, one_line


@dataclass
class AgentLoaded(Message):
    slot: AgentSlot
    agent: Agent


@dataclass
class AgentFailed(Message):
    slot: AgentSlot
    message: str  # one line, for the slot's panel


@dataclass
class ThoughtReady(Message):
    slot: AgentSlot
    thought: Thought


@dataclass
class ThoughtFailed(Message):
    slot: AgentSlot
    message: str


@dataclass
class PositionSolved(Message):
    """The judge (planestrike_tui.regrets) has solved a board: regrets that waited for it can be counted."""

    key: bytes  # regrets.board_key of the board


@dataclass
class SolveFailed(Message):
    key: bytes
    message: str


def load_agent(slot: AgentSlot) -> Message:
    """Load ``slot``'s agent (in a worker thread): ``AgentLoaded``, or ``AgentFailed`` with the reason in one line.
    Any failure is that panel's problem, never the app's."""
    try:
        agent = slot.load()
    except BaseException as error:
        return AgentFailed(slot, one_line(error))
    return AgentLoaded(slot, agent)


def think(slot: AgentSlot, position: Position, board) -> Message:
    """``slot``'s answer for ``position`` (in a worker thread): ``ThoughtReady``, or ``ThoughtFailed``."""
    try:
        thought = slot.think(position, board)
    except BaseException as error:
        return ThoughtFailed(slot, one_line(error))
    return ThoughtReady(slot, thought)
