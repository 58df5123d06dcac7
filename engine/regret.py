"""How far a deterministic agent is from optimal play, exactly, and where it loses its strikes.

Each of the 120 placements is played once (as ``--exact`` does). At every move the agent's regret is what its
cell costs in expected strikes over an optimal cell, from that position, if play were optimal afterwards
(``engine.solver.regret``): 0 for an optimal cell, 1 for a sure miss. A game's *extra strikes* are the sum of its
regrets. Averaged over the 120 placements they equal the agent's exact mean minus the optimum (12.05): from any
position the next position's optimal value averages to the value of the move played, so the differences add up
to "length of the game minus 12.05" on average. A single game can lose more or less than its regrets say (luck),
which is why this reports regrets rather than comparing each game with some optimal game.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from engine.agents import Agent
from engine.beliefs import ALL_PLACEMENTS, COVERS
from engine.errors import PlanestrikeError
from engine.evaluation import play_games
from engine.rules import CELL_COUNT, PLACEMENT_COUNT, PLACEMENTS, PLANE_SIZE, Heading, cell_name
from engine.solver import Solver, default_solver


@dataclass(frozen=True)
class Mistake:
    """A position where the agent's cell is worse than optimal. Deterministic agents meet it in every game whose
    strikes so far match ``path``."""

    path: tuple[tuple[int, bool], ...]  # the strikes that lead here: (cell, hit)
    cell: int  # what the agent struck
    optimal: tuple[int, ...]  # what optimal play strikes (any of them)
    regret: Fraction  # expected extra strikes of ``cell``
    games: int  # how many of the 120 placements pass through this position

    @property
    def share(self) -> Fraction:
        """What this mistake adds to the mean strikes per game."""
        return self.regret * self.games / PLACEMENT_COUNT

    def path_text(self) -> str:
        """``D4o E5x``: the strikes so far, ``x`` a hit and ``o`` a miss; ``start`` for the empty board."""
        return " ".join(f"{cell_name(cell)}{'x' if hit else 'o'}" for cell, hit in self.path) or "start"


@dataclass(frozen=True)
class GameRegret:
    placement: int
    strikes: int  # the game's length
    extra: Fraction  # the sum of the agent's regrets in this game

    def describe(self) -> str:
        """``up at D4``: the plane's heading and centre cell."""
        row, col = (int(x) for x in PLACEMENTS.centres[self.placement])
        return f"{Heading(int(PLACEMENTS.headings[self.placement])).name.lower()} at {cell_name(row * 8 + col)}"


@dataclass(frozen=True)
class RegretReport:
    agent: str
    mean_strikes: Fraction  # exact, over the 120 placements
    optimum: Fraction  # optimal play's mean: 241/20
    regret_mean: Fraction  # mean of the games' extra strikes == mean_strikes - optimum
    games: tuple[GameRegret, ...]  # one per placement, in placement order
    mistakes: tuple[Mistake, ...]  # largest share of the mean first
    seconds: float

    def lengths(self) -> np.ndarray:
        return np.array([game.strikes for game in self.games], dtype=np.int64)

    def to_dict(self) -> dict:
        """Plain JSON types: floats, with the exact values as "p/q" strings beside them."""
        return {
            "optimum": float(self.optimum),
            "regret_mean": float(self.regret_mean),
            "exact": {"mean_strikes": str(self.mean_strikes), "optimum": str(self.optimum),
                      "regret_mean": str(self.regret_mean)},
            "games": [{"placement": g.placement, "plane": g.describe(), "strikes": g.strikes,
                       "extra": float(g.extra), "extra_exact": str(g.extra)} for g in self.games],
            "mistakes": [{"after": m.path_text(), "struck": cell_name(m.cell),
                          "optimal": [cell_name(c) for c in m.optimal], "regret": float(m.regret),
                          "regret_exact": str(m.regret), "games": m.games, "share": float(m.share)}
                         for m in self.mistakes],
        }


def measure_regret(agent: Agent, solver: Solver | None = None) -> RegretReport:
    """Play ``agent`` once on each placement and value every move with the solver."""
    if not agent.deterministic:
        raise PlanestrikeError(
            f"--regret needs a deterministic agent, and {agent.name} is stochastic: its regret over the 120 "
            "placements would be one noisy sample; use a deterministic agent (hunter, flax, tflite, app...)"
        )
    start = time.perf_counter()
    solver = solver or default_solver()
    paths = _play_all(agent)
    regrets: dict[tuple[int, int], Fraction] = {}  # (belief, cell) -> regret
    reach: dict[tuple, int] = {}  # (strikes before, cell) of a mistake -> games through it
    games = []
    for placement, path in enumerate(paths):
        placements, extra = ALL_PLACEMENTS, Fraction(0)
        for step, (cell, hit) in enumerate(path):
            key = (placements, cell)
            if key not in regrets:
                regrets[key] = solver.move_regret(placements, cell)
            if regrets[key]:
                extra += regrets[key]
                mistake = (path[:step], cell)
                reach[mistake] = reach.get(mistake, 0) + 1
            placements &= COVERS[cell] if hit else ~COVERS[cell]
        games.append(GameRegret(placement, len(path), extra))
    mistakes = []
    for (before, cell), count in reach.items():
        placements = _belief_after(before)
        mistakes.append(Mistake(before, cell, _optimal_after(solver, placements, before),
                                regrets[(placements, cell)], count))
    mistakes.sort(key=lambda m: (-m.share, m.path))
    mean = Fraction(sum(game.strikes for game in games), PLACEMENT_COUNT)
    optimum = PLANE_SIZE + Fraction(solver.misses(ALL_PLACEMENTS), PLACEMENT_COUNT)
    regret_mean = sum((game.extra for game in games), Fraction(0)) / PLACEMENT_COUNT
    return RegretReport(agent.name, mean, optimum, regret_mean, tuple(games), tuple(mistakes),
                        time.perf_counter() - start)


def _play_all(agent: Agent) -> list[tuple[tuple[int, bool], ...]]:
    """Each placement's game as its strikes, (cell, hit), played in lockstep batches by ``play_games``."""
    paths: list[list[tuple[int, bool]]] = [[] for _ in range(PLACEMENT_COUNT)]

    def record(games: np.ndarray, cells: np.ndarray, hits: np.ndarray) -> None:
        for game, cell, was_hit in zip(games.tolist(), cells.tolist(), hits.tolist()):
            paths[game].append((cell, was_hit))

    play_games(agent, np.arange(PLACEMENT_COUNT), on_strike=record)
    return [tuple(path) for path in paths]


def _belief_after(path) -> int:
    placements = ALL_PLACEMENTS
    for cell, hit in path:
        placements &= COVERS[cell] if hit else ~COVERS[cell]
    return placements


def _optimal_after(solver: Solver, placements: int, path) -> tuple[int, ...]:
    """The optimal cells of the position (sure hits included), for people to compare with the agent's."""
    tried = {cell for cell, _ in path}
    sure_hits = [cell for cell in range(CELL_COUNT)
                 if cell not in tried and COVERS[cell] & placements == placements]
    return tuple(sorted(set(sure_hits) | set(solver.optimal_informative(placements))))
