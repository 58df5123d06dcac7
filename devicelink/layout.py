"""Where planestrike keeps things on a phone. Shared by the desktop side and the virtual phone."""

DEVICE_TMP = "/data/local/tmp"  # the one directory `adb shell` can write to and execute from on every phone
DEVICE_DIR = f"{DEVICE_TMP}/planestrike"
MODELS_DIR = f"{DEVICE_DIR}/models"  # pushed models, named by the sha256 of their bytes: <sha256>.tflite
WORK_DIR = f"{DEVICE_DIR}/work"  # per-move input and output files of the benchmark_model runner
BENCHMARK_MODEL = f"{DEVICE_DIR}/benchmark_model"
# The LiteRT runtime `planestrike device setup --runtime` installs: RUNTIME_DIR/<hash>/ holds the persistent runner,
# libLiteRt.so, the glibc it runs on and `start`, the shell script that launches it; RUNTIME_CURRENT names the hash
# of the one in use (written last, so a half-installed runtime is never used).
RUNTIME_DIR = f"{DEVICE_DIR}/runtime"
RUNTIME_CURRENT = f"{RUNTIME_DIR}/current"
RUNTIME_START = "start"
