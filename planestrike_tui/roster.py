"""The agents the app has loaded: one slot per probability panel.

A slot loads its agent through ``engine.specs.parse_agent_spec`` and then "thinks" about boards: probabilities,
the cell it would strike, and how long the inference took. Both calls block (importing JAX, compiling, talking to
a phone), so the app runs them in thread workers; nothing here imports Textual. A slot that fails to load keeps
the one-line reason for its panel, and every other slot carries on.
"""

from __future__ import annotations

import os
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
from planestrike_tui.regrets import SOLVER_LOCK

# The agent's name in panel titles, by the spec's kind (the word before the colon).
KIND_TITLES = {"flax": "Flax", "tflite": "LiteRT", "hunter": "Hunter", "random": "Random", "device": "Phone",
               "app": "Official app", "optimal": "Optimal"}
# What each built-in agent is, for the opponent and panel lists.
KIND_DESCRIPTIONS = {
    "flax": "the bundled trained policy (Flax/JAX)",
    "tflite": "its TFLite conversion, run by LiteRT",
    "tflite:float16": "the same model with float16 weights",
    "tflite:int8": "the same model with dynamic-range int8 weights",
    "hunter": "the exact greedy Bayesian agent, 12.075",
    "optimal": "perfect play (the exact solver), 12.050",
    "random": "a random untried cell, 57.8",
    "app": "the official Android app's model, 13.19",
}
# Model names for the specs that take none (the bundled models), so that every panel title names its model.
BUNDLED_MODEL_NAMES = {"flax": "planestrike", "tflite": "planestrike", "tflite:float32": "planestrike",
                       "tflite:float16": "planestrike.float16", "tflite:int8": "planestrike.int8"}
# What a panel's numbers are: a policy's strike probabilities sum to 1; the hunter's are per-cell hit
# probabilities (they sum to the plane cells not yet hit).
HIT_PROBABILITY_KINDS = frozenset({"hunter"})
MAX_PANELS = 6  # the layouts are drawn for 1 to 6 panels (docs/app.md); more would scroll at any size
# Kinds whose argument is a file: their specs name the file by its absolute path, so that two spellings of one
# file are one panel.
FILE_KINDS = ("flax", "tflite")


def canonical_spec(spec: str) -> str:
    """The spec a panel is keyed by, so that one model is one panel: ``tflite:./m.tflite`` and
    ``tflite:m.tflite`` are the same file; ``tflite:float32`` and ``tflite:assets/planestrike.tflite`` are the
    bundled model, ``tflite``. Other shorthands (``tflite:int8``) stay as they are."""
    spec = spec.strip()
    kind, sep, argument = spec.partition(":")
    if spec == "tflite:float32":
        return "tflite"
    if kind in FILE_KINDS and sep and argument and ("/" in argument or Path(argument).suffix):
        path = os.path.abspath(os.path.expanduser(argument))
        return _bundled_specs().get(path, f"{kind}:{path}")
    return spec


def _bundled_specs() -> dict[str, str]:
    """The bundled model files, by absolute path, and the shorthand that names each."""
    import assets  # paths only: no model is read

    files = {assets.BUNDLED_TFLITE: "tflite", assets.BUNDLED_TFLITE_FLOAT16: "tflite:float16",
             assets.BUNDLED_TFLITE_INT8: "tflite:int8", assets.BUNDLED_CHECKPOINT: "flax"}
    return {os.path.abspath(path): spec for path, spec in files.items()}


def model_name(spec: str) -> str | None:
    """The model a spec plays, for titles: a file's stem (a checkpoint by its run directory), a phone's serial,
    a bundled model's name; None for agents that have no model (hunter, random)."""
    if spec in BUNDLED_MODEL_NAMES:
        return BUNDLED_MODEL_NAMES[spec]
    kind, _, argument = spec.partition(":")
    if not argument:
        return None
    if kind == "device":  # device:SERIAL[:MODEL], where a serial may be HOST:PORT
        serial, _, model = argument.rpartition(":")
        if model.endswith(".tflite"):
            return f"{serial} {Path(model).name.removesuffix('.tflite')}"
        return argument
    path = Path(argument)
    if kind == "flax" and path.suffix in ("", ".msgpack") and path.stem in ("", "checkpoint", "best"):
        directory = path if path.suffix == "" else path.parent  # runs/x or runs/x/checkpoint.msgpack: "x"
        return directory.name if path.stem != "best" else f"{directory.name}/best"
    return path.name.removesuffix(".tflite") or argument


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
    values: np.ndarray | None = None  # the optimal agent's expected total strikes per cell (NaN: tried), else None


def one_line(error: BaseException) -> str:
    """The message a panel shows. PlanestrikeErrors are written for people; anything else gets its type name."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, PlanestrikeError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass(eq=False)  # slots compare by identity: a reloaded agent gets a new slot, and old results are dropped
class AgentSlot:
    spec: str  # canonical (see canonical_spec): also the slot's key in the roster
    seed: int = 0
    pinned: bool = True  # asked for as a panel; False: shown only while it is the opponent
    state: SlotState = SlotState.LOADING
    agent: Agent | None = None
    error: str | None = None
    _lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind == "device":
            self._lock = threading.Lock()
        elif self.kind == "optimal":  # solving takes up to a second: it must not hold up the other panels
            self._lock = SOLVER_LOCK
        else:
            self._lock = _IN_PROCESS

    @property
    def kind(self) -> str:
        return self.spec.partition(":")[0]

    @property
    def agent_title(self) -> str:
        """``Flax``, ``LiteRT``, ``Phone``: the agent without its model."""
        return KIND_TITLES.get(self.kind, self.kind.capitalize())

    @property
    def title(self) -> str:
        """``Flax planestrike``, ``LiteRT planestrike.int8``, ``Phone emulator-5554``, ``Hunter``."""
        model = model_name(self.spec)
        return f"{self.agent_title} {model}" if model else self.agent_title

    @property
    def short_title(self) -> str:
        """For the status line: the agent alone when it plays its bundled model, else the title."""
        return self.agent_title if self.spec == self.kind else self.title

    @property
    def gives_hit_probabilities(self) -> bool:
        """The hunter's numbers are per-cell hit probabilities (they sum to the plane cells left); every other
        agent's are strike probabilities (a policy: they sum to 1)."""
        return self.kind in HIT_PROBABILITY_KINDS

    def load(self) -> Agent:
        """Build the agent and run it once (JAX compiles on its first call). Blocking: call it in a worker."""
        agent = parse_spec(self.spec, self.seed)
        try:
            if self.kind == "optimal":  # the solver is shared with the judge (planestrike_tui.regrets)
                with SOLVER_LOCK:
                    agent.probabilities(np.zeros((BOARD_SIZE, BOARD_SIZE), np.float32))
            else:
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
            cell_values = getattr(self.agent, "cell_values", None)  # the optimal agent: what its choice is worth
            values = None if cell_values is None else np.asarray(cell_values(board), dtype=np.float64).reshape(-1)
            latency = clock() - start
            if self.agent.deterministic:
                choice = int(masked_argmax(probabilities[None], board[None])[0])
            else:  # a stochastic agent samples its move: ask it rather than taking the argmax
                choice = int(self.agent.choose(board))
        return Thought(position, probabilities, choice, latency, values)

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
    panels: tuple[str, ...] = ("flax", "tflite", "hunter")  # specs that get a panel, in order
    spectate: tuple[str, str] | None = None  # open in spectator mode with these two players

    def panel_specs(self) -> list[str]:
        """``panels`` with ``model`` in place of the bundled model of its kind (or added when that kind has no
        panel), each spec once."""
        specs = [canonical_spec(spec) for spec in self.panels]
        if self.model is not None:
            kind = "tflite" if self.model.suffix == ".tflite" else "flax"
            model_spec = canonical_spec(f"{kind}:{self.model}")
            specs = [model_spec if spec == kind else spec for spec in specs]
            if model_spec not in specs:
                specs.append(model_spec)
        return list(dict.fromkeys(specs))

    def opponent_spec(self) -> str:
        """``opponent``, or ``model``'s spec when the opponent is the bundled model of ``model``'s kind
        (``--opponent tflite --model m.tflite`` plays m.tflite)."""
        if self.model is not None and self.opponent == ("tflite" if self.model.suffix == ".tflite" else "flax"):
            return canonical_spec(f"{self.opponent}:{self.model}")
        return canonical_spec(self.opponent)


class Roster:
    """The slots, in panel order (the opponent's first), and which one is the opponent. Keyed by canonical spec:
    ``tflite`` and ``tflite:int8`` are two panels, as are two phones."""

    def __init__(self, config: RosterConfig):
        self.config = config
        self.slots: dict[str, AgentSlot] = {spec: AgentSlot(spec, config.seed) for spec in config.panel_specs()}
        self.opponent = ""
        self.set_opponent(config.opponent_spec())

    def add(self, spec: str, *, pinned: bool = True) -> AgentSlot:
        """The slot for ``spec``, made (at the end) if there is none; asking for a panel pins an existing one."""
        key = canonical_spec(spec)
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = AgentSlot(key, self.config.seed, pinned=pinned)
        elif pinned:
            slot.pinned = True
        return slot

    def set_opponent(self, spec: str) -> tuple[AgentSlot, AgentSlot | None]:
        """Make ``spec`` the opponent, its panel first. Returns the opponent's slot and the previous opponent's
        slot if it was shown only as the opponent: that one is removed (and closed)."""
        previous = self.slots.get(self.opponent)
        slot = self.add(spec, pinned=False)
        self.opponent = slot.spec
        self.slots = {slot.spec: slot} | {key: other for key, other in self.slots.items() if other is not slot}
        if previous is not None and previous is not slot and not previous.pinned:
            self.remove(previous.spec)
            return slot, previous
        return slot, None

    def remove(self, key: str) -> AgentSlot:
        slot = self.slots.pop(key)
        slot.close()
        return slot

    def replace(self, key: str, spec: str) -> AgentSlot:
        """A fresh slot for ``spec`` in ``key``'s place (another model for that panel, or the same model read
        again); the old agent is closed. ``spec`` must not have a panel of its own elsewhere."""
        new_key = canonical_spec(spec)
        if new_key != key and new_key in self.slots:
            raise ValueError(f"{new_key} already has a panel")
        old = self.slots[key]
        old.close()
        slot = AgentSlot(new_key, self.config.seed, pinned=old.pinned)
        self.slots = {(new_key if k == key else k): (slot if k == key else v) for k, v in self.slots.items()}
        if self.opponent == key:
            self.opponent = new_key
        return slot

    def get(self, key: str) -> AgentSlot | None:
        return self.slots.get(key)

    def first_of(self, kind: str) -> AgentSlot | None:
        """The first panel of a kind: the Flax panel a trained checkpoint replaces, the reference for differences."""
        return next((slot for slot in self.slots.values() if slot.kind == kind), None)

    def is_current(self, slot: AgentSlot) -> bool:
        return self.slots.get(slot.spec) is slot

    def close(self) -> None:
        for slot in self.slots.values():
            slot.close()
