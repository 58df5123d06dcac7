"""`planestrike` in a real terminal: tmux runs it, the test reads the screen and types like a person."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

PLANESTRIKE = Path(sys.executable).parent / "planestrike"  # the installed console script, as people run it

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)")


class Tmux:
    """A private tmux server (its own socket), so the test never touches anyone's sessions."""

    def __init__(self) -> None:
        self.socket = f"planestrike-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "game")

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux():
    server = Tmux()
    yield server
    server.close()


def test_planestrike_opens_the_game_plays_a_strike_and_quits_with_ctrl_q(tmux, tmp_path):
    status_file = tmp_path / "status"
    command = f"{PLANESTRIKE}; echo $? > {status_file}; sleep 30"
    tmux.run("new-session", "-d", "-s", "game", "-x", "100", "-y", "30", command)
    screen = tmux.wait_for("Your board")
    assert "0 strikes · 0/8 hits" in screen
    tmux.wait_for(" same ")  # the strip compares LiteRT with Flax: the bundled Flax opponent has loaded and answered
    tmux.run("send-keys", "-t", "game", "Enter")
    tmux.wait_for("1 strike · ")
    tmux.run("send-keys", "-t", "game", "C-q")
    deadline = time.monotonic() + 20
    while not (status_file.exists() and status_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status_file.read_text().strip() == "0", tmux.screen()
