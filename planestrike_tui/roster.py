"""The agents the app has loaded: one slot per probability panel.

A slot loads its agent through ``engine.specs.parse_agent_spec`` and then "thinks" about boards: probabilities,
the cell it would strike, and how long the inference took. Both calls block (importing JAX, compiling, talking to
a phone), so the app runs them in thread workers; nothing here imports Textual. A slot that fails to load keeps
the one-line reason for its panel, and every other slot carries on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import NamedTuple

import numpy as np

from engine.agents import Agent, masked_argmax
from engine.errors import PlanestrikeError
from engine.rules import BOARD_SIZE

# Panel titles, by the spec's kind (the word before the colon).
KIND_TITLES = {"flax": "Flax", "tflite": "LiteRT", "hunter": "Hunter", "random": "Random", "device": "Phone",
               "app": "Official app"}
# What each built-in agent is, for the opponent list.
KIND_DESCRIPTIONS = {
    "flax": "the bundled trained policy (Flax/JAX)",
    "tflite": "its TFLite conversion, run by LiteRT",
    "hunter": "the exact greedy Bayesian agent, 12.075",
    "random": "a random untried cell, 57.8",
    "app": "the official Android app's model, 13.19",
}

# The clock used for latencies. Snapshot tests replace it so that screenshots do not depend on timing.
clock = time.perf_counter

# Agents that compute in this process take turns: run side by side in threads they would fight over the GIL and the
# two cores, and each latency shown would include the others' work. A phone computes elsewhere: it has its own lock.
_IN_PROCESS = threading.Lock()


class SlotState(Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class Position(NamedTuple):
    """A board about to be struck: which game, whose turn (the seat striking), after how many strikes on it."""

    game: int
    seat: int
    strikes: int


@dataclass(frozen=True)
class Thought:
    """One agent's view of one position: what the panels draw."""

    position: Position  # the position it answers: an answer for a position that is gone is dropped
    probabilities: np.ndarray  # float32 [64]
    choice: int  # the cell it strikes (masked argmax for deterministic agents)
    latency_s: float  # wall time of the probabilities call


def one_line(error: BaseException) -> str:
    """The message a panel shows. PlanestrikeErrors are written for people; anything else gets its type name."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, PlanestrikeError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass(eq=False)  # slots compare by identity: a reloaded agent gets a new slot, and old results are dropped
class AgentSlot:
    spec: str
    seed: int = 0
    state: SlotState = SlotState.LOADING
    agent: Agent | None = None
    error: str | None = None
    _lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock() if self.kind == "device" else _IN_PROCESS

    @property
    def kind(self) -> str:
        return self.spec.partition(":")[0]

    @property
    def title(self) -> str:
        """``Flax``, ``LiteRT · model.tflite``, ``Phone · emulator-5554``."""
        name = KIND_TITLES.get(self.kind, self.kind.capitalize())
        argument = self.spec.partition(":")[2]
        if not argument:
            return name
        if self.kind == "device":
            return f"{name} · {argument.split(':')[0]}"
        return f"{name} · {Path(argument).name or argument}"

    def load(self) -> Agent:
        """Build the agent and run it once (JAX compiles on its first call). Blocking: call it in a worker."""
        agent = parse_spec(self.spec, self.seed)
        try:
            agent.probabilities(np.zeros((BOARD_SIZE, BOARD_SIZE), np.float32))
        except BaseException:
            agent.close()
            raise
        return agent

    def loaded(self, agent: Agent) -> None:
        self.agent, self.state, self.error = agent, SlotState.READY, None

    def failed(self, message: str) -> None:
        self.agent, self.state, self.error = None, SlotState.FAILED, message

    def think(self, position: Position, board: np.ndarray) -> Thought:
        """Probabilities and choice for ``board``. Blocking: workers queue on the slot's lock, which also keeps an
        interpreter from being entered twice."""
        if self.agent is None:
            raise RuntimeError(f"{self.title} is not loaded")
        with self._lock:
            start = clock()
            probabilities = np.asarray(self.agent.probabilities(board), dtype=np.float32).reshape(-1)
            latency = clock() - start
            if self.agent.deterministic:
                choice = int(masked_argmax(probabilities[None], board[None])[0])
            else:  # a stochastic agent samples its move: ask it rather than taking the argmax
                choice = int(self.agent.choose(board))
        return Thought(position, probabilities, choice, latency)

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
        self.agent = None


def parse_spec(spec: str, seed: int) -> Agent:
    from engine.specs import parse_agent_spec  # reads entry points: keep it off the start-up path

    return parse_agent_spec(spec, seed)


@dataclass(frozen=True)
class RosterConfig:
    """What ``planestrike play`` asked for."""

    opponent: str = "flax"  # a spec: flax, tflite, hunter, random, app, device:SERIAL
    model: Path | None = None  # a .tflite file for the LiteRT agent, or a checkpoint for the Flax agent
    seed: int = 0
    panels: tuple[str, ...] = ("flax", "tflite", "hunter")  # kinds that always get a panel


def model_specs(model: Path | None) -> dict[str, str]:
    """The specs a model file implies: a .tflite file is LiteRT's, anything else (a checkpoint file or
    directory) is the Flax agent's."""
    if model is None:
        return {}
    if model.suffix == ".tflite":
        return {"tflite": f"tflite:{model}"}
    return {"flax": f"flax:{model}"}


class Roster:
    """The slots, in panel order, and which one is the opponent."""

    def __init__(self, config: RosterConfig):
        self.config = config
        specs = {kind: kind for kind in config.panels} | model_specs(config.model)
        self.slots: dict[str, AgentSlot] = {kind: AgentSlot(spec, config.seed) for kind, spec in specs.items()}
        self.opponent = self.add(config.opponent)

    def add(self, spec: str) -> str:
        """Make sure a slot exists for ``spec``'s kind (a bare kind reuses the loaded one); return the kind."""
        kind = spec.partition(":")[0]
        current = self.slots.get(kind)
        if current is None or (spec != kind and current.spec != spec):
            if current is not None:
                current.close()
            self.slots[kind] = AgentSlot(spec, self.config.seed)
        return kind

    def replace(self, spec: str) -> AgentSlot:
        """A fresh slot for ``spec`` (to load another model); the old agent is closed."""
        kind = spec.partition(":")[0]
        if kind in self.slots:
            self.slots[kind].close()
        self.slots[kind] = AgentSlot(spec, self.config.seed)
        return self.slots[kind]

    def get(self, kind: str) -> AgentSlot | None:
        return self.slots.get(kind)

    def is_current(self, slot: AgentSlot) -> bool:
        return self.slots.get(slot.kind) is slot

    def close(self) -> None:
        for slot in self.slots.values():
            slot.close()
