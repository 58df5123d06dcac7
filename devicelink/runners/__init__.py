"""Programs that evaluate the model on the phone, one board per call, and the checks on what they send back.

Two runners share one contract (``evaluate(input_bytes) -> Evaluation``): ``benchmark_model`` (the classic TFLite
tool, one process per move) and ``persistent`` (docs/device-protocol.md, one process per game). What comes back
from a phone is untrusted: ``decode_probabilities`` accepts exactly 64 finite float32 values and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devicelink.errors import RunnerError


@dataclass(frozen=True)
class Evaluation:
    probabilities: np.ndarray  # float32[64]
    latency_us: float | None  # inference time the phone reported, if it did


def decode_probabilities(raw: bytes, expected_bytes: int, source: str) -> np.ndarray:
    if len(raw) != expected_bytes:
        raise RunnerError(f"{source} returned {len(raw)} bytes instead of {expected_bytes} "
                          f"({expected_bytes // 4} float32 values)")
    values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not np.isfinite(values).all():
        raise RunnerError(f"{source} returned {int((~np.isfinite(values)).sum())} NaN or infinite values")
    return values
