"""What a runner needs to know about a .tflite model: its input tensor's name, shape and size, its output size.

Read on the desktop from the local file (a model the user chose), never from anything the phone sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devicelink.errors import DeviceError

BOARD_CELLS = 64


@dataclass(frozen=True)
class ModelSpec:
    path: Path
    input_name: str
    input_shape: tuple[int, ...]
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
    """The model's tensors; raises DeviceError unless it maps one float32 board of 64 cells to 64 float32s."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
    except (ValueError, RuntimeError, OSError) as error:
        raise DeviceError(f"cannot load the model {path}: {str(error).splitlines()[0]}") from None
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise DeviceError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs: a Plane Strike model has one of each")
    source, result = inputs[0], outputs[0]
    spec = ModelSpec(Path(path), source["name"], tuple(int(n) for n in source["shape"]),
                     tuple(int(n) for n in result["shape"]))
    if (np.dtype(source["dtype"]) != np.float32 or np.dtype(result["dtype"]) != np.float32
            or _count(spec.input_shape) != BOARD_CELLS or _count(spec.output_shape) != BOARD_CELLS):
        raise DeviceError(f"{path} maps {source['dtype'].__name__}{list(spec.input_shape)} to "
                          f"{result['dtype'].__name__}{list(spec.output_shape)}: a Plane Strike model maps one float32 "
                          f"board of 64 cells to 64 float32 probabilities")
    return spec
