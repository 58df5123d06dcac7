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
EXPLORE = NumberRange(0, 1)
GAMES = WholeRange(1, 10_000_000_000)  # about ten days at 12,000 games/s
UPDATES = WholeRange(0, 2**31 - 1)  # the trainer counts updates in int32: games / batch size must fit
MINUTES = NumberRange(0, 60 * 24 * 30, above_low=True)  # 30 days


class ConfigError(OutOfRange):
    """A training setting that is not what a config holds; range errors are ``OutOfRange``, named too."""


# Limits of what a fine-tuning run records about where it started (``InitFrom``).
INIT_PATH_CHARS = 4096
INIT_STAGES = WholeRange(1, 16)  # earlier stages of a recipe (each a ``planestrike train`` command)
INIT_STAGE_CHARS = 2000


@dataclass(frozen=True)
class InitFrom:
    """Where a fine-tuning run (``planestrike train --init CHECKPOINT``) took its starting parameters: the file as
    given, the update of that snapshot, the sha256 of its parameters (``params_sha256``: a rerun of the recipe can
    check that it starts from the same numbers) and the commands that made it from scratch, first stage first, each
    with its ``--out``. With the run's own command they are the whole recipe (``TrainConfig.stages``)."""

    checkpoint: str
    step: int
    params_sha256: str
    stages: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.checkpoint, str) or not 0 < len(self.checkpoint) <= INIT_PATH_CHARS:
            raise ConfigError(f"init checkpoint must be a path of 1 to {INIT_PATH_CHARS:,} characters")
        UPDATES.check(self.step, "init step")
        if not isinstance(self.params_sha256, str) or len(self.params_sha256) != 64 or \
                any(c not in "0123456789abcdef" for c in self.params_sha256):
            raise ConfigError("init params_sha256 must be 64 lowercase hex digits")
        if not isinstance(self.stages, tuple) or not all(isinstance(c, str) and 0 < len(c) <= INIT_STAGE_CHARS
                                                         for c in self.stages):
            raise ConfigError(f"init stages must be a list of commands of 1 to {INIT_STAGE_CHARS:,} characters")
        INIT_STAGES.check(len(self.stages), "the number of earlier stages")

    def to_dict(self) -> dict:
        return {"checkpoint": self.checkpoint, "step": self.step, "params_sha256": self.params_sha256,
                "stages": list(self.stages)}

    @classmethod
    def from_dict(cls, data: object) -> "InitFrom":
        fields = {"checkpoint", "step", "params_sha256", "stages"}
        if not isinstance(data, dict) or set(data) != fields or not isinstance(data["stages"], (list, tuple)):
            raise ConfigError(f"init must be {{{', '.join(sorted(fields))}}}, got {data!r:.60}")
        return cls(data["checkpoint"], data["step"], data["params_sha256"], tuple(data["stages"]))


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
    # share of each batch's games that strike, once, a cell other than the policy's first choice (exploring starts);
    # only their moves after it are trained on
    explore: float = 0.0
    seed: int = 0
    init: InitFrom | None = None  # start from these parameters (with a fresh optimiser) instead of random ones
    games: int | None = 1_500_000  # budget in games (rounded up to whole updates); None: no games budget
    minutes: float | None = None  # budget in wall-clock minutes of training; None: no time budget

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise ConfigError(f"model must be a ModelConfig, got {self.model!r:.40}")
        if self.init is not None and not isinstance(self.init, InitFrom):
            raise ConfigError(f"init must be an InitFrom, got {self.init!r:.40}")
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
        stays valid if defaults change). Only a games budget is reproducible; a time budget depends on the machine.
        A fine-tuning run's command needs its ``--init`` checkpoint, which the earlier ``stages`` make."""
        budget = f"--games {self.games}" if self.games is not None else f"--minutes {self.minutes:g}"
        init = f" --init {self.init.checkpoint}" if self.init is not None else ""
        explore = f" --explore {self.explore:g}" if self.explore else ""  # older versions lack the option
        return (
            f"planestrike train{init} {budget} --batch-size {self.batch_size} --lr {self.learning_rate:g} "
            f"--gamma {self.gamma:g} --hit-reward {self.hit_reward:g} --miss-reward {self.miss_reward:g} "
            f"--entropy {self.entropy:g} --tried-mass-weight {self.tried_mass_weight:g}{explore} "
            f"--hidden {','.join(str(h) for h in self.model.hidden)} --seed {self.seed}"
        )

    def stages(self, out: str) -> tuple[str, ...]:
        """Every ``planestrike train`` command of the recipe that reproduces this run from scratch, first stage
        first, this run's own last (written to ``out``)."""
        earlier = self.init.stages if self.init is not None else ()
        return (*earlier, f"{self.command()} --out {out}")

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["model"] = self.model.to_dict()
        data["init"] = None if self.init is None else self.init.to_dict()
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
        values = {"tried_mass_weight": 0.0, "explore": 0.0, "init": None, **data}
        if "model" in values:
            values["model"] = ModelConfig.from_dict(values["model"])
        if values["init"] is not None:
            values["init"] = InitFrom.from_dict(values["init"])
        if values.get("games", cls.games) is None and values.get("minutes") is None:
            raise ConfigError("games and minutes are both unset: a run needs a budget")
        return cls(**values)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


# Field -> range; ``games`` and ``minutes`` may also be None (no such budget).
RANGES: dict[str, WholeRange | NumberRange] = {
    "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE, "gamma": GAMMA, "hit_reward": REWARD,
    "miss_reward": REWARD, "entropy": ENTROPY, "tried_mass_weight": TRIED_MASS_WEIGHT, "explore": EXPLORE,
    "seed": SEED,
    "games": GAMES, "minutes": MINUTES,
}
