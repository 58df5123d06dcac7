"""Per-layer parity: where a converted model's numbers leave the Flax model's, layer by layer.

``planestrike compare --layers`` runs each .tflite agent once more with LiteRT's
``experimental_preserve_all_tensors=True``, which keeps every intermediate tensor readable after ``invoke()``,
and compares each layer's output with the same layer of the Flax model (``FlaxAgent.layer_outputs``: each hidden
Dense layer after its ReLU, the logits, the softmax), on the same boards.

Layers are found by the graph's structure, never by tensor names (the converter's names change with the
quantization mode: float16 adds DEQUANTIZE ops and renames tensors, int8 keeps int8 weights inside the op):

1. the ops on the board's path are those that read the model's input or a tensor another such op wrote
   (DEQUANTIZE ops that only unpack weights are not on it);
2. each FULLY_CONNECTED op on that path starts a Dense layer, in order, and the SOFTMAX op starts the softmax;
3. a layer's output is the tensor written by the last op on the path before the next layer starts (the FC
   itself when the ReLU is fused into it, as TFLite does; a separate RELU if a converter wrote one);
4. its size per board must equal the Flax layer's width, else the models are not comparable.

A layer output stored quantized (a full-int8 model) is dequantized with its scale and zero point before comparing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import PlanestrikeError
from training.litert_model import ModelInfo, open_interpreter, read_policy


class LayerMatchError(PlanestrikeError):
    """A .tflite model whose layers cannot be paired with the Flax model's."""


@dataclass(frozen=True)
class GraphLayer:
    name: str  # as the Flax model names it: "dense_0", "dense_1", "logits", "softmax"
    node_id: str  # the op's position in the graph's op list: also its node id in Model Explorer
    op: str  # the op that writes it: "FULLY_CONNECTED", "SOFTMAX"...
    tensor: int  # the index of the tensor it writes


@dataclass(frozen=True)
class LayerDiff:
    agent: str  # the spec, as given to --agents
    reference: str  # the spec of the Flax agent it is compared with
    same_checkpoint: bool | None  # converted from the reference's checkpoint? None: the model's sidecar does not say
    layer: str
    node_id: str
    op: str
    max_abs_diff: float  # over every value of the layer on every board
    mean_abs_diff: float
    reference_max_abs: float  # the largest |value| of the Flax layer: the scale the differences are measured against

    def to_dict(self) -> dict:
        return vars(self).copy()


def match_layers(info: ModelInfo, input_index: int) -> list[GraphLayer]:
    """The model's layers, in order, found by the rules in the module docstring. Raises ``LayerMatchError``."""
    # (training.model imports Flax, loaded by then for the reference anyway)
    from training.model import layer_names

    on_path, path_ops = {input_index}, []
    for position, (op, reads, writes) in enumerate(zip(info.ops, info.op_inputs, info.op_outputs)):
        if on_path.intersection(reads):
            on_path.update(writes)
            path_ops.append((position, op, writes))
    starts = [i for i, (_, op, _) in enumerate(path_ops) if op == "FULLY_CONNECTED"]
    softmax = [i for i, (_, op, _) in enumerate(path_ops) if op == "SOFTMAX"]
    if len(starts) < 1 or len(softmax) != 1 or softmax[0] < starts[-1]:
        raise LayerMatchError(f"{info.path}: cannot find its layers (ops on the board's path: "
                              f"{', '.join(op for _, op, _ in path_ops) or 'none'}): per-layer parity needs "
                              "FULLY_CONNECTED layers followed by one SOFTMAX")
    bounds = [*starts, softmax[0], len(path_ops)]
    names = layer_names([0] * (len(starts) - 1))  # only how many hidden layers there are counts here
    layers = []
    for name, end in zip(names, bounds[1:]):
        position, op, writes = path_ops[end - 1]  # the last op before the next layer starts
        if len(writes) != 1:
            raise LayerMatchError(f"{info.path}: its {op} op {position} writes {len(writes)} tensors, where a "
                                  "layer has one output")
        layers.append(GraphLayer(name, str(position), op, int(writes[0])))
    return layers


class LayerReader:
    """A .tflite model opened a second time, with every intermediate tensor kept, that returns its layers'
    outputs for a batch of boards. Goes through the same safe loader as the LiteRT agent."""

    def __init__(self, path):
        data, self.info = read_policy(path)
        self.path = self.info.path
        self._interpreter = open_interpreter(data, preserve_all_tensors=True)
        [model_input] = self._interpreter.get_input_details()  # read_policy checked: one 64-cell float32 input
        self._input_index, self._input_shape = int(model_input["index"]), tuple(model_input["shape"])
        self.layers = match_layers(self.info, self._input_index)
        details = {int(d["index"]): d for d in self._interpreter.get_tensor_details()}
        self._quantization = {layer.tensor: details[layer.tensor]["quantization"] for layer in self.layers}
        self.widths = {layer.name: int(np.prod(details[layer.tensor]["shape"])) for layer in self.layers}

    def outputs(self, boards: np.ndarray) -> dict[str, np.ndarray]:
        """float64 ``[N, width]`` per layer name, one ``invoke()`` per board."""
        boards = np.asarray(boards, np.float32)
        found = {layer.name: np.empty((len(boards), self.widths[layer.name])) for layer in self.layers}
        for i, board in enumerate(boards):
            self._interpreter.set_tensor(self._input_index, board.reshape(self._input_shape))
            self._interpreter.invoke()
            for layer in self.layers:
                found[layer.name][i] = self._read(layer.tensor)
        return found

    def _read(self, tensor: int) -> np.ndarray:
        values = self._interpreter.get_tensor(tensor).ravel()
        scale, zero_point = self._quantization[tensor]
        if values.dtype.kind in "iu" and scale:  # stored quantized: back to the real numbers it stands for
            return (values.astype(np.float64) - zero_point) * scale
        return values.astype(np.float64)

    def close(self) -> None:
        self._interpreter = None


def layer_diffs(agent: str, reference: str, same_checkpoint: bool | None, layers: list[GraphLayer],
                candidate: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> list[LayerDiff]:
    """How far each layer of ``candidate`` (a .tflite's outputs) is from ``expected`` (the Flax model's)."""
    if [layer.name for layer in layers] != list(expected):
        raise LayerMatchError(f"{agent} has the layers {', '.join(layer.name for layer in layers)} and {reference} "
                              f"{', '.join(expected)}: they are not the same network shape, compare them without --layers")
    rows = []
    for layer in layers:
        ours, theirs = candidate[layer.name], np.asarray(expected[layer.name], np.float64)
        if ours.shape != theirs.shape:
            raise LayerMatchError(f"{agent}'s layer {layer.name} has {ours.shape[1]} values per board and "
                                  f"{reference}'s {theirs.shape[1]}: not the same network shape, compare them "
                                  "without --layers")
        diff = np.abs(ours - theirs)
        rows.append(LayerDiff(agent, reference, same_checkpoint, layer.name, layer.node_id, layer.op,
                              float(diff.max()), float(diff.mean()), float(np.abs(theirs).max())))
    return rows
