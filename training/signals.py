"""Ctrl-C and SIGTERM as a stop request that long work honours at its next safe point (standard library only).

Installed by ``planestrike train`` before its heavy imports: a signal that arrives while JAX is still loading
would otherwise be raised inside a garbage-collector callback, where Python prints it and carries on.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signals(stop: list[str]) -> Iterator[list[str]]:
    """Turn SIGINT/SIGTERM into an entry in ``stop`` (the signal's name); a second one aborts at once."""

    def request(signum, frame):
        if stop:
            raise KeyboardInterrupt
        stop.append(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
