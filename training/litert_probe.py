"""Gate 4 of the safe loader: run an untrusted .tflite in a child process before this process touches it.

The TFLite flatbuffer verifier and our structural checks catch most damage, but the native interpreter still
trusts the rest: a damaged model can crash it (a segfault would take the terminal app down with it), hang it, or
make it allocate gigabytes (one flipped byte in a tensor shape did). So a child process loads the model, allocates
it and runs it on an empty board first, under a 2 GB address-space cap and a 30 s timeout.

The child is a small worker that stays up and probes model after model (starting Python and LiteRT costs ~0.3 s;
a probe then costs milliseconds), so a few hundred models are checked in seconds. If a worker that has already
served other models dies, the verdict is confirmed in a fresh worker, in case an earlier model damaged it.
A model that passed is remembered by its sha256 under ``$XDG_CACHE_HOME/planestrike/litert-probe`` (a file holding
exactly ``ok``; anything else there is ignored), so each good model is probed once per machine; a refusal is
remembered for the rest of the process only.
"""

from __future__ import annotations

import atexit
import contextlib
import select
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from engine.files import UnreadableFile, read_small_file, user_directory, write_atomically

OK = "ok"
TIMEOUT_S = 30
MEMORY_BYTES = 2 << 30
_DAMAGED = "the file is damaged: reconvert it or download it again"
# Deaths that say something about the model (it crashed the interpreter); others (killed from outside, by the
# OOM killer or a signal) say nothing about it.
_CRASHES = {signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGFPE, signal.SIGILL}


class _Worker:
    """Parent side: one child process at a time, restarted after it dies."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        atexit.register(self.stop)

    def verdict(self, data: bytes) -> tuple[str, bool]:
        """``OK`` or why not, and whether that says something about the model itself (LiteRT's answer, a crash)
        rather than about the moment (a timeout on a busy machine, a probe killed from outside or broken)."""
        with self._lock:
            while True:
                fresh = self._process is None
                if fresh:
                    # -P: the current folder does not shadow this package (a project with its own `training/`).
                    # Its own session: a Ctrl-C at the terminal is this process's to handle, not a probe crash.
                    self._process = subprocess.Popen(
                        [sys.executable, "-P", "-m", "training.litert_probe"],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                outcome, alive, definitive = self._ask(data)
                if alive:
                    return outcome, definitive
                self.stop()
                if fresh:
                    return outcome, definitive

    def _ask(self, data: bytes) -> tuple[str, bool, bool]:
        """The worker's verdict on ``data``, whether the worker is still fit to ask again, and whether the verdict
        is about the model."""
        process = self._process
        try:
            process.stdin.write(struct.pack("<Q", len(data)) + data)
            process.stdin.flush()
        except OSError:  # the worker is gone
            return *self._death(), False
        ready, _, _ = select.select([process.stdout], [], [], TIMEOUT_S)
        if not ready:
            return f"loading it in LiteRT hung for over {TIMEOUT_S} s: {_DAMAGED}", False, False
        answer = process.stdout.readline().decode("utf-8", "replace").strip()
        return (answer, True, True) if answer else (*self._death(), False)

    def _death(self) -> tuple[str, bool]:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the probe process stopped answering", False
        if code < 0:
            return f"it crashed the LiteRT interpreter ({signal.Signals(-code).name}): {_DAMAGED}", -code in _CRASHES
        return f"the LiteRT probe process exited with status {code} while loading it", False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.close()  # a healthy worker exits on end of input
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


_worker = _Worker()
_verdicts: dict[str, str] = {}  # sha256 -> OK, or why the model cannot be used


def probe(data: bytes, sha256: str) -> str:
    """``OK`` if the model loads and runs once in a child process; else why not, as a phrase for an error line.

    A model that fails there, even cleanly, is never loaded here: the child runs under a memory cap this process
    does not have, so a clean "cannot allocate" in the child could be gigabytes here.
    """
    if sha256 in _verdicts:
        return _verdicts[sha256]
    cache = _cache_file(sha256)
    with contextlib.suppress(UnreadableFile, OSError):  # a FIFO or a huge file there is no verdict: probe again
        if read_small_file(cache, len(OK), "probe verdict") == OK.encode():
            _verdicts[sha256] = OK
            return OK
    verdict, about_the_model = _worker.verdict(data)
    if verdict == OK:
        _verdicts[sha256] = OK
        with contextlib.suppress(OSError):  # an unwritable cache only costs a probe next time
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(cache, OK.encode())
    elif about_the_model:
        _verdicts[sha256] = verdict  # for this process only: a good model once killed by the OOM killer, a
        # timeout on a busy machine or a broken install must not be branded damaged for good
    return verdict


def _cache_file(sha256: str) -> Path:
    from importlib.metadata import version

    return user_directory("cache") / "litert-probe" / f"{sha256}-litert{version('ai-edge-litert')}"


def _serve() -> int:
    """Child side: for each length-prefixed model on stdin, load it, run it once, answer one line: ``ok`` or why."""
    import resource

    from training.litert_model import one_line, open_interpreter

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while len(header := requests.read(8)) == 8:
        data = requests.read(struct.unpack("<Q", header)[0])
        try:
            interpreter = open_interpreter(data)
            details = interpreter.get_input_details()[0]
            interpreter.set_tensor(details["index"], np.zeros(details["shape"], details["dtype"]))
            interpreter.invoke()
            answer = OK
        except Exception as error:  # noqa: BLE001 - whatever LiteRT raises, the parent reports it in one line
            answer = f"LiteRT cannot run it: {one_line(error)}"
        answers.write(answer.encode() + b"\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
