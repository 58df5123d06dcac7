"""Open any .tflite file safely and find the Plane Strike policy inside it, by shape rather than by name.

A Plane Strike policy has one float32 input of 64 elements (``[1,8,8]``, ``[1,64]``, ``[-1,8,8]``...) and one
float32 output of 64 elements. Our converted models (``input`` -> ``Identity``) and the official app's
``planestrike_tf.tflite`` (``flatten_input`` -> ``Identity``) both qualify.

Native interpreters trust the flatbuffer they are given, and a malformed one can crash the whole process. So a
file passes four gates before this process hands it to the LiteRT interpreter:

1. it can be read, is not empty and carries the ``TFL3`` file identifier (text files, checkpoints...);
2. it parses as a TFLite flatbuffer in pure Python, every offset inside the file, every tensor and buffer index
   inside its table (truncated and bit-flipped files end here);
3. its inputs, outputs and ops make it a policy this runtime can run (the TF-Agents model ends here, with the
   reasons);
4. a child process has loaded it and run it once without dying (``training.litert_probe``).

Every failure is a ``ModelFileError`` whose message is one line naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import PlanestrikeError
from engine.files import UnreadableFile, read_small_file
from engine.limits import MAX_POLICY_FILE_BYTES
from engine.rules import CELL_COUNT

TFLITE_IDENTIFIER = b"TFL3"  # bytes 4-8 of every .tflite file
# A Plane Strike policy holds about 20k weights. A tensor claiming far more than this is a damaged shape, and the
# interpreter would try to allocate it (one flipped byte in a shape made it grab 4 GB and keep going).
_MAX_TENSOR_ELEMENTS = 1 << 24
_ITEM_BYTES = {"float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1, "int16": 2, "int8": 1,
               "float64": 8, "uint32": 4, "uint16": 2, "bfloat16": 2}


class ModelFileError(PlanestrikeError):
    """A .tflite file that cannot be used as a Plane Strike policy: ``"{path}: {problem}"``."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # -1 for a dimension fixed only at run time (the batch of ``[-1, 8, 8]``)
    dtype: str  # "float32", "int32"...

    @property
    def elements(self) -> int | None:
        """Elements per example: the product of the shape, with a dynamic batch dimension counted as 1."""
        dims = [1 if d == -1 and i == 0 else d for i, d in enumerate(self.shape)]
        return None if any(d < 0 for d in dims) else int(np.prod(dims, dtype=np.int64))

    def describe(self) -> str:
        return f"'{self.name}' {self.dtype}[{','.join(str(d) for d in self.shape)}]"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @property
    def is_board(self) -> bool:
        return self.dtype == "float32" and self.elements == CELL_COUNT


@dataclass(frozen=True)
class ModelInfo:
    """What a .tflite file holds, read from its flatbuffer without running it."""

    path: Path
    sha256: str
    size: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    ops: tuple[str, ...]  # in execution order; custom ops by their custom code, e.g. "FlexMultinomial"
    custom_ops: tuple[str, ...]
    # For each op of ``ops``, the indices of the tensors it reads and writes (-1: an optional input left out).
    # An op's position is also its node id in Model Explorer's graph of the file.
    op_inputs: tuple[tuple[int, ...], ...] = ()
    op_outputs: tuple[tuple[int, ...], ...] = ()


def read_model(path: Path) -> tuple[bytes, ModelInfo]:
    """Gates 1-2: the file's bytes and what they declare. Raises ``ModelFileError``."""
    path = Path(path)

    def looks_like_tflite(head: bytes) -> None:  # before reading the rest: a text file or checkpoint stops here
        if not head:
            raise ModelFileError(path, "the file is empty: it is not a TFLite model (re-run 'planestrike convert')")
        if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
            raise ModelFileError(path, f"not a TFLite model ({_what_it_looks_like(head)}, no 'TFL3' identifier)")

    try:
        data = read_small_file(path, MAX_POLICY_FILE_BYTES, "TFLite model", head=looks_like_tflite)
    except UnreadableFile as error:
        raise ModelFileError(path, error.problem) from None
    try:
        info = _parse_flatbuffer(path, data)
    except (struct.error, IndexError, ValueError, TypeError, OverflowError) as error:
        raise ModelFileError(
            path, f"corrupt TFLite model ({one_line(error)}): the file is truncated or damaged, reconvert or "
            "download it again"
        ) from None
    return data, info


def _what_it_looks_like(head: bytes) -> str:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c.isspace() for c in text):
        return "it is a text file"
    return "its first bytes are something else"


def one_line(error: BaseException) -> str:
    """An exception's message on one line (LiteRT's errors span several), or its type when it has none."""
    return " ".join(str(error).split()) or type(error).__name__


# The generated schema reads offsets without checking them against the buffer, so every table and vector is
# checked here before anything is read from it. Python raises on a bad read; it cannot segfault.
def _parse_flatbuffer(path: Path, data: bytes) -> ModelInfo:
    from ai_edge_litert import schema_py_generated as schema

    size = len(data)

    def check_vector(table, slot: int, what: str, item_size: int) -> int:
        offset = table._tab.Offset(slot)
        if not offset:
            return 0
        start = table._tab.Vector(offset)
        length = table._tab.VectorLen(offset)
        if not 0 <= start <= start + length * item_size <= size:
            raise ValueError(f"{what} runs past the end of the file")
        return length

    def check_table(table, what: str):
        position = table._tab.Pos
        if not 0 <= position <= size - 4:  # (struct reads negative offsets from the end: check first)
            raise ValueError(f"{what} lies outside the file")
        vtable = position - struct.unpack_from("<i", data, position)[0]
        if not 0 <= vtable <= size - 4:
            raise ValueError(f"{what} has its vtable outside the file")
        vtable_size = struct.unpack_from("<H", data, vtable)[0]
        if vtable + vtable_size > size or vtable_size < 4:
            raise ValueError(f"{what} has a broken vtable")
        return table

    root = struct.unpack_from("<I", data, 0)[0]
    if not 8 <= root < size:
        raise ValueError("the root table offset lies outside the file")
    model = check_table(schema.Model.GetRootAs(data, 0), "the model table")
    # Slots (vtable byte offsets) from the schema: Model.operator_codes=6, subgraphs=8, buffers=12.
    opcode_count = check_vector(model, 6, "the operator code list", 4)
    subgraph_count = check_vector(model, 8, "the subgraph list", 4)
    buffer_count = check_vector(model, 12, "the buffer list", 4)
    if subgraph_count < 1:
        raise ValueError("it has no subgraph")

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    opcodes, custom = [], []
    for i in range(opcode_count):
        code = check_table(model.OperatorCodes(i), "an operator code")
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            check_vector(code, 6, "a custom op name", 1)  # OperatorCode.custom_code
            name = (code.CustomCode() or b"?").decode("ascii", "replace")
            custom.append(name)
            opcodes.append(name)
        else:
            opcodes.append(names.get(builtin, f"BUILTIN_{builtin}"))

    for i in range(buffer_count):
        buffer = check_table(model.Buffers(i), "a buffer")
        check_vector(buffer, 4, "a weights buffer", 1)  # Buffer.data
        if buffer.Offset() > 1 and buffer.Offset() + buffer.Size() > size:  # the >2 GB layout stores data after
            raise ValueError("a weights buffer runs past the end of the file")

    graph = check_table(model.Subgraphs(0), "the main subgraph")
    # Subgraph slots: tensors=4, inputs=6, outputs=8, operators=10.
    tensor_count = check_vector(graph, 4, "the tensor list", 4)
    dtypes = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}

    def tensor(index: int) -> TensorInfo:
        if not 0 <= index < tensor_count:
            raise ValueError(f"tensor index {index} is out of range")
        t = check_table(graph.Tensors(int(index)), "a tensor")
        # Tensor slots: shape=4, name=10, shape_signature=18.
        check_vector(t, 4, "a tensor shape", 4)
        check_vector(t, 10, "a tensor name", 1)
        check_vector(t, 18, "a tensor shape signature", 4)
        if not 0 <= t.Buffer() < max(buffer_count, 1):
            raise ValueError(f"tensor {index} points at buffer {t.Buffer()} of {buffer_count}")
        concrete = tuple(int(d) for d in (t.ShapeAsNumpy() if t.ShapeLength() else ()))
        if any(d < 0 for d in concrete) or int(np.prod(concrete, dtype=np.float64)) > _MAX_TENSOR_ELEMENTS:
            raise ValueError(f"tensor {index} has an impossible shape {list(concrete)}")
        dtype = dtypes.get(t.Type(), f"type{t.Type()}")
        weights = model.Buffers(t.Buffer()).DataLength() if buffer_count else 0
        expected = int(np.prod(concrete)) * _ITEM_BYTES.get(dtype, 0)
        if weights and expected and t.Sparsity() is None and weights != expected:
            raise ValueError(f"tensor {index} holds {weights} bytes of weights but its shape needs {expected}")
        shape = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else concrete
        try:
            name = (t.Name() or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"tensor {index}'s name is not text") from None
        return TensorInfo(name, shape, dtype)

    for i in range(tensor_count):
        tensor(i)
    inputs = tuple(tensor(graph.Inputs(j)) for j in range(check_vector(graph, 6, "the input list", 4)))
    outputs = tuple(tensor(graph.Outputs(j)) for j in range(check_vector(graph, 8, "the output list", 4)))
    ops, op_inputs, op_outputs = [], [], []
    for k in range(check_vector(graph, 10, "the operator list", 4)):
        op = check_table(graph.Operators(k), "an operator")
        check_vector(op, 6, "an operator's inputs", 4)
        check_vector(op, 8, "an operator's outputs", 4)
        if not 0 <= op.OpcodeIndex() < opcode_count:
            raise ValueError(f"operator {k} uses opcode {op.OpcodeIndex()} of {opcode_count}")
        reads = tuple(int(j) for j in (op.InputsAsNumpy() if op.InputsLength() else ()))
        writes = tuple(int(j) for j in (op.OutputsAsNumpy() if op.OutputsLength() else ()))
        for j in reads + writes:
            if not -1 <= j < tensor_count:
                raise ValueError(f"operator {k} refers to tensor {j} of {tensor_count}")
        ops.append(opcodes[op.OpcodeIndex()])
        op_inputs.append(reads)
        op_outputs.append(writes)
    return ModelInfo(path, hashlib.sha256(data).hexdigest(), size, inputs, outputs, tuple(ops), tuple(dict.fromkeys(custom)),
                     tuple(op_inputs), tuple(op_outputs))


def read_policy(path: Path) -> tuple[bytes, ModelInfo]:
    """Gates 1-4: the bytes and description of a file that is a Plane Strike policy and ran once in a child
    process. What every user of a model file goes through before LiteRT (or a phone) gets it."""
    from training.litert_probe import OK, probe

    data, info = read_model(path)
    check_policy_shape(info)
    verdict = probe(data, info.sha256)
    if verdict != OK:
        raise ModelFileError(info.path, verdict)
    return data, info


def check_policy_shape(info: ModelInfo) -> None:
    """Gate 3: refuse, with every reason at once, a model that is not a policy this runtime can run."""
    reasons = []
    boards = [t for t in info.inputs if t.is_board]
    if len(info.inputs) != 1 or not boards:
        listed = ", ".join(t.describe() for t in info.inputs) or "none"
        count = f"{len(info.inputs)} input{'s' if len(info.inputs) != 1 else ''}"
        reasons.append(f"it has {count} ({listed}) where a policy has one float32 board of 64 cells")
    if len(info.outputs) != 1 or not info.outputs[0].is_board:
        listed = ", ".join(t.describe() for t in info.outputs) or "none"
        kind = "an action, not 64 float32 probabilities" if any(t.dtype.startswith("int") for t in info.outputs) \
            else "not 64 float32 probabilities"
        reasons.append(f"its output ({listed}) is {kind}")
    flex = [op for op in info.custom_ops if op.startswith("Flex")]
    other = [op for op in info.custom_ops if not op.startswith("Flex")]
    if flex:
        reasons.append(f"it uses the Flex op(s) {', '.join(flex)}, which need the Select TF ops runtime that LiteRT's "
                       "builtin ops do not include")
    if other:
        reasons.append(f"it uses the custom op(s) {', '.join(other)}, which LiteRT's builtin ops do not include")
    if reasons:
        raise ModelFileError(info.path, f"not a Plane Strike policy: {'; '.join(reasons)}")


_stderr_lock = threading.Lock()  # two threads swapping file descriptor 2 at once could leave it on /dev/null


@contextlib.contextmanager
def quiet_native_stderr():
    """Hide what native code writes to stderr meanwhile (LiteRT prints an INFO line when it creates XNNPACK).

    Python exceptions are unaffected: the interpreter reports its errors through them, not through stderr.
    """
    with _stderr_lock:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def open_interpreter(data: bytes, preserve_all_tensors: bool = False):
    """An allocated LiteRT interpreter for ``data`` (one thread: a 20k-parameter model gains nothing from more).

    ``preserve_all_tensors`` keeps every intermediate tensor readable after ``invoke()`` (LiteRT otherwise reuses
    their memory): what per-layer parity reads. It costs memory, and LiteRT warns so; that warning is silenced."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter

    with quiet_native_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = Interpreter(model_content=data, num_threads=1,
                                  experimental_preserve_all_tensors=preserve_all_tensors)
        interpreter.allocate_tensors()
    return interpreter
