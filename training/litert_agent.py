"""The LiteRT agent: plays any Plane Strike .tflite policy with the ``ai_edge_litert`` interpreter.

Spec ``tflite[:MODEL]`` (bare ``tflite`` = the bundled ``assets/planestrike.tflite``). The model is opened through
the safe loader in ``training.litert_model`` and its input and output are found by shape and dtype, so our
converted models and the official app's model both play. No TensorFlow import: LiteRT alone loads in 0.2 s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assets import BUNDLED_TFLITE
from engine.agents import Agent, masked_argmax
from engine.rules import BOARD_SIZE, CELL_COUNT, UNTRIED
from engine.specs import AgentKind
from training.litert_model import ModelFileError, check_policy_shape, one_line, open_interpreter, read_model
from training.litert_probe import OK, probe


class LiteRTAgent(Agent):
    """A .tflite policy, one ``invoke()`` per board, masked argmax like the app. Deterministic."""

    kind = "tflite"

    def __init__(self, path: str | Path = BUNDLED_TFLITE):
        self.path = Path(path)
        data, self.info = read_model(self.path)
        check_policy_shape(self.info)
        verdict = probe(data, self.info.sha256)  # gate 4: only a model that ran in a child process runs here
        if verdict != OK:
            raise ModelFileError(self.path, verdict)
        try:
            self._interpreter = open_interpreter(data)
        except (RuntimeError, ValueError) as error:
            raise ModelFileError(self.path, f"LiteRT cannot run it: {one_line(error)}") from None
        model_input, model_output = self._find_board_tensors()
        # Plain ints and a tuple: the per-move path below does no dict lookups or shape conversions.
        self._input_index, self._input_shape = int(model_input["index"]), tuple(int(d) for d in model_input["shape"])
        self._output_index = int(model_output["index"])
        self.name = f"TFLite {self.path.name}"
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
        interpreter = self._interpreter
        if type(board) is not np.ndarray or board.dtype != np.float32:  # np.asarray(board, dtype) costs 0.4 us
            board = np.asarray(board, np.float32)
        interpreter.set_tensor(self._input_index, board.reshape(self._input_shape))
        interpreter.invoke()
        return interpreter.get_tensor(self._output_index).reshape(CELL_COUNT)

    def choose(self, board: np.ndarray) -> int:
        """One move by the app's rule (the engine's ``masked_argmax``: best untried cell, lowest index on ties),
        for a single board without the batch machinery, which costs several times the model itself."""
        board = np.asarray(board, np.float32)
        scores = self.probabilities(board)
        untried = board.reshape(CELL_COUNT) == UNTRIED
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
        self._interpreter = None


def _load(argument: str | None, seed: int) -> LiteRTAgent:
    del seed  # masked argmax over a fixed model: nothing random
    if argument is None and not BUNDLED_TFLITE.exists():
        raise ModelFileError(BUNDLED_TFLITE, "the bundled model is missing: reinstall planestrike, or create it with "
                             "'planestrike convert', or give one with tflite:MODEL")
    return LiteRTAgent(Path(argument) if argument else BUNDLED_TFLITE)


TFLITE_KIND = AgentKind(
    name="tflite",
    usage="tflite[:MODEL]",
    summary="a TFLite policy run by LiteRT (default: the bundled assets/planestrike.tflite)",
    load=_load,
)
