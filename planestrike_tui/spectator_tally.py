"""The running score of a spectated match-up: games won by each agent, draws, mean strikes and mean strikes lost to
perfect play per side. Sums only, so a talk-long run keeps a constant size. No Textual here."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.match import Outcome


@dataclass
class SpectatorTally:
    players: tuple[str, str]  # the two specs, first seat first: a new pair starts a new tally
    games: int = 0
    wins: list[int] = field(default_factory=lambda: [0, 0])
    draws: int = 0
    strikes: list[int] = field(default_factory=lambda: [0, 0])  # summed over the games
    lost: list[float] = field(default_factory=lambda: [0.0, 0.0])  # strikes lost to perfect play, summed
    scored: int = 0  # games whose lost strikes are in ``lost`` (scored once their positions are solved)

    def finish(self, outcome: Outcome, strikes: tuple[int, int]) -> None:
        self.games += 1
        if outcome is Outcome.DRAW:
            self.draws += 1
        else:
            self.wins[0 if outcome is Outcome.FIRST_WINS else 1] += 1
        for seat in (0, 1):
            self.strikes[seat] += strikes[seat]

    def score(self, lost: tuple[float, float]) -> None:
        self.scored += 1
        for seat in (0, 1):
            self.lost[seat] += lost[seat]

    def mean_strikes(self, seat: int) -> float | None:
        return self.strikes[seat] / self.games if self.games else None

    def mean_lost(self, seat: int) -> float | None:
        return self.lost[seat] / self.scored if self.scored else None

    def lines(self, names: tuple[str, str]) -> list[str]:
        """The status lines: wins and draws, then the means (nothing before a first game)."""
        if not self.games:
            return [f"Tally  {names[0]} 0 · {names[1]} 0 · drawn 0"]
        first, second = names
        lines = [f"Tally  {first} {self.wins[0]} · {second} {self.wins[1]} · drawn {self.draws} "
                 f"({self.games} game{'s' if self.games != 1 else ''})",
                 f"Mean strikes  {first} {self.mean_strikes(0):.2f} · {second} {self.mean_strikes(1):.2f}"]
        if self.scored:
            lines.append(f"Mean lost to perfect play  {first} {self.mean_lost(0):.3f} · {second} {self.mean_lost(1):.3f}")
        return lines
