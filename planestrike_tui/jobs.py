"""Run a ``planestrike`` subcommand as a child process and read what it reports, without blocking the UI loop.

Training and conversion import JAX and TensorFlow and compile: in a thread that would stall the app's event loop,
so they run as separate processes that print JSON objects, one per line, on stdout. This module knows nothing
about Textual: the screens iterate ``Job.objects()`` inside an async worker and turn each object into a message.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

# The CLI prints failures as "planestrike: error: MESSAGE" (argparse: "planestrike train: error: ...").
_CLI_ERROR_PREFIX = re.compile(r"^planestrike(?: \w+)?: error: ")


def planestrike_argv(*arguments: str) -> list[str]:
    """The command line for ``planestrike ARGUMENTS`` with this interpreter (works without the script on PATH).
    ``-P``: a folder of the user's own named ``training`` (say) in the current directory must not shadow ours."""
    return [sys.executable, "-P", "-m", "planestrike_tui.cli", *arguments]


@dataclass(frozen=True)
class JobResult:
    returncode: int
    error: str | None  # the child's one-line error message (its last stderr line) when it failed

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Job:
    """One child process. ``objects()`` yields each JSON object it prints; ``finish()`` waits for its exit."""

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.process: asyncio.subprocess.Process | None = None
        self.interrupted = False  # interrupt() was called: a non-zero exit is the stop the person asked for
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._stderr_task: asyncio.Task | None = None

    async def start(self) -> None:
        env = os.environ | {"PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env,
            start_new_session=True,  # its own process group: only the app decides when it stops
        )
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        # Read stderr all along: a child blocked on a full stderr pipe would never finish.
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").strip()
            if line:
                self._stderr_tail.append(line)

    async def objects(self) -> AsyncIterator[dict]:
        """Each JSON object printed on stdout, in order. Other output (warnings, a table) is skipped."""
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").strip()
            if not line.startswith("{"):
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                yield data

    async def finish(self) -> JobResult:
        returncode = await self.process.wait()
        await self._stderr_task
        error = None
        if returncode != 0:
            last = self._stderr_tail[-1] if self._stderr_tail else f"exited with status {returncode}"
            error = _CLI_ERROR_PREFIX.sub("", last)
        return JobResult(returncode, error)

    def interrupt(self) -> None:
        """Ask the child to stop as if ctrl+c was pressed (training saves its checkpoint and exits)."""
        if self.process is not None and self.process.returncode is None:
            self.interrupted = True
            self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
