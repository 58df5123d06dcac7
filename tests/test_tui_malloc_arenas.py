"""The app caps glibc's malloc arenas (planestrike_tui.malloc_arenas); elsewhere the call is a no-op."""

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_glibc_takes_the_cap_and_threads_still_allocate():
    code = ("import threading; from planestrike_tui.malloc_arenas import limit_malloc_arenas\n"
            "assert limit_malloc_arenas()\n"
            "out = []\n"
            "threads = [threading.Thread(target=lambda: out.append(bytearray(1 << 20))) for _ in range(16)]\n"
            "[t.start() for t in threads]; [t.join() for t in threads]\n"
            "print(len(out), sum(map(len, out)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["16", str(16 << 20)]

