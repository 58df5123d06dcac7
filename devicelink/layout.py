"""Where planestrike keeps things on a phone. Shared by the desktop side and the virtual phone."""

DEVICE_TMP = "/data/local/tmp"  # the one directory `adb shell` can write to and execute from on every phone
DEVICE_DIR = f"{DEVICE_TMP}/planestrike"
MODELS_DIR = f"{DEVICE_DIR}/models"  # pushed models, named by the sha256 of their bytes: <sha256>.tflite
WORK_DIR = f"{DEVICE_DIR}/work"  # per-move input and output files of the benchmark_model runner
BENCHMARK_MODEL = f"{DEVICE_DIR}/benchmark_model"
PERSISTENT_RUNNER = f"{DEVICE_DIR}/planestrike_runner"
