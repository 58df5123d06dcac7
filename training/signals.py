"""Ctrl-C and SIGTERM: what the command line does with them (standard library only).

Most commands have nothing to save, so Ctrl-C ends them at once (``exit_on_interrupt``). Letting Python raise
``KeyboardInterrupt`` instead is not safe here: raised while JAX, TensorFlow or LiteRT load, it lands inside
native initialisation code (the process aborted or crashed in tests) or inside a garbage-collector callback, where
Python prints it and carries on as if nothing happened. Training turns signals into a stop request instead
(``stop_on_signals``), so it can save before it stops; the terminal app and the virtual phone handle their own.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

INTERRUPTED = 130  # the shell's status for a process ended by SIGINT


@contextmanager
def exit_on_interrupt(prog: str) -> Iterator[None]:
    """Meanwhile, Ctrl-C prints ``PROG: interrupted`` and ends the process with status 130 at once. Files are only
    ever written to a temporary name and renamed, so nothing is left half-written."""

    stderr = os.dup(2)  # the real stderr: native-noise silencing may point descriptor 2 at /dev/null meanwhile

    def interrupt(signum, frame):
        os.write(stderr, f"{prog}: interrupted\n".encode())
        os._exit(INTERRUPTED)

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        os.close(stderr)


@contextmanager
def stop_on_signals(stop: list[str], on_second: Callable[[], None] | None = None) -> Iterator[list[str]]:
    """Turn SIGINT/SIGTERM into an entry in ``stop`` (the signal's name). A second one calls ``on_second``
    (default: raise KeyboardInterrupt, stopping at once)."""

    def request(signum, frame):
        if stop:
            if on_second is not None:
                on_second()
            raise KeyboardInterrupt
        stop.append(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
