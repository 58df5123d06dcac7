"""Training checkpoints: one msgpack file holding params, optimiser state, step, RNG key, config and metrics.

Written atomically (temp file in the same directory, fsync, rename, fsync the directory), so a kill at any instant
leaves the previous checkpoint loadable. A version 2 file is ``{format, version, sha256, body}``: the body (the
msgpack of everything else) is checked against its sha256 before it is decoded, so a flipped bit is reported, not
trained on. Version 1 files (no checksum) still load.

Nothing in a file is trusted: every way one can be wrong (missing, not a regular file, over the size limit,
truncated, not msgpack, another format or version, a checksum that does not match, a config outside the ranges
``train`` accepts, parameters that do not fit the model it declares or are not finite, a step or key of the wrong
type) raises ``CheckpointError`` naming the file and the field.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import PlanestrikeError
from engine.files import UnreadableFile, read_small_file, write_atomically
from engine.limits import MAX_POLICY_FILE_BYTES, NumberRange, OutOfRange, WholeRange
from training.config import UPDATES, ModelConfig, TrainConfig

CHECKPOINT_NAME = "checkpoint.msgpack"  # the latest state of a run: what --resume and flax:DIR read
BEST_NAME = "best.msgpack"  # the run's best exactly-evaluated state: what gets bundled
FORMAT = "planestrike-checkpoint"
VERSION = 2  # written; READABLE lists every version this code loads
READABLE = (1, 2)
GAMES_PLAYED = WholeRange(0, 2**62)
# The metrics a run records, with the values they can take; others must be finite numbers.
METRICS = {"eval_exact": NumberRange(8, 64), "best_exact": NumberRange(8, 64), "best_step": UPDATES,
           "elapsed_s": NumberRange(0, 1e9)}


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
    body = {
        "config": checkpoint.config.to_dict(),
        "step": int(checkpoint.step),
        "games": int(checkpoint.games),
        "rng_key": np.asarray(checkpoint.rng_key, dtype=np.uint32),
        "metrics": dict(checkpoint.metrics),
        "params": serialization.to_state_dict(_to_numpy(checkpoint.params)),
        "opt_state": None if checkpoint.opt_state is None else serialization.to_state_dict(_to_numpy(checkpoint.opt_state)),
    }
    body = serialization.msgpack_serialize(body)
    data = serialization.msgpack_serialize(
        {"format": FORMAT, "version": VERSION, "sha256": hashlib.sha256(body).hexdigest(), "body": body})
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
        step, games = UPDATES.check(record.get("step")), GAMES_PLAYED.check(record.get("games"))
    except OutOfRange as error:
        raise CheckpointError(f"checkpoint {file} is corrupt: its step or game count {error}") from None
    rng_key = record.get("rng_key")
    if not (isinstance(rng_key, np.ndarray) and rng_key.shape == (2,) and rng_key.dtype == np.uint32):
        raise CheckpointError(f"checkpoint {file} is corrupt: its rng_key is not two uint32 words")
    return Checkpoint(params, opt_state, step, games, rng_key, config, _metrics(file, record), file)


def load_policy(path: str | os.PathLike) -> tuple[ModelConfig, dict]:
    """Just what an agent needs from a checkpoint: its model shape and parameters (validated)."""
    model, params, _ = load_policy_and_sha256(path)
    return model, params


def load_policy_and_sha256(path: str | os.PathLike) -> tuple[ModelConfig, dict, str]:
    """``load_policy``, plus the sha256 of the file's bytes as read: the identity a converted model's sidecar
    records as ``source_checkpoint.sha256`` (hashing the bytes already in memory costs well under a millisecond)."""
    file = checkpoint_file(path)
    data = _read_bytes(file)
    record = _read_record(file, data)
    config = _config(file, record)
    return config.model, _params(file, record, config.model), hashlib.sha256(data).hexdigest()


def _read_bytes(file: Path) -> bytes:
    try:
        return read_small_file(file, MAX_POLICY_FILE_BYTES, "checkpoint")
    except UnreadableFile as error:
        if not file.exists() and not file.is_symlink():
            raise CheckpointError(f"checkpoint {file} does not exist: train one with 'planestrike train --out DIR'") from None
        raise CheckpointError(f"checkpoint {error}") from None


def _read_record(file: Path, data: bytes | None = None) -> dict:
    """The checkpoint's fields, from a file that is what it claims to be (format, version, checksum)."""
    record = _unpack(file, _read_bytes(file) if data is None else data)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a planestrike checkpoint (no '{FORMAT}' header)")
    version = record.get("version")
    if type(version) is not int or version not in READABLE:  # (True == 1 in Python)
        raise CheckpointError(
            f"checkpoint {file} has format version {version!r:.20}, this planestrike reads versions "
            f"{', '.join(map(str, READABLE))}: retrain it with this version's 'planestrike train'"
        )
    if version == 1:  # no checksum: the fields are the record itself
        return record
    body, digest = record.get("body"), record.get("sha256")
    if not isinstance(body, bytes) or not isinstance(digest, str) or hashlib.sha256(body).hexdigest() != digest:
        raise CheckpointError(f"checkpoint {file} is damaged: its contents do not match the checksum stored with "
                              "them; use an older copy (best.msgpack, a backup) or retrain")
    body = _unpack(file, body)
    if not isinstance(body, dict):
        raise CheckpointError(f"checkpoint {file} is corrupt: its body is not a record")
    return body


def _unpack(file: Path, data: bytes):
    from flax import serialization

    try:
        return serialization.msgpack_restore(data)
    except Exception as error:  # msgpack raises several unrelated types for bad bytes
        raise CheckpointError(
            f"checkpoint {file} is truncated or corrupt ({type(error).__name__}): "
            "use an older copy or retrain with 'planestrike train'"
        ) from None


def _config(file: Path, record: dict) -> TrainConfig:
    """The run's config, held to the same ranges as ``planestrike train``'s options."""
    if "config" not in record:
        raise CheckpointError(f"checkpoint {file} has no training config")
    try:
        return TrainConfig.from_dict(record["config"])
    except (OutOfRange, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {file} has a bad training config: {error}") from None


def _metrics(file: Path, record: dict) -> dict:
    metrics = record.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise CheckpointError(f"checkpoint {file} is corrupt: its metrics are not a mapping")
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CheckpointError(f"checkpoint {file} is corrupt: metric {name!r:.40} is {value!r:.40}, not a "
                                  "finite number")
        try:
            if name in METRICS:
                METRICS[name].check(value, f"metric {name}")
        except OutOfRange as error:
            raise CheckpointError(f"checkpoint {file} is corrupt: {error}") from None
    return dict(metrics)


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
    except (KeyError, TypeError, IndexError, ValueError) as error:
        raise CheckpointError(f"checkpoint {file} does not match its model {model.hidden}: missing {error}") from None
    for (path, spec), value in zip(expected_leaves, found):
        name = jax.tree_util.keystr(path)
        if not isinstance(value, np.ndarray) or value.dtype != np.float32:
            raise CheckpointError(f"checkpoint {file} is corrupt: parameter {name} is not a float32 array")
        if value.shape != spec.shape:
            raise CheckpointError(
                f"checkpoint {file} does not match its model {model.hidden}: {name} has shape "
                f"{value.shape}, expected {spec.shape}"
            )
        if not np.isfinite(value).all():
            raise CheckpointError(f"checkpoint {file} holds NaN or infinite weights in {name}: the run that wrote it "
                                  "diverged; use an earlier checkpoint (best.msgpack) or retrain with a lower --lr")
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
    except Exception as error:  # flax raises assorted types for a structure that does not fit
        raise CheckpointError(f"checkpoint {file} has an optimiser state that does not fit its config: {error}") from None
    for (path, spec), value in zip(jax.tree_util.tree_leaves_with_path(template), jax.tree_util.tree_leaves(restored)):
        if not isinstance(value, np.ndarray) or value.dtype != spec.dtype or value.shape != spec.shape:
            raise CheckpointError(f"checkpoint {file} has an optimiser state that does not fit its model "
                                  f"{config.model.hidden}: {np.asarray(value).dtype}{list(np.shape(value))} where "
                                  f"{spec.dtype}{list(spec.shape)} belongs")
        must_be_positive = value.dtype.kind == "i" or ".nu" in jax.tree_util.keystr(path)  # counts, Adam's 2nd moment
        if not np.isfinite(value).all() or (must_be_positive and (value < 0).any()):
            raise CheckpointError(f"checkpoint {file} has a corrupt optimiser state (NaN, infinite or negative "
                                  "values): use an earlier checkpoint or retrain")
    return jax.tree_util.tree_map(np.asarray, restored)


def _lookup(tree: dict, path) -> Any:
    for entry in path:
        tree = tree[entry.key]
    return tree


def _to_numpy(tree):
    import jax

    return jax.tree_util.tree_map(np.asarray, tree)
