"""Everything that defines a training run, in one dataclass stored inside every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from training.model import ModelConfig


@dataclass(frozen=True)
class TrainConfig:
    """A training run: the network, the learning rule and the budget.

    The learning rule is REINFORCE as in the reference trainer (reward per hit and per miss, discounted
    reward-to-go with ``gamma``), with a whole batch of complete games per update, the return normalised over the
    batch's valid steps as the advantage, an optional entropy bonus, an optional term that keeps the raw softmax's
    mass off tried cells, and Adam. ``docs/training.md`` records how the defaults were chosen.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    batch_size: int = 512  # complete games per update
    learning_rate: float = 3e-3  # Adam
    gamma: float = 0.5  # discount of the reward-to-go
    hit_reward: float = 1.0
    miss_reward: float = 0.0
    entropy: float = 0.01  # weight of the entropy bonus (over untried cells) in the loss
    # weight of -log(raw-softmax mass on untried cells) in the loss, on the policy's moves and on random-play
    # positions; 0 by default because it slows early learning (docs/training.md), 0.1 for the bundle
    tried_mass_weight: float = 0.0
    seed: int = 0
    games: int | None = 1_500_000  # budget in games (rounded up to whole updates); None: no games budget
    minutes: float | None = None  # budget in wall-clock minutes of training; None: no time budget

    @property
    def updates(self) -> int | None:
        """Updates the games budget allows (None when only a time budget is set)."""
        return None if self.games is None else -(-self.games // self.batch_size)

    def command(self) -> str:
        """The ``planestrike train`` command that reruns this config from scratch, every setting spelled out (so it
        stays valid if defaults change). Only a games budget is reproducible; a time budget depends on the machine."""
        budget = f"--games {self.games}" if self.games is not None else f"--minutes {self.minutes:g}"
        return (
            f"planestrike train {budget} --batch-size {self.batch_size} --lr {self.learning_rate:g} "
            f"--gamma {self.gamma:g} --hit-reward {self.hit_reward:g} --miss-reward {self.miss_reward:g} "
            f"--entropy {self.entropy:g} --tried-mass-weight {self.tried_mass_weight:g} "
            f"--hidden {','.join(str(h) for h in self.model.hidden)} --seed {self.seed}"
        )

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["model"] = self.model.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training settings {sorted(unknown)}")
        # Checkpoints written before the tried-mass term existed were trained without it.
        values = {"tried_mass_weight": 0.0, **data}
        if "model" in values:
            values["model"] = ModelConfig.from_dict(values["model"])
        return cls(**values)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
