"""The parity gate: a converted model must answer like the Flax model it came from, on boards from real games.

Boards are distinct positions of seeded games played by a slightly exploring hunter (the positions a strong
policy meets: few strikes, hits to follow up) and by the random agent (cluttered late-game boards a strong policy
rarely sees), from the empty board to the last strike. Random noise alone would miss both.

Thresholds per quantization mode (``THRESHOLDS``): float32 must match to 1e-5 and choose the same cell on every
board; the quantized modes have their own limits, set from measurements on the bundled model with margin (see
docs/conversion.md for the figures).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from engine.agents import HunterAgent, masked_argmax
from engine.game import Game
from engine.placements import draw_placements
from engine.rules import UNTRIED


@dataclass(frozen=True)
class ParityThresholds:
    max_abs_diff: float  # largest allowed |p_flax - p_tflite| over every cell of every board
    mean_abs_diff: float  # largest allowed mean of |p_flax - p_tflite| over all cells of all boards
    min_agreement: float  # share of boards on which both models strike the same cell (masked argmax)


# float32: the 1e-5. Quantized: about 10x the worst mean and two points or more below the worst agreement
# measured on three trained checkpoints (one bundled) and fresh parameters; see docs/conversion.md. The maximum is
# only a backstop there: where a confident softmax has two nearly tied cells, a tiny change in the logits moves a
# lot of probability between them (measured up to 0.0097 for float16, 0.17 for int8, with the same skill).
THRESHOLDS = {
    "none": ParityThresholds(max_abs_diff=1e-5, mean_abs_diff=1e-7, min_agreement=1.0),
    "float16": ParityThresholds(max_abs_diff=0.05, mean_abs_diff=1e-4, min_agreement=0.99),
    "dynamic-int8": ParityThresholds(max_abs_diff=0.5, mean_abs_diff=2e-3, min_agreement=0.97),
}


@dataclass(frozen=True)
class ParityConfig:
    boards: int = 1200
    seed: int = 0
    thresholds: ParityThresholds | None = None  # None: THRESHOLDS[quantization mode]


def game_boards(count: int, seed: int = 0, explore: float = 0.2) -> np.ndarray:
    """``count`` distinct float32 [count, 8, 8] boards: positions (before each strike) of seeded games.

    Half come from games of the hunter that strikes a random untried cell instead of its choice with probability
    ``explore`` (the pure hunter's whole game tree has only 239 positions, too few and too alike), half from games
    of the random agent. Every board has at least one untried cell, so every agent has a legal move on it.
    """
    rng = np.random.default_rng(seed)
    hunter = HunterAgent()
    players = (
        lambda board: int(rng.choice(np.flatnonzero(board.ravel() == UNTRIED))) if rng.random() < explore
        else hunter.choose(board),
        lambda board: int(rng.choice(np.flatnonzero(board.ravel() == UNTRIED))),
    )
    seen: set[bytes] = set()
    boards: list[np.ndarray] = []
    for k, choose in enumerate(players):
        share = count // len(players) + (k < count % len(players))
        target = len(boards) + share
        while len(boards) < target:
            game = Game(int(draw_placements(rng, 1)[0]))
            while not game.finished and len(boards) < target:
                board = game.observation()
                if board.tobytes() not in seen:
                    seen.add(board.tobytes())
                    boards.append(board)
                game.strike(choose(board))
    return np.stack(boards).astype(np.float32)


# Two cells whose reference probabilities differ by no more than this are a tie that float rounding breaks, not
# a decision. Seen in practice: on crowded random-game boards the trained model gives every untried cell ~1e-38,
# which LiteRT computes as exactly 0, so the lowest-index tie-break picks a different cell.
ROUNDING_TIE = 1e-7


@dataclass(frozen=True)
class ParityReport:
    boards: int
    max_abs_diff: float
    mean_abs_diff: float
    argmax_agreement: float  # strict: same cell chosen
    rounding_ties: int  # boards with a different cell, but one the reference scores within ROUNDING_TIE of its own
    thresholds: ParityThresholds
    worst_board: int  # index of the board with the largest difference
    disagreements: list[int] = field(default_factory=list)  # boards where the chosen cell differs (first 10)

    @property
    def decision_agreement(self) -> float:
        """What the gate checks: the same cell, or a cell the reference found as good up to rounding."""
        return self.argmax_agreement + self.rounding_ties / self.boards

    @property
    def passed(self) -> bool:
        return not self.failures()

    def failures(self) -> list[str]:
        """What broke a threshold, one phrase each. NaN differences compare False, so they always fail."""
        found = []
        if not self.max_abs_diff <= self.thresholds.max_abs_diff:
            found.append(f"max |difference| {self.max_abs_diff:.3g} > {self.thresholds.max_abs_diff:g} "
                         f"(worst on board {self.worst_board})")
        if not self.mean_abs_diff <= self.thresholds.mean_abs_diff:
            found.append(f"mean |difference| {self.mean_abs_diff:.3g} > {self.thresholds.mean_abs_diff:g}")
        if not self.decision_agreement >= self.thresholds.min_agreement:
            found.append(f"chosen cell agrees on {self.decision_agreement:.2%} of {self.boards} boards < "
                         f"{self.thresholds.min_agreement:.2%} (first differing boards: {self.disagreements})")
        return found

    def to_dict(self) -> dict:
        data = asdict(self)
        data["decision_agreement"] = self.decision_agreement
        data["passed"] = self.passed
        return data


def compare_probabilities(reference: np.ndarray, candidate: np.ndarray, boards: np.ndarray,
                          thresholds: ParityThresholds) -> ParityReport:
    """How far ``candidate`` scores are from ``reference`` scores on ``boards`` (all [N, 64])."""
    reference = np.asarray(reference, np.float64).reshape(len(boards), -1)
    candidate = np.asarray(candidate, np.float64).reshape(len(boards), -1)
    diff = np.abs(reference - candidate)
    per_board = diff.max(axis=1)
    reference_choice, candidate_choice = masked_argmax(reference, boards), masked_argmax(candidate, boards)
    same = reference_choice == candidate_choice
    rows = np.arange(len(boards))
    gap = reference[rows, reference_choice] - reference[rows, candidate_choice]  # >= 0: the reference's own best
    return ParityReport(
        boards=len(boards),
        max_abs_diff=float(np.nan if np.isnan(diff).any() else diff.max()),
        mean_abs_diff=float(diff.mean()),
        argmax_agreement=float(same.mean()),
        rounding_ties=int((~same & (gap <= ROUNDING_TIE)).sum()),
        thresholds=thresholds,
        worst_board=int(np.nanargmax(per_board)) if not np.isnan(per_board).all() else 0,
        disagreements=[int(i) for i in np.flatnonzero(~same)[:10]],
    )
