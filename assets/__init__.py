"""The bundled trained agent, installed with the package so `planestrike` works with nothing to set up, and the
official Android app's models as reference data (``official_app/``, Apache 2.0, see its README).

Reproduce the trained files with the command recorded in ``eval_report.json`` (see docs/training.md).
"""

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
BUNDLED_CHECKPOINT = ASSETS_DIR / "checkpoint.msgpack"  # Flax params, optimiser state and config
BUNDLED_TFLITE = ASSETS_DIR / "planestrike.tflite"  # its jax2tf -> TFLite conversion
BUNDLED_TFLITE_METADATA = ASSETS_DIR / "planestrike.tflite.json"  # sidecar written by `planestrike convert`
# The same checkpoint converted with `planestrike convert --quantize float16` and `--quantize dynamic-int8`, each
# beside its own sidecar (MODEL.json): the agent specs `tflite:float16` and `tflite:int8`.
BUNDLED_TFLITE_FLOAT16 = ASSETS_DIR / "planestrike.float16.tflite"
BUNDLED_TFLITE_INT8 = ASSETS_DIR / "planestrike.int8.tflite"
BUNDLED_EVAL_REPORT = ASSETS_DIR / "eval_report.json"  # exact skill, command, seed, date, git revision

OFFICIAL_APP_DIR = ASSETS_DIR / "official_app"
OFFICIAL_APP_MODEL = OFFICIAL_APP_DIR / "planestrike_tf.tflite"  # the app's Keras policy: the agent spec `app`
OFFICIAL_APP_MODEL_SHA256 = "403c809fd130cfa4b191076328abd5363dc446f94a3cbba54cb7da21a7762f2d"  # as published
OFFICIAL_APP_TF_AGENTS_MODEL = OFFICIAL_APP_DIR / "planestrike_tf_agents.tflite"  # Flex ops, an action out: refused
