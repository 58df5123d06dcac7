"""`planestrike` in a real terminal: tmux runs it, the test reads the screen and types like a person."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from tui_helpers import svg_text

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

    def exit_status(self, status_file: Path, timeout: float = 20.0) -> str:
        """What the session's command wrote to ``status_file`` (``...; echo $? > FILE``) once it has exited."""
        deadline = time.monotonic() + timeout
        while not (status_file.exists() and status_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return status_file.read_text().strip() if status_file.exists() else "(still running)"

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
    assert tmux.exit_status(status_file) == "0", tmux.screen()


def test_a_game_played_to_the_end_is_recorded_and_replay_exports_it_as_svg(tmux, tmp_path):
    """A person plays a whole game in the terminal (row by row, snaking); the game lands in the records file, and
    `planestrike replay --last --export` draws its final position with no terminal."""
    data = tmp_path / "data"
    command = f"XDG_DATA_HOME={data} {PLANESTRIKE} --opponent flax --panels flax,hunter --seed 3; sleep 30"
    tmux.run("new-session", "-d", "-s", "game", "-x", "140", "-y", "40", command)
    tmux.wait_for("Your turn")
    over = re.compile(r"(\d+) strikes · 8/8 hits")  # a plane has fallen: the game is over
    tmux.run("send-keys", "-t", "game", *["Up"] * 7, *["Left"] * 7)  # the cursor starts in the centre: go to A1
    for strikes in range(1, 65):
        tmux.run("send-keys", "-t", "game", "Enter")
        # Both boards show `strikes` strikes once the agent has answered, or the game is over.
        done = re.compile(rf"(?<!\d){strikes} strikes? ·")
        deadline = time.monotonic() + 30
        while True:
            screen = tmux.screen()
            if over.search(screen) or len(done.findall(screen)) == 2:
                break
            assert time.monotonic() < deadline, f"strike {strikes} never settled:\n{screen}"
            time.sleep(0.05)
        if over.search(screen):
            break
        row, col = divmod(strikes - 1, 8)  # the cell just struck; the next is along the row, snaking
        at_end = col == (7 if row % 2 == 0 else 0)
        tmux.run("send-keys", "-t", "game", "Down" if at_end else ("Right" if row % 2 == 0 else "Left"))
    winning_strikes = int(over.search(tmux.wait_for("Press n for a")).group(1))
    records = data / "planestrike" / "games.jsonl"
    deadline = time.monotonic() + 20
    while not (records.exists() and records.read_text().endswith("\n")) and time.monotonic() < deadline:
        time.sleep(0.1)
    (line,) = records.read_text().splitlines()
    record = json.loads(line)
    assert record["mode"] == "person" and record["seed"] == 3 and len(record["moves"]) >= 2 * 8 - 1
    tmux.run("send-keys", "-t", "game", "C-q")

    out = tmp_path / "slides" / "end.svg"
    out.parent.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k not in ("TERM", "COLUMNS", "LINES")}, "XDG_DATA_HOME": str(data)}
    result = subprocess.run([str(PLANESTRIKE), "replay", "--last", "--export", str(out)], check=False, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    total = len(record["moves"])
    assert f"move {total} of {total}" in result.stdout
    text = svg_text(out.read_text())
    expected = {"first": f"You win in {winning_strikes} strikes", "second": f"{record['players'][1]['name']} wins in {winning_strikes} strikes",
                "draw": f"Draw: both planes fell in round {winning_strikes}"}[record["outcome"]]
    assert expected in text, text[:3000]


ESCAPES = re.compile(r"\x1b\[[0-9;?<>=$]*[a-zA-Z~]|\x1b[=>()][0-9A-Z]?|\x1b\].*?(?:\x07|\x1b\\)")


def test_a_talk_demo_records_with_asciinema(tmux, tmp_path):
    """The README's recipe for a talk: `asciinema rec -c "planestrike ..."` records the app as it plays."""
    asciinema = Path(sys.executable).parent / "asciinema"  # a test dependency (pyproject's test extra)
    cast = tmp_path / "demo.cast"
    status_file = tmp_path / "status"
    command = (f"{asciinema} rec --quiet -c '{PLANESTRIKE} --opponent hunter --panels hunter' {cast}; "
               f"echo $? > {status_file}; sleep 30")
    tmux.run("new-session", "-d", "-s", "game", "-x", "120", "-y", "40", command)
    tmux.wait_for("Your turn")
    tmux.run("send-keys", "-t", "game", "Enter")
    tmux.wait_for("1 strike · ")
    tmux.run("send-keys", "-t", "game", "C-q")
    assert tmux.exit_status(status_file) == "0", tmux.screen()
    header, *events = (json.loads(line) for line in cast.read_text().splitlines())
    assert header["version"] == 2 and (header["width"], header["height"]) == (120, 40)
    shown = ESCAPES.sub("", "".join(data for _, kind, data in events if kind == "o"))
    assert "Your turn" in shown and "1 strike · " in shown
