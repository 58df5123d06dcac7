"""Agent specs: the one place that turns ``--agent SPEC`` strings into agents.

A spec is ``KIND`` or ``KIND:ARGUMENT`` (split at the first colon, so ``device:127.0.0.1:5037`` works). The
engine registers ``random`` and ``hunter``; other packages add kinds through the ``planestrike.agents`` entry
point group in ``pyproject.toml``, each naming an ``AgentKind`` object. That keeps this module free of any ML
or device code: a kind's module is imported only when its spec is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from engine.agents import Agent, HunterAgent, RandomAgent
from engine.errors import BadAgentSpec

ENTRY_POINT_GROUP = "planestrike.agents"


@dataclass(frozen=True)
class AgentKind:
    name: str  # the word before the colon: "tflite"
    usage: str  # how to write it: "tflite[:MODEL]"
    summary: str  # one line for help texts
    load: Callable[[str | None, int], Agent]  # (argument after the colon or None, seed) -> agent


def _no_argument(kind: str, factory: Callable[[int], Agent]) -> Callable[[str | None, int], Agent]:
    def load(argument: str | None, seed: int) -> Agent:
        if argument is not None:
            raise BadAgentSpec(f"agent '{kind}' takes no argument, got '{kind}:{argument}': write just '{kind}'")
        return factory(seed)

    return load


BUILTIN_KINDS = (
    AgentKind("random", "random", "uniform over untried cells (seeded)", _no_argument("random", RandomAgent)),
    AgentKind("hunter", "hunter", "exact greedy Bayesian agent", _no_argument("hunter", lambda seed: HunterAgent())),
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


def parse_agent_spec(spec: str, seed: int = 0) -> Agent:
    """Build the agent a spec names. Raises ``BadAgentSpec`` with the valid forms when it names none."""
    name, sep, argument = spec.strip().partition(":")
    kinds = agent_kinds()
    if name not in kinds:
        raise BadAgentSpec(f"unknown agent '{spec}': use one of {valid_forms()}")
    if sep and not argument:
        raise BadAgentSpec(f"agent spec '{spec}' ends with ':': give an argument after it, or write just '{name}'")
    return kinds[name].load(argument if sep else None, seed)
