"""The LiteRT agent: plays any Plane Strike .tflite policy with the ``ai_edge_litert`` interpreter.

Spec ``tflite[:MODEL]``: bare ``tflite`` is the bundled ``assets/planestrike.tflite``; ``tflite:float32``,
``tflite:float16`` and ``tflite:int8`` name the bundled model's three conversions (``BUNDLED_VARIANTS``); anything
else is a file path (``model_path`` says which). The model is opened through the safe loader in
``training.litert_model`` and its input and output are found by shape and dtype, so our converted models and the
official app's model both play. No TensorFlow import: LiteRT alone loads in 0.2 s.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from assets import (BUNDLED_TFLITE, BUNDLED_TFLITE_FLOAT16, BUNDLED_TFLITE_INT8, OFFICIAL_APP_MODEL,
                    OFFICIAL_APP_MODEL_SHA256)
from engine.agents import Agent, masked_argmax
from engine.files import UnreadableFile, read_small_file
from engine.rules import BOARD_SIZE, CELL_COUNT, UNTRIED
from engine.specs import AgentKind
from training.litert_model import ModelFileError, one_line, open_interpreter, read_policy

_BOARD_SHAPE = (BOARD_SIZE, BOARD_SIZE)
# Shorthands for the bundled model's conversions: `tflite:int8` rather than a path into the installed package.
BUNDLED_VARIANTS = {"float32": BUNDLED_TFLITE, "float16": BUNDLED_TFLITE_FLOAT16, "int8": BUNDLED_TFLITE_INT8}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def model_path(argument: str | None) -> Path:
    """The file a ``tflite[:MODEL]`` argument names, without opening it.

    An argument with a path separator or ending in ``.tflite`` is always a file (``./int8`` is a file named int8);
    otherwise a shorthand of ``BUNDLED_VARIANTS`` names a bundled model; any other word is a file too."""
    if argument is None:
        return BUNDLED_TFLITE
    looks_like_a_path = argument.endswith(".tflite") or any(sep and sep in argument for sep in (os.sep, os.altsep))
    if not looks_like_a_path and argument in BUNDLED_VARIANTS:
        return BUNDLED_VARIANTS[argument]
    return Path(argument)


def sidecar_source_sha256(model: Path, model_sha256: str) -> str | None:
    """The ``source_checkpoint.sha256`` recorded in ``MODEL.json`` beside ``model``, if that sidecar describes
    these very bytes (its ``sha256``); None when there is no such sidecar, it is unreadable, or it describes
    another model (a crash between writing the model and its sidecar leaves exactly that)."""
    try:
        sidecar = json.loads(read_small_file(model.with_name(model.name + ".json"), 1 << 20, "sidecar"))
    except (UnreadableFile, ValueError):
        return None
    if not isinstance(sidecar, dict) or sidecar.get("sha256") != model_sha256:
        return None
    source = sidecar.get("source_checkpoint")
    digest = source.get("sha256") if isinstance(source, dict) else None
    return digest if isinstance(digest, str) and _SHA256.fullmatch(digest) else None


class LiteRTAgent(Agent):
    """A .tflite policy, one ``invoke()`` per board, masked argmax like the app. Deterministic."""

    kind = "tflite"

    def __init__(self, path: str | Path = BUNDLED_TFLITE, name: str | None = None):
        self.path = Path(path)
        data, self.info = read_policy(self.path)  # only a model that ran in a child process runs here
        try:
            self._interpreter = open_interpreter(data)
        except (RuntimeError, ValueError) as error:
            raise ModelFileError(self.path, f"LiteRT cannot run it: {one_line(error)}") from None
        model_input, model_output = self._find_board_tensors()
        # Plain ints: the per-move path below does no dict lookups.
        self._input_index, self._output_index = int(model_input["index"]), int(model_output["index"])
        # A board goes in through our own buffer of the input's shape ([1, 8, 8], [1, 64]...), written through an
        # 8x8 view: one copy that also casts, cheaper than a reshape to the input's shape (0.2 vs 0.5 us).
        self._input = np.zeros(model_input["shape"], np.float32)
        self._cells = self._input.reshape(_BOARD_SHAPE)
        # LiteRT's C++ wrapper, its methods bound once (ai-edge-litert is pinned to 2.3.x): the public Python methods
        # add about 0.3 us a move, and all they add is invoke()'s check that no numpy view from tensor() is alive.
        # This agent makes none; holding the wrapper makes the public invoke() refuse, so nothing here calls it.
        wrapper = self._interpreter._interpreter
        self._set_tensor, self._invoke, self._get_tensor = wrapper.SetTensor, wrapper.Invoke, wrapper.GetTensor
        self.name = name or f"LiteRT {self.path.name.removesuffix('.tflite')}"  # "LiteRT planestrike.int8"
        # Which checkpoint the model was converted from, as its sidecar says: lets a caller tell a model converted
        # from another checkpoint (different answers expected) from a bad conversion of the same one.
        self.source_checkpoint_sha256 = sidecar_source_sha256(self.path, self.info.sha256)
        first = self.probabilities(np.zeros((BOARD_SIZE, BOARD_SIZE), np.float32))
        if not np.isfinite(first).all():
            raise ModelFileError(self.path, "the model returns NaN or infinite scores on an empty board: "
                                 "its weights are broken, reconvert it")

    def _find_board_tensors(self) -> tuple[dict, dict]:
        # Shapes after allocation are concrete ([-1, 8, 8] became [1, 8, 8]), so each has exactly 64 elements.
        def pick(details: list[dict], side: str) -> dict:
            boards = [d for d in details if d["dtype"] == np.float32 and int(np.prod(d["shape"])) == CELL_COUNT]
            if len(details) != 1 or not boards:
                found = ", ".join(f"{d['name']} {np.dtype(d['dtype']).name}{list(d['shape'])}" for d in details)
                raise ModelFileError(self.path, f"after allocation its {side}s are {found}: a policy needs one "
                                     f"float32 {side} of {CELL_COUNT} elements")
            return boards[0]

        return pick(self._interpreter.get_input_details(), "input"), pick(self._interpreter.get_output_details(), "output")

    def probabilities(self, board: np.ndarray) -> np.ndarray:
        """The model's 64 scores for one board. This is the per-move hot path: set, invoke, get, nothing else."""
        if type(board) is np.ndarray and board.shape == _BOARD_SHAPE:  # what the engine passes on every move
            self._cells[...] = board
        else:  # any 64-cell board, e.g. a flat one; a wrong size raises here
            self._cells[...] = np.asarray(board, np.float32).reshape(_BOARD_SHAPE)
        self._set_tensor(self._input_index, self._input)
        self._invoke()
        return self._get_tensor(self._output_index).ravel()  # a fresh array each call: the caller may keep it

    def choose(self, board: np.ndarray) -> int:
        """One move by the app's rule (the engine's ``masked_argmax``: best untried cell, lowest index on ties),
        for a single board without the batch machinery, which costs several times the model itself."""
        board = np.asarray(board, np.float32)
        scores = self.probabilities(board)
        untried = board.ravel() == UNTRIED  # ravel, not reshape(64): same cells, a third of the cost
        best = int(np.where(untried, scores, -np.inf).argmax())  # argmax stops at the first NaN, if any
        if scores[best] != scores[best]:  # NaN; a plain comparison costs a tenth of np.isnan on one scalar
            raise self._nan_error()
        if not untried[best]:  # every untried score is -inf (or no untried cell: masked_argmax says which)
            return int(masked_argmax(scores[None], board[None])[0])
        return best

    def _nan_error(self) -> ModelFileError:
        return ModelFileError(self.path, "the model returned NaN or infinite scores during play: "
                              "its weights are broken, reconvert it")

    def probabilities_batch(self, boards: np.ndarray) -> np.ndarray:
        scores = np.stack([self.probabilities(board) for board in np.asarray(boards, np.float32)])
        if not np.isfinite(scores).all():  # once per batch: cheap, unlike a check on every move
            raise self._nan_error()
        return scores

    def close(self) -> None:
        self._interpreter = self._set_tensor = self._invoke = self._get_tensor = None


def _load(argument: str | None, seed: int) -> LiteRTAgent:
    del seed  # masked argmax over a fixed model: nothing random
    path = model_path(argument)
    if path in _REMAKE and not path.exists():
        raise ModelFileError(path, "the bundled model is missing: reinstall planestrike, or create it with "
                             f"'{_REMAKE[path]}', or give one with tflite:MODEL")
    return LiteRTAgent(path)


_REMAKE = {BUNDLED_TFLITE: "planestrike convert", BUNDLED_TFLITE_FLOAT16: "planestrike convert --quantize float16",
           BUNDLED_TFLITE_INT8: "planestrike convert --quantize dynamic-int8"}


TFLITE_KIND = AgentKind(
    name="tflite",
    usage="tflite[:MODEL]",
    summary="a TFLite policy run by LiteRT: bare tflite is the bundled assets/planestrike.tflite; tflite:float32, "
    "tflite:float16, tflite:int8 its bundled conversions; a MODEL with a / or ending in .tflite is always a file",
    load=_load,
)


def _load_app(argument: str | None, seed: int) -> LiteRTAgent:
    del argument, seed  # the spec takes no argument (AgentKind.check), and the model is deterministic
    agent = LiteRTAgent(OFFICIAL_APP_MODEL, name="LiteRT official app (planestrike_tf)")
    if agent.info.sha256 != OFFICIAL_APP_MODEL_SHA256:  # 'app' promises that model, not whatever is there now
        agent.close()
        raise ModelFileError(OFFICIAL_APP_MODEL, f"is not the official app's model any more (sha256 "
                             f"{agent.info.sha256[:16]}, not {OFFICIAL_APP_MODEL_SHA256[:16]}): restore it "
                             "(git checkout, or reinstall planestrike)")
    return agent


APP_KIND = AgentKind(
    name="app",
    usage="app",
    summary="the official Android app's model (13.19 mean strikes), run by LiteRT",
    load=_load_app,
)
