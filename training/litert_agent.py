"""The LiteRT agent: plays any Plane Strike .tflite policy with the ``ai_edge_litert`` interpreter.

Spec ``tflite[:MODEL]`` (bare ``tflite`` = the bundled ``assets/planestrike.tflite``). The model is opened through
the safe loader in ``training.litert_model`` and its input and output are found by shape and dtype, so our
converted models and the official app's model both play. No TensorFlow import: LiteRT alone loads in 0.2 s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assets import BUNDLED_TFLITE, OFFICIAL_APP_MODEL, OFFICIAL_APP_MODEL_SHA256
from engine.agents import Agent, masked_argmax
from engine.rules import BOARD_SIZE, CELL_COUNT, UNTRIED
from engine.specs import AgentKind
from training.litert_model import ModelFileError, one_line, open_interpreter, read_policy

_BOARD_SHAPE = (BOARD_SIZE, BOARD_SIZE)


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
        self.name = name or f"TFLite {self.path.name}"
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


def _load_app(argument: str | None, seed: int) -> LiteRTAgent:
    del argument, seed  # the spec takes no argument (AgentKind.check), and the model is deterministic
    agent = LiteRTAgent(OFFICIAL_APP_MODEL, name="TFLite official app (planestrike_tf.tflite)")
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
