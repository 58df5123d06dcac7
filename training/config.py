"""Everything that defines a training run, in one dataclass stored inside every checkpoint, with its ranges.

Light on purpose (standard library and ``engine`` only): the command line reads the ranges below to build its
arguments and help, and the checkpoint loader applies the very same rules to what a file says, so a crafted or
damaged checkpoint is refused with the field's name instead of crashing JAX.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from engine.limits import SEED, NumberRange, OutOfRange, WholeRange

# The ranges. Each is generous for real use and small enough that one update stays bounded in memory (the
# rollout keeps every move's activations: about 60 KB per game at the default widths) and in time.
HIDDEN_LAYERS = WholeRange(1, 4)
HIDDEN_WIDTH = WholeRange(1, 512)
BATCH_SIZE = WholeRange(1, 8192)
LEARNING_RATE = NumberRange(0, 1, above_low=True)
GAMMA = NumberRange(0, 1)
REWARD = NumberRange(-100, 100)
ENTROPY = NumberRange(0, 10)
TRIED_MASS_WEIGHT = NumberRange(0, 100)
GAMES = WholeRange(1, 10_000_000_000)  # about ten days at 12,000 games/s
UPDATES = WholeRange(0, 2**31 - 1)  # the trainer counts updates in int32: games / batch size must fit
MINUTES = NumberRange(0, 60 * 24 * 30, above_low=True)  # 30 days


class ConfigError(OutOfRange):
    """A training setting that is not what a config holds; range errors are ``OutOfRange``, named too."""


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network. The default is the reference: 64 -> 128 relu -> 64 relu -> 64 -> softmax."""

    hidden: tuple[int, ...] = (128, 64)

    def __post_init__(self) -> None:
        if not isinstance(self.hidden, tuple):
            raise ConfigError(f"hidden must be a list of layer widths, got {self.hidden!r:.40}")
        HIDDEN_LAYERS.check(len(self.hidden), "the number of hidden layers")
        for width in self.hidden:
            HIDDEN_WIDTH.check(width, "a hidden layer width")

    def to_dict(self) -> dict:
        return {"hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, data: object) -> "ModelConfig":
        if not isinstance(data, dict) or not isinstance(data.get("hidden"), (list, tuple)) or set(data) != {"hidden"}:
            raise ConfigError(f"model must be {{'hidden': [widths]}}, got {data!r:.60}")
        return cls(hidden=tuple(data["hidden"]))

    def build(self):
        """The Flax module (``training.model``; imports Flax)."""
        from training.model import PolicyGradient

        return PolicyGradient(hidden=self.hidden)


@dataclass(frozen=True)
class TrainConfig:
    """A training run: the network, the learning rule and the budget.

    The learning rule is REINFORCE as in the reference trainer (reward per hit and per miss, discounted
    reward-to-go with ``gamma``), with a whole batch of complete games per update, the return normalised over the
    batch's valid steps as the advantage, an optional entropy bonus, an optional term that keeps the raw softmax's
    mass off tried cells, and Adam. ``docs/training.md`` records how the defaults were chosen.

    Every field is checked against its range when the config is built (``OutOfRange`` naming the field).
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

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise ConfigError(f"model must be a ModelConfig, got {self.model!r:.40}")
        for name, limits in RANGES.items():
            value = getattr(self, name)
            if value is not None or name not in ("games", "minutes"):
                limits.check(value, name)
        if self.games is not None and self.updates > UPDATES.high:
            raise ConfigError(f"games {self.games:,} in batches of {self.batch_size:,} make {self.updates:,} updates, "
                              f"more than the {UPDATES.high:,} a run can count: use a larger --batch-size or fewer "
                              "--games")

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
    def from_dict(cls, data: object) -> "TrainConfig":
        """The config a checkpoint records, every field checked (``ConfigError`` names the first bad one)."""
        if not isinstance(data, dict):
            raise ConfigError(f"the training config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown training settings {sorted(map(str, unknown))}")
        # Checkpoints written before the tried-mass term existed were trained without it.
        values = {"tried_mass_weight": 0.0, **data}
        if "model" in values:
            values["model"] = ModelConfig.from_dict(values["model"])
        if values.get("games", cls.games) is None and values.get("minutes") is None:
            raise ConfigError("games and minutes are both unset: a run needs a budget")
        return cls(**values)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


# Field -> range; ``games`` and ``minutes`` may also be None (no such budget).
RANGES: dict[str, WholeRange | NumberRange] = {
    "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE, "gamma": GAMMA, "hit_reward": REWARD,
    "miss_reward": REWARD, "entropy": ENTROPY, "tried_mass_weight": TRIED_MASS_WEIGHT, "seed": SEED,
    "games": GAMES, "minutes": MINUTES,
}
