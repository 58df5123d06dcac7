"""Fewer malloc arenas for a long-running app.

The app answers every position in short-lived thread workers (agents, the solver, records). glibc gives threads
their own malloc arenas, up to 8 per core, and memory freed in one arena is not reused by another, so over a
talk-long spectator run the resident size crept up with no Python object growing: measured with
``benchmarks/spectator_memory.py --games 1000`` (2 cores), +13 KB a game and +13.6% after 1,000 games by default,
+5 KB a game and +5.4% with two arenas (the main thread's and one shared by the workers). This is what
``MALLOC_ARENA_MAX=2`` does, set from inside the process; the workers' allocations are small, and their
contention on one arena was not measured separately. Anything but glibc: nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (for arenas made from now on); whether it applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt, or no such knob
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_ARENA_MAX, arenas) == 1
