"""Flax checkpoint -> .tflite: jax2tf, the TFLite converter, an ops check, the parity gate, an atomic write.

The path is the current one, with no deprecated flags: ``jax2tf.convert(apply)`` (native serialization, the
only mode left), wrapped in a ``tf.function`` whose input signature is ``[1, 8, 8]`` float32 named ``input`` (the
seed's name), then ``TFLiteConverter.from_concrete_functions``. Only TFLite builtin ops are accepted.

Nothing is written until the converted model has passed the parity gate (``training.parity``) from a temporary
directory; then the model and its sidecar JSON are each written to a temp name, fsynced and renamed. A failed gate
leaves the previous model untouched, unless ``force`` is set, which keeps the failing model and says so loudly.

TensorFlow (3.5 s to import) is imported here only, inside ``to_tflite``, with its start-up noise silenced.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import platform
import stat
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from assets import BUNDLED_CHECKPOINT, OFFICIAL_APP_DIR
from engine.errors import PlanestrikeError
from engine.files import check_writable
from training.litert_model import TFLITE_IDENTIFIER, ModelInfo
from training.parity import THRESHOLDS, ParityConfig, ParityReport, ParityThresholds, compare_probabilities, game_boards

if TYPE_CHECKING:
    from training.model import ModelConfig  # Flax: imported by whoever built the params

Quantization = Literal["none", "float16", "dynamic-int8"]
QUANTIZATIONS: tuple[str, ...] = ("none", "float16", "dynamic-int8")
INPUT_NAME = "input"
MODEL_NAME = "planestrike.tflite"
# The default file name of each mode, so that converting the same checkpoint in every mode keeps all three side by
# side instead of overwriting one model with another (float32 keeps the historical name).
_VARIANT_NAMES = {"none": MODEL_NAME, "float16": "planestrike.float16.tflite", "dynamic-int8": "planestrike.int8.tflite"}


class ConversionError(PlanestrikeError):
    """The checkpoint could not be turned into a model this project will ship."""

    exit_code = 1


class ParityError(ConversionError):
    """The converted model does not answer like the Flax model: nothing was written."""


@dataclass(frozen=True)
class ConvertConfig:
    checkpoint: Path = BUNDLED_CHECKPOINT  # a checkpoint file, or a directory holding checkpoint.msgpack
    out: Path | None = None  # None: variant_name(quantize) next to the checkpoint
    quantize: Quantization = "none"
    force: bool = False  # keep a model that fails the parity gate (with a warning)
    parity: ParityConfig = field(default_factory=ParityConfig)

    def output_path(self) -> Path:
        if self.out is not None:
            return Path(self.out)
        from training.checkpoint import checkpoint_file  # imports Flax: only when needed

        return checkpoint_file(self.checkpoint).parent / variant_name(self.quantize)

    def thresholds(self) -> ParityThresholds:
        return self.parity.thresholds or THRESHOLDS[self.quantize]


@dataclass(frozen=True)
class ConvertReport:
    model: Path
    sidecar: Path
    metadata: dict  # exactly what the sidecar holds
    parity: ParityReport
    forced: bool  # True when the gate failed and --force kept the model anyway
    seconds: float
    unchanged: bool = False  # the model and sidecar already on disk were identical: nothing was written

    def to_dict(self) -> dict:
        return {"model": str(self.model), "sidecar": str(self.sidecar), "passed": self.parity.passed,
                "forced": self.forced, "unchanged": self.unchanged, "seconds": round(self.seconds, 3), **self.metadata}


def variant_name(quantize: Quantization = "none") -> str:
    """The default model file name for a quantization mode: ``planestrike.tflite`` (float32),
    ``planestrike.float16.tflite``, ``planestrike.int8.tflite`` (dynamic-range int8)."""
    if quantize not in _VARIANT_NAMES:
        raise ConversionError(f"unknown quantization {quantize!r}: use one of {', '.join(QUANTIZATIONS)}")
    return _VARIANT_NAMES[quantize]


def sidecar_path(model: Path) -> Path:
    return model.with_name(model.name + ".json")


def convert_checkpoint(config: ConvertConfig) -> ConvertReport:
    """Convert ``config.checkpoint``; write the model and its sidecar only if the gate passes (or ``force``)."""
    start = time.perf_counter()
    from training.checkpoint import checkpoint_file, load_policy

    source = checkpoint_file(config.checkpoint)
    check_output_path(config.output_path(), source, config.force)  # before seconds of loading, not after
    model_config, params = load_policy(source)
    return convert_policy(model_config, params, config, source=source, start=start)


def check_output_path(out: Path, source: Path | None = None, force: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written or would destroy something: the checkpoint
    being converted (never, even with ``force``), a device or FIFO, or an existing file that is not a TFLite
    model (unless ``force``)."""
    out = Path(out)
    if out.is_dir():
        raise PlanestrikeError(f"--out {out} is a directory: give a file name such as {out / MODEL_NAME}")
    if not out.parent.is_dir():
        raise PlanestrikeError(f"cannot write {out}: directory {out.parent} does not exist")
    if out.resolve().is_relative_to(OFFICIAL_APP_DIR.resolve()):
        raise PlanestrikeError(f"--out {out} is in {OFFICIAL_APP_DIR}, the official app's reference models, which "
                               "planestrike never changes: choose another --out")
    for target in (out, sidecar_path(out)):
        if source is not None and target.exists() and source.exists() and os.path.samefile(target, source):
            raise PlanestrikeError(f"--out {out} would overwrite the checkpoint it converts ({source}): choose "
                                   "another name")
    for target, what in ((out, "a .tflite file"), (sidecar_path(out), "its metadata sidecar")):
        if target.exists() and not stat.S_ISREG(os.stat(target).st_mode):
            raise PlanestrikeError(f"{'--out ' if target == out else ''}{target} exists and is not a regular file: "
                                   f"it cannot be replaced by {what}; choose another --out")
    if out.exists() and not force and not _is_tflite(out):  # (a regular file: reading 8 bytes cannot block)
        raise PlanestrikeError(f"--out {out} exists and is not a TFLite model: choose another name, or add "
                               "--force to replace it")
    for target in (out, sidecar_path(out)):
        try:  # the real test (permissions, read-only or virtual file systems such as /proc, over-long names)
            check_writable(target)
        except OSError as error:
            raise PlanestrikeError(f"cannot write {target}: {error.strerror or error}; choose another --out") from None


def _is_tflite(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(8)[4:8] == TFLITE_IDENTIFIER
    except OSError:
        return False


def convert_policy(model_config: ModelConfig, params, config: ConvertConfig, *, source: Path | None = None,
                   start: float | None = None) -> ConvertReport:
    """Convert in-memory ``params`` (a checkpoint's, or fresh ones in tests) and write per ``config``."""
    from engine.files import write_atomically
    from training.flax_agent import BrokenPolicy
    from training.litert_agent import LiteRTAgent
    from training.litert_model import ModelFileError, read_model

    start = time.perf_counter() if start is None else start
    out = config.output_path()
    check_output_path(out, source, config.force)

    data = to_tflite(model_config, params, config.quantize)
    with tempfile.TemporaryDirectory(prefix="planestrike-convert-") as scratch:
        candidate = Path(scratch) / out.name
        candidate.write_bytes(data)
        try:
            check_builtin_ops(read_model(candidate)[1])
            agent = LiteRTAgent(candidate)  # the same safe loader every user of the model goes through
        except ModelFileError as error:  # name what was converted, not the temporary file
            raise ConversionError(f"the model converted from {source or 'these parameters'} is unusable: "
                                  f"{error.problem}; {out} was left untouched") from None
        try:
            parity = run_parity_gate(agent, model_config, params, config)
            skill = _exact_mean(agent)
        except (BrokenPolicy, ModelFileError) as error:  # NaN out of either network: nothing to judge or ship
            raise ConversionError(f"cannot convert {source or 'these parameters'}: "
                                  f"{getattr(error, 'problem', None) or error}; {out} was left untouched") from None
        info = agent.info
        agent.close()

    forced = not parity.passed
    if forced and not config.force:
        raise ParityError(
            f"the converted model fails the parity gate ({config.quantize}): {'; '.join(parity.failures())}; "
            f"{out} was left untouched (use --force to keep the model anyway)"
        )
    metadata = {
        "sha256": info.sha256,
        "bytes": info.size,
        # Relative to the model's directory, so the bundled pair stays valid wherever the package is installed.
        "source_checkpoint": None if source is None else {"path": os.path.relpath(source, out.parent),
                                                          "sha256": _sha256_file(source)},
        "model_config": model_config.to_dict(),
        "quantization": config.quantize,
        "ops": list(info.ops),
        "inputs": [t.to_dict() for t in info.inputs],
        "outputs": [t.to_dict() for t in info.outputs],
        "parity": parity.to_dict(),
        "eval": {"exact_mean_strikes": skill, "placements": "uniform",
                 "how": "masked argmax, each of the 120 placements once"},
        "tools": tool_versions(),  # after to_tflite, so TensorFlow is imported and reports its own version
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    sidecar = sidecar_path(out)
    previous = _same_model(out, data, metadata)
    unchanged = previous is not None
    if unchanged:  # the same bytes, described the same way: leave both files (and their dates) as they are
        metadata = previous
    else:
        # Model first, then its sidecar: a crash in between leaves a sidecar whose sha256 no longer matches, which
        # is detectable, rather than a sidecar describing a model that was never written.
        write_atomically(out, data)
        write_atomically(sidecar, (json.dumps(metadata, indent=2) + "\n").encode())
    return ConvertReport(out, sidecar, metadata, parity, forced, time.perf_counter() - start, unchanged)


# Sidecar fields that say what a model is and where it came from. When a reconversion gives the same bytes with
# the same identity, the files are left alone, with their first measurements (parity, skill), tools and date: a
# bare `planestrike convert` in a checkout must not dirty it, and parity's last digits differ between CPUs.
_IDENTITY = ("sha256", "bytes", "source_checkpoint", "model_config", "quantization", "ops", "inputs", "outputs")


def _same_model(out: Path, data: bytes, metadata: dict) -> dict | None:
    """The sidecar already on disk, if ``out`` holds these very bytes and the sidecar gives them this identity."""
    from engine.files import UnreadableFile, read_small_file

    try:
        if read_small_file(out, len(data), "TFLite model") != data:
            return None
        previous = json.loads(read_small_file(sidecar_path(out), 1 << 20, "sidecar"))
    except (UnreadableFile, ValueError):
        return None
    identity = lambda record: [record.get(name) for name in _IDENTITY]  # noqa: E731
    same = isinstance(previous, dict) and identity(previous) == identity(json.loads(json.dumps(metadata)))
    return previous if same else None


def run_parity_gate(agent, model_config: ModelConfig, params, config: ConvertConfig) -> ParityReport:
    """Flax and the converted model on the same boards from real games; the report says what differed."""
    from training.flax_agent import FlaxAgent

    boards = game_boards(config.parity.boards, config.parity.seed)
    reference = FlaxAgent(model_config, params).probabilities_batch(boards)
    candidate = np.stack([agent.probabilities(board) for board in boards])  # NaN stays in: the gate judges it
    return compare_probabilities(reference, candidate, boards, config.thresholds())


def check_builtin_ops(info: ModelInfo) -> None:
    """Refuse Flex (Select TF) and custom ops: the phone app and LiteRT's default runtime have builtins only."""
    if info.custom_ops:
        flex = [op for op in info.custom_ops if op.startswith("Flex")]
        why = "they need the Select TF ops runtime" if flex else "LiteRT would need them registered by hand"
        raise ConversionError(f"the converted model uses non-builtin ops {', '.join(info.custom_ops)} ({why}); "
                              f"its ops: {', '.join(info.ops)}")


def to_tflite(model_config: ModelConfig, params, quantize: Quantization = "none") -> bytes:
    """The .tflite flatbuffer of ``model_config`` with ``params``: input ``[1, 8, 8]`` float32, output ``[1, 64]``."""
    if quantize not in QUANTIZATIONS:
        raise ConversionError(f"unknown quantization {quantize!r}: use one of {', '.join(QUANTIZATIONS)}")
    tf, jax2tf = import_tensorflow()
    module = model_config.build()
    frozen = {"params": params}

    def policy(boards):
        return module.apply(frozen, boards)

    signature = [tf.TensorSpec([1, 8, 8], tf.float32, name=INPUT_NAME)]
    tf_policy = tf.function(jax2tf.convert(policy), input_signature=signature, autograph=False)
    concrete = tf_policy.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], tf_policy)
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic-int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative dataset: dynamic-range int8
    try:
        with _quiet_tensorflow():
            return bytes(converter.convert())
    except Exception as error:  # the converter raises ConverterError and assorted others, all with a message
        first = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise ConversionError(f"the TFLite converter failed: {first.strip()}") from None


def import_tensorflow():
    # Set before the import: TensorFlow reads it once, when its C++ runtime starts. On CPUs where it enables oneDNN
    # (AVX-512 ones), TensorFlow 2.21 logs that through absl before any log level applies, so the import itself
    # runs with native stderr hidden; an import failure still arrives as a Python exception.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _quiet_tensorflow():
        import tensorflow as tf
        from jax.experimental import jax2tf
    tf.get_logger().setLevel("ERROR")
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    return tf, jax2tf


@contextlib.contextmanager
def _quiet_tensorflow():
    """The MLIR converter logs through C++ to stderr whatever TF_CPP_MIN_LOG_LEVEL says; its errors arrive as
    exceptions, so nothing the user needs is lost."""
    from training.litert_model import quiet_native_stderr

    with warnings.catch_warnings(), quiet_native_stderr():
        warnings.simplefilter("ignore")
        yield


def _exact_mean(agent) -> float:
    from engine.evaluation import evaluate

    return round(evaluate(agent, exact=True).mean_strikes, 6)


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tool_versions() -> dict:
    import tensorflow as tf  # already imported by to_tflite; its distribution is tensorflow or tensorflow-cpu

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__}
    for package in ("planestrike", "jax", "flax", "ai-edge-litert", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            versions[package] = version(package)
    return versions
