"""A match between two players, as the app plays it.

Each side hides a plane and strikes the other's board. The first player (the person, in the app) strikes, the
second answers, and the end is checked only after both have moved: when both planes fall in the same round, the
match is a draw. Agent-vs-agent games use this same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from engine.agents import Agent
from engine.game import Game
from engine.placements import PlacementKind, draw_placements


class Outcome(Enum):
    FIRST_WINS = "first"
    SECOND_WINS = "second"
    DRAW = "draw"


class Match:
    """Two boards and whose turn it is.

    ``boards[0]`` hides the *second* player's plane: it is the board the first player strikes (and vice versa).
    ``first_plane`` and ``second_plane`` are placement indices.
    """

    def __init__(self, first_plane: int, second_plane: int):
        self.boards = (Game(second_plane), Game(first_plane))
        self.to_move = 0  # 0: first player, 1: second player
        self.outcome: Outcome | None = None

    @property
    def over(self) -> bool:
        return self.outcome is not None

    def strike(self, action: int) -> bool:
        """The player whose turn it is strikes ``action`` on the opponent's board. Returns True on a hit."""
        if self.over:
            raise ValueError("the match is over: start a new one")
        player = self.to_move
        hit = self.boards[player].strike(action)
        self.to_move = 1 - player
        if player == 1:  # a round is complete: only now can the match end
            first_done, second_done = self.boards[0].finished, self.boards[1].finished
            if first_done and second_done:
                self.outcome = Outcome.DRAW
            elif first_done:
                self.outcome = Outcome.FIRST_WINS
            elif second_done:
                self.outcome = Outcome.SECOND_WINS
        return hit


@dataclass
class MatchRecord:
    outcome: Outcome
    strikes: tuple[int, int]  # strikes made by the first and the second player
    moves: list[tuple[int, int]] = field(default_factory=list)  # (player, action) in order


def play_match(first: Agent, second: Agent, rng: np.random.Generator, placements: PlacementKind = "uniform") -> MatchRecord:
    """Play one agent-vs-agent match on planes drawn from ``rng``."""
    first_plane, second_plane = draw_placements(rng, 2, placements)
    match = Match(int(first_plane), int(second_plane))
    players = (first, second)
    moves = []
    while not match.over:
        player = match.to_move
        action = players[player].choose(match.boards[player].observation())
        match.strike(action)
        moves.append((player, action))
    return MatchRecord(match.outcome, (match.boards[0].strikes, match.boards[1].strikes), moves)
