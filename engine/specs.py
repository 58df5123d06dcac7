"""Agent specs: the one place that turns ``--agent SPEC`` strings into agents.

A spec is ``KIND`` or ``KIND:ARGUMENT`` (split at the first colon, so ``device:127.0.0.1:5037`` works). The
engine registers ``random``, ``hunter`` and ``optimal``; other packages add kinds through the ``planestrike.agents``
entry point group in ``pyproject.toml``, each naming an ``AgentKind`` object. That keeps this module free of any
ML or device code: a kind's module is imported only when its spec is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from engine.agents import Agent, HunterAgent, OptimalAgent, RandomAgent
from engine.errors import BadAgentSpec

ENTRY_POINT_GROUP = "planestrike.agents"


@dataclass(frozen=True)
class AgentKind:
    name: str  # the word before the colon: "tflite"
    usage: str  # how to write it: "tflite[:MODEL]"; "random" takes no argument, "device:SERIAL" needs one
    summary: str  # one line for help texts
    load: Callable[[str | None, int], Agent]  # (argument after the colon or None, seed) -> agent

    def check(self, spec: str, argument: str | None) -> None:
        """Refuse an argument this kind cannot take, or a missing one it needs, as its usage says."""
        if ":" not in self.usage and argument is not None:
            raise BadAgentSpec(f"agent '{self.name}' takes no argument, got '{spec}': write just '{self.name}'")
        if self.usage.startswith(f"{self.name}:") and argument is None:
            raise BadAgentSpec(f"agent '{self.name}' needs an argument: write {self.usage}")


BUILTIN_KINDS = (
    AgentKind("random", "random", "uniform over untried cells (seeded)", lambda argument, seed: RandomAgent(seed)),
    AgentKind("hunter", "hunter", "exact greedy Bayesian agent", lambda argument, seed: HunterAgent()),
    AgentKind("optimal", "optimal", "exact Bayes-optimal play (12.05)", lambda argument, seed: OptimalAgent()),
)


def agent_kinds() -> dict[str, AgentKind]:
    """Every known kind: the built-in ones, then those registered by installed packages."""
    kinds = {kind.name: kind for kind in BUILTIN_KINDS}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        kind = entry.load()
        kinds.setdefault(kind.name, kind)
    return kinds


def valid_forms() -> str:
    return ", ".join(kind.usage for kind in agent_kinds().values())


def check_agent_spec(spec: str) -> tuple[AgentKind, str | None]:
    """The kind a spec names and its argument, without loading anything (no file is read, no phone called).
    Raises ``BadAgentSpec`` with the valid forms when the spec names no kind or misuses one."""
    name, sep, argument = spec.strip().partition(":")
    kinds = agent_kinds()
    if name not in kinds:
        raise BadAgentSpec(f"unknown agent '{spec[:80]}': use one of {valid_forms()}")
    if sep and not argument:
        raise BadAgentSpec(f"agent spec '{spec}' ends with ':': give an argument after it, or write just '{name}'")
    kinds[name].check(spec.strip(), argument if sep else None)
    return kinds[name], argument if sep else None


def parse_agent_spec(spec: str, seed: int = 0) -> Agent:
    """Build the agent a spec names. Raises ``BadAgentSpec`` with the valid forms when it names none."""
    kind, argument = check_agent_spec(spec)
    return kind.load(argument, seed)
