"""The game engine: exact rules, reference agents and evaluation. Imports only numpy and the standard library."""

from engine.agents import Agent, HunterAgent, OptimalAgent, RandomAgent, masked_argmax
from engine.errors import BadAgentSpec, PlanestrikeError
from engine.evaluation import EvalReport, evaluate, play_games
from engine.game import Game
from engine.match import Match, MatchRecord, Outcome, play_match
from engine.placements import PLACEMENT_KINDS, draw_placements, placement_probabilities
from engine.rules import BOARD_SIZE, CELL_COUNT, HIT, MISS, PLACEMENT_COUNT, PLACEMENTS, PLANE_SIZE, UNTRIED, Heading
from engine.specs import AgentKind, agent_kinds, parse_agent_spec

__all__ = [
    "Agent", "AgentKind", "BadAgentSpec", "BOARD_SIZE", "CELL_COUNT", "EvalReport", "Game", "HIT", "Heading",
    "HunterAgent", "MISS", "Match", "MatchRecord", "OptimalAgent", "Outcome", "PLACEMENTS", "PLACEMENT_COUNT",
    "PLACEMENT_KINDS", "PLANE_SIZE", "PlanestrikeError", "RandomAgent", "UNTRIED", "agent_kinds", "draw_placements",
    "evaluate", "masked_argmax", "parse_agent_spec", "placement_probabilities", "play_games", "play_match",
]
