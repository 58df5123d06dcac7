"""Fine-tuning: a run that starts from a checkpoint's parameters instead of random ones (``planestrike train
--init CHECKPOINT``).

The starting point is recorded in the run's config (``training.config.InitFrom``): the file as given, the update of
that snapshot, the sha256 of its parameters and the commands that made it from scratch. So every checkpoint of a
fine-tuning run carries its whole recipe (``TrainConfig.stages``): a model made in several stages stays
reproducible from scratch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from training.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from training.config import INIT_STAGES, InitFrom, TrainConfig


def params_sha256(params) -> str:
    """sha256 of the parameters' float32 bytes, leaf by leaf in the tree's order: the same numbers give the same
    digest whatever file holds them (a checkpoint's own bytes also hold its training time)."""
    import jax

    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(params):
        digest.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
    return digest.hexdigest()


def init_from(path: str | Path) -> tuple[InitFrom, Checkpoint]:
    """What a run started from ``path`` records, and the checkpoint itself (its params are the starting point)."""
    checkpoint = load_checkpoint(path)
    source = checkpoint.config
    if source.games is None:
        raise CheckpointError(f"{checkpoint.path} was trained with a time budget, which no command reproduces: "
                              "fine-tune from a run trained with --games N")
    earlier = source.stages(str(Path(path).parent if checkpoint.path == Path(path) else Path(path)))
    if len(earlier) > INIT_STAGES.high:
        raise CheckpointError(f"{checkpoint.path} is already stage {len(earlier)} of a recipe; a recipe has at most "
                              f"{INIT_STAGES.high} stages")
    return InitFrom(str(path), checkpoint.step, params_sha256(checkpoint.params), earlier), checkpoint


def fine_tuning_config(requested: TrainConfig, init: InitFrom, source: Checkpoint, model_given: bool) -> TrainConfig:
    """``requested`` starting from ``source``: its model shape unless one was given, which must then match."""
    if model_given and requested.model != source.config.model:
        raise CheckpointError(f"cannot start from {source.path}: its network is {list(source.config.model.hidden)}, "
                              f"not {list(requested.model.hidden)}; drop --hidden to take its shape")
    return requested.replace(model=source.config.model, init=init)
