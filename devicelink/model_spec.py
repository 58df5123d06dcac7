"""What a runner needs to know about a .tflite model: its input tensor's name, shape and size, its output size.

Read on the desktop from the local file (a model the user chose), never from anything the phone sent, and checked
exactly as ``eval --agent tflite:FILE`` checks it (``training.litert_model``'s safe loader, then a run in a child
process) before anything goes to a phone: a damaged file is one ModelFileError, never a native crash here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    path: Path
    input_name: str
    input_shape: tuple[int, ...]  # concrete: a dynamic batch dimension is 1, as the runners feed one board
    output_shape: tuple[int, ...]

    @property
    def input_bytes(self) -> int:
        return _count(self.input_shape) * 4

    @property
    def output_bytes(self) -> int:
        return _count(self.output_shape) * 4

    @property
    def shape_text(self) -> str:
        return ",".join(str(n) for n in self.input_shape)


def _count(shape: tuple[int, ...]) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


def read_model_spec(path: Path) -> ModelSpec:
    """The model's tensors, once it passed every check of the safe loader; raises ModelFileError otherwise."""
    from training.litert_model import read_policy

    _, info = read_policy(path)  # one float32 board of 64 cells in, 64 float32 probabilities out, runs in LiteRT
    (source,), (result,) = info.inputs, info.outputs
    return ModelSpec(Path(path), source.name, _one_board(source.shape), _one_board(result.shape))


def _one_board(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if n == -1 else n for n in shape)
