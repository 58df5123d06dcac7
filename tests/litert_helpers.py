"""Shared by the conversion, LiteRT and compare tests: reference models, real conversions, the real CLI."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from assets import OFFICIAL_APP_MODEL, OFFICIAL_APP_TF_AGENTS_MODEL

APP_MODEL = OFFICIAL_APP_MODEL  # the official app's Keras policy (assets/official_app)
TF_AGENTS_MODEL = OFFICIAL_APP_TF_AGENTS_MODEL  # 4 inputs, int32 action, FlexMultinomial
PLANESTRIKE = shutil.which("planestrike", path=str(Path(sys.executable).parent))


def fresh_checkpoint(directory: Path, seed: int = 0, nan: bool = False) -> Path:
    """A real checkpoint (teammate A's format) holding fresh parameters for the reference architecture."""
    import jax
    import numpy as np

    from training.checkpoint import Checkpoint, save_checkpoint
    from training.config import TrainConfig
    from training.model import init_params

    config = TrainConfig()
    params = init_params(config.model, jax.random.PRNGKey(seed))
    if nan:
        params = jax.tree_util.tree_map(lambda x: np.full_like(np.asarray(x), np.nan), params)
    return save_checkpoint(directory, Checkpoint(params, None, 0, 0, np.zeros(2, np.uint32), config))


def run_cli(*args, cache: Path | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    """``planestrike ARGS`` in a real subprocess; ``cache`` isolates the LiteRT probe's verdict cache."""
    env = dict(os.environ)
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.run([PLANESTRIKE, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> str:
    """The CLI failed the documented way: exit ``code``, one ``planestrike[ COMMAND]: error:`` line, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, (result.returncode, result.stderr)
    assert len(lines) == 1 and re.match(r"planestrike( \w+)?: error: ", lines[0]), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def make_test_models(root: str) -> None:
    """Write ours.tflite (fresh params), nan.tflite (NaN weights), flat_input.tflite (a [1,64]-input policy) and
    wrong_shapes.tflite ([1,10] -> [1,3]) into ``root``, all with the real converters."""
    import jax
    import numpy as np

    from training.convert import import_tensorflow, to_tflite
    from training.model import ModelConfig, init_params

    root = Path(root)
    config = ModelConfig()
    params = init_params(config, jax.random.PRNGKey(0))
    nan_params = jax.tree_util.tree_map(lambda x: np.full_like(np.asarray(x), np.nan), params)
    (root / "ours.tflite").write_bytes(to_tflite(config, params))
    (root / "nan.tflite").write_bytes(to_tflite(config, nan_params))

    tf, _ = import_tensorflow()

    def tf_model(name: str, input_shape: list[int], outputs: int) -> None:
        weights = tf.constant(np.random.default_rng(0).normal(size=(int(np.prod(input_shape)), outputs)), tf.float32)

        @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32, name="board")], autograph=False)
        def policy(x):
            return tf.nn.softmax(tf.reshape(x, [1, -1]) @ weights)

        converter = tf.lite.TFLiteConverter.from_concrete_functions([policy.get_concrete_function()], policy)
        (root / name).write_bytes(converter.convert())

    tf_model("flat_input.tflite", [1, 64], 64)  # another layout of the same 64 cells: must play
    tf_model("wrong_shapes.tflite", [1, 10], 3)  # not a Plane Strike policy
