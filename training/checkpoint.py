"""Training checkpoints: one msgpack file holding params, optimiser state, step, RNG key, config and metrics.

Written atomically (temp file in the same directory, fsync, rename, fsync the directory), so a kill at any instant
leaves the previous checkpoint loadable. Every way a file can be wrong (missing, truncated, not msgpack, another
format, another version, parameters that do not fit the model it declares) raises ``CheckpointError`` naming the
file and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import PlanestrikeError
from engine.files import write_atomically
from training.config import TrainConfig
from training.config import ModelConfig

CHECKPOINT_NAME = "checkpoint.msgpack"  # the latest state of a run: what --resume and flax:DIR read
BEST_NAME = "best.msgpack"  # the run's best exactly-evaluated state: what gets bundled
FORMAT = "planestrike-checkpoint"
VERSION = 1


class CheckpointError(PlanestrikeError):
    """A checkpoint that cannot be read or used; the message names the file."""


@dataclass
class Checkpoint:
    params: Any  # flax params: nested dict of arrays
    opt_state: Any  # optax state (None in a checkpoint saved without it)
    step: int  # updates done
    games: int  # games played
    rng_key: np.ndarray  # uint32 [2]: the run's base key (update k uses fold_in(rng_key, k))
    config: TrainConfig
    metrics: dict = field(default_factory=dict)  # e.g. eval_exact, elapsed_s, mean_length
    path: Path | None = None  # where it was loaded from or saved to


def checkpoint_file(path: str | os.PathLike) -> Path:
    """A checkpoint directory means the ``checkpoint.msgpack`` inside it; a file path means itself."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def save_checkpoint(directory: str | os.PathLike, checkpoint: Checkpoint, name: str = CHECKPOINT_NAME) -> Path:
    """Write ``directory/name`` atomically and return its path."""
    from flax import serialization

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "format": FORMAT,
        "version": VERSION,
        "config": checkpoint.config.to_dict(),
        "step": int(checkpoint.step),
        "games": int(checkpoint.games),
        "rng_key": np.asarray(checkpoint.rng_key, dtype=np.uint32),
        "metrics": dict(checkpoint.metrics),
        "params": serialization.to_state_dict(_to_numpy(checkpoint.params)),
        "opt_state": None if checkpoint.opt_state is None else serialization.to_state_dict(_to_numpy(checkpoint.opt_state)),
    }
    data = serialization.msgpack_serialize(record)
    target = directory / name
    write_atomically(target, data)
    checkpoint.path = target
    return target


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and validate a checkpoint (a directory containing ``checkpoint.msgpack``, or the file itself)."""
    file = checkpoint_file(path)
    record = _read_record(file)
    config = _config(file, record)
    params = _params(file, record, config.model)
    opt_state = record.get("opt_state")
    if opt_state is not None:
        opt_state = _restore_opt_state(file, opt_state, config, params)
    try:
        rng_key = np.asarray(record["rng_key"], dtype=np.uint32).reshape(2)
        step, games = int(record["step"]), int(record["games"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {file} is corrupt: bad step, games or rng_key ({error})") from None
    return Checkpoint(params, opt_state, step, games, rng_key, config, dict(record.get("metrics") or {}), file)


def load_policy(path: str | os.PathLike) -> tuple[ModelConfig, dict]:
    """Just what an agent needs from a checkpoint: its model shape and parameters (validated)."""
    file = checkpoint_file(path)
    record = _read_record(file)
    config = _config(file, record)
    return config.model, _params(file, record, config.model)


def _read_record(file: Path) -> dict:
    from flax import serialization

    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {file} does not exist: train one with 'planestrike train --out DIR'") from None
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {file}: {error.strerror}") from None
    try:
        record = serialization.msgpack_restore(data)
    except Exception as error:  # msgpack raises several unrelated types for bad bytes
        raise CheckpointError(
            f"checkpoint {file} is truncated or corrupt ({type(error).__name__}): "
            "use an older copy or retrain with 'planestrike train'"
        ) from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a planestrike checkpoint (no '{FORMAT}' header)")
    if record.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {file} has format version {record.get('version')!r}, this planestrike reads version "
            f"{VERSION}: retrain it with this version's 'planestrike train'"
        )
    return record


def _config(file: Path, record: dict) -> TrainConfig:
    try:
        return TrainConfig.from_dict(record["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {file} has an unreadable training config: {error}") from None


def _params(file: Path, record: dict, model: ModelConfig) -> dict:
    """The checkpoint's params, checked leaf by leaf against the shapes its model config implies."""
    import jax

    from training.model import init_params

    expected = jax.eval_shape(lambda: init_params(model, jax.random.PRNGKey(0)))
    params = record.get("params")
    if not isinstance(params, dict):
        raise CheckpointError(f"checkpoint {file} has no parameters")
    expected_leaves = jax.tree_util.tree_leaves_with_path(expected)
    try:
        found = [_lookup(params, path) for path, _ in expected_leaves]
    except KeyError as error:
        raise CheckpointError(f"checkpoint {file} does not match its model {model.hidden}: missing {error}") from None
    for (path, spec), value in zip(expected_leaves, found):
        if np.shape(value) != spec.shape:
            raise CheckpointError(
                f"checkpoint {file} does not match its model {model.hidden}: {jax.tree_util.keystr(path)} has shape "
                f"{np.shape(value)}, expected {spec.shape}"
            )
    if len(jax.tree_util.tree_leaves(params)) != len(expected_leaves):
        raise CheckpointError(f"checkpoint {file} has parameters its model {model.hidden} does not use")
    return jax.tree_util.tree_map(np.asarray, params)


def _restore_opt_state(file: Path, state_dict: Any, config: TrainConfig, params: dict):
    """The optimiser state, restored into the structure its config's optimiser has, leaf shapes checked."""
    import jax
    from flax import serialization

    from training.learner import make_optimizer

    template = jax.eval_shape(make_optimizer(config).init, params)  # structure and shapes only, no computation
    try:
        restored = serialization.from_state_dict(template, state_dict)
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {file} has an optimiser state that does not fit its config: {error}") from None
    for spec, value in zip(jax.tree_util.tree_leaves(template), jax.tree_util.tree_leaves(restored)):
        if np.shape(value) != spec.shape:
            raise CheckpointError(f"checkpoint {file} has an optimiser state that does not fit its model "
                                  f"{config.model.hidden}: shape {np.shape(value)}, expected {spec.shape}")
    return jax.tree_util.tree_map(np.asarray, restored)


def _lookup(tree: dict, path) -> Any:
    for entry in path:
        tree = tree[entry.key]
    return tree


def _to_numpy(tree):
    import jax

    return jax.tree_util.tree_map(np.asarray, tree)
