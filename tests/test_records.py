"""Game records (engine.records): the format, hostile files, atomic appends and a kill in the middle of one."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.agents import HunterAgent, RandomAgent
from engine.errors import PlanestrikeError
from engine.match import Match
from engine.records import (MAX_FILE_BYTES, MAX_LINE_BYTES, BadRecord, GameRecord, Player, append_record,
                            model_sha256, read_records, records_path, rotated_path)

ROOT = Path(__file__).resolve().parents[1]
YOU = Player("You", None, None)
HUNTER = Player("Hunter", "hunter", None)


def played(seed: int, first=None, second=None, mode: str = "spectator") -> GameRecord:
    """A real game between two agents (the hunter by default) on planes drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    planes = tuple(int(p) for p in rng.integers(0, 120, 2))
    agents = (first or HunterAgent(), second or HunterAgent())
    match, moves = Match(*planes), []
    while not match.over:
        player = match.to_move
        cell = int(agents[player].choose(match.boards[player].observation()))
        moves.append((player, cell, match.strike(cell)))
    names = {HunterAgent: HUNTER, RandomAgent: Player("Random", "random", None)}
    players = (YOU, HUNTER) if mode == "person" else tuple(names[type(agent)] for agent in agents)
    return GameRecord(seed=seed, game=1, mode=mode, players=players, planes=planes, moves=tuple(moves),
                      outcome=match.outcome.value, finished_at="2026-12-03T19:04:11Z")


def as_json(record: GameRecord) -> dict:
    return json.loads(record.to_json())


def test_records_path_follows_xdg_data_home(tmp_path):
    assert records_path() == tmp_path / "xdg-data" / "planestrike" / "games.jsonl"  # conftest's fixture


def test_round_trip_and_readable_lines(tmp_path):
    records = [played(seed, mode="person" if seed % 2 else "spectator") for seed in range(5)]
    for record in records:
        assert append_record(record) == records_path()
    assert read_records() == records
    lines = records_path().read_text().splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert set(first) == {"version", "seed", "game", "mode", "players", "planes", "moves", "outcome", "finished_at"}
    assert first["moves"][0][0] == 0 and isinstance(first["moves"][0][2], bool)
    # match_after replays the record: at the end, the outcome is the recorded one and both planes are known
    end = records[0].match_after(len(records[0].moves))
    assert end.over and end.outcome.value == records[0].outcome
    assert records[0].match_after(0).boards[0].strikes == 0


def test_a_missing_default_file_is_no_records_but_a_missing_named_file_is_an_error(tmp_path):
    assert read_records() == []
    with pytest.raises(PlanestrikeError, match="no such file"):
        read_records(tmp_path / "nope.jsonl")


def line_error(tmp_path, text: str | bytes) -> str:
    path = tmp_path / "games.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(PlanestrikeError) as caught:
        read_records(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def good_line() -> dict:
    return as_json(played(7))


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(seed=-1), "seed must be a whole number from 0"),
    (lambda d: d.update(seed="3"), "seed must be a whole number"),
    (lambda d: d.update(seed=1.0), "seed must be a whole number"),
    (lambda d: d.update(game=0), "game must be a whole number from 1"),
    (lambda d: d.update(version=2), "version must be 1"),
    (lambda d: d.update(version=True), "version must be 1"),
    (lambda d: d.update(mode="robot"), "mode must be one of person, spectator"),
    (lambda d: d.update(mode="person"), "the person first"),
    (lambda d: d.update(planes=[1]), "planes must hold exactly two"),
    (lambda d: d.update(planes=[1, 120]), r"planes\[1\] must be a whole number from 0 to 119"),
    (lambda d: d.update(outcome="win"), "outcome must be one of first, second, draw"),
    (lambda d: d.update(finished_at="yesterday"), "finished_at must be an ISO 8601"),
    (lambda d: d.update(finished_at="2026-02-30T10:00:00Z"), "not a date and time that exists"),
    (lambda d: d.update(extra=1), "unknown extra"),
    (lambda d: d.pop("moves"), "missing moves"),
    (lambda d: d["players"][0].update(model_sha256="xyz"), "model_sha256 must be 64 lowercase hex"),
    (lambda d: d["players"][0].update(name=""), "name must be a non-empty string"),
    (lambda d: d["players"][0].update(spec="x" * 5000), "more than 4,096"),
    (lambda d: d["players"][0].update(name="\x1b[2J"), "contains a control character"),
    (lambda d: d.update(players=[d["players"][0]]), "players must be a list of two"),
    (lambda d: d["moves"].__setitem__(0, [0, 64, False]), "move 1's cell must be a whole number from 0 to 63"),
    (lambda d: d["moves"].__setitem__(0, [2, 1, False]), "move 1's player must be a whole number from 0 to 1"),
    (lambda d: d["moves"].__setitem__(0, [0, 1, 0]), "move 1's hit must be true or false"),
    (lambda d: d["moves"].__setitem__(0, [0, 1]), r"move 1 must be \[player, cell, hit\]"),
    (lambda d: d["moves"].__setitem__(0, [1] + d["moves"][0][1:]), "it is player 0's turn"),
    (lambda d: d["moves"].__setitem__(2, d["moves"][0]), "already struck"),
    (lambda d: d["moves"].__setitem__(0, d["moves"][0][:2] + [not d["moves"][0][2]]), "but the plane there"),
    (lambda d: d["moves"].pop(), "not over"),
    (lambda d: d["moves"].extend([[0, c, False] for c in range(1)]), "after the end of the game"),
    (lambda d: d.update(outcome="draw" if d["outcome"] != "draw" else "first"), "not the recorded outcome"),
])
def test_hostile_records_are_one_line_naming_the_problem(tmp_path, change, expected):
    data = good_line()
    change(data)
    message = line_error(tmp_path, json.dumps(data) + "\n")
    assert "games.jsonl, line 1: " in message
    assert re.search(expected, message), message


@pytest.mark.parametrize("text, expected", [
    ("{not json\n", "not valid JSON"),
    ("[1, 2, 3]\n", "a record is a JSON object, got list"),
    ('{"seed": NaN}\n', "not valid JSON"),
    ("[" * 5000 + "]" * 5000 + "\n", "not valid JSON|a record is a JSON object"),
    (b"\xff\xfe\n", "not UTF-8"),
    ("x" * (MAX_LINE_BYTES + 1) + "\n", "more than the 16,384 a record may have"),
], ids=["broken", "a list", "NaN", "deep nesting", "not UTF-8", "a huge line"])
def test_files_that_are_not_records(tmp_path, text, expected):
    message = line_error(tmp_path, text)
    assert re.search(expected, message), message


def test_the_bad_line_is_named_after_good_ones_and_blank_lines_are_skipped(tmp_path):
    good = played(1).to_json()
    message = line_error(tmp_path, f"{good}\n\n{good}\n{{}}\n")
    assert "line 4: " in message


def test_a_file_over_the_limit_or_not_a_file_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(PlanestrikeError, match="more than the 8,388,608 bytes"):
        read_records(big)
    with pytest.raises(PlanestrikeError, match="is a directory"):
        read_records(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PlanestrikeError, match="named pipe"):
        read_records(fifo)


def test_a_record_is_checked_when_it_is_made_too():
    record = played(2)
    with pytest.raises(BadRecord, match="not over"):
        GameRecord(**{**record.__dict__, "moves": record.moves[:-1]})
    with pytest.raises(BadRecord, match="the person first"):
        GameRecord(**{**record.__dict__, "mode": "person"})


def test_a_file_without_a_final_newline_keeps_its_last_line(tmp_path):
    path = tmp_path / "games.jsonl"
    path.write_text(played(1).to_json())  # no newline at the end, as an editor may leave it
    append_record(played(2), path)
    assert [r.seed for r in read_records(path)] == [1, 2]


def test_a_full_file_rotates_to_games_1(tmp_path, monkeypatch):
    import engine.records

    path = tmp_path / "games.jsonl"
    line_bytes = len(played(1).to_json()) + 1
    monkeypatch.setattr(engine.records, "MAX_FILE_BYTES", 3 * line_bytes + 10)
    for seed in range(1, 5):  # the fourth does not fit beside three: the three move to games.1.jsonl
        append_record(GameRecord(**{**played(1).__dict__, "seed": seed}), path)
    assert [r.seed for r in read_records(rotated_path(path))] == [1, 2, 3]
    assert [r.seed for r in read_records(path)] == [4]
    assert rotated_path(path).name == "games.1.jsonl"


def test_model_sha256(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"abc")
    assert model_sha256(model) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert model_sha256(tmp_path / "missing") is None
    assert model_sha256(tmp_path) is None
    assert model_sha256(None) is None


def test_a_random_agents_long_game_fits_a_line():
    record = played(5, first=RandomAgent(1), second=RandomAgent(2))
    assert len(record.moves) > 80
    assert len(record.to_json()) < MAX_LINE_BYTES


# ------------------------------------------------------------------------------------------ the kill test
APPENDER = """
import sys
from pathlib import Path
from engine.records import GameRecord, append_record
line = Path(sys.argv[2]).read_text()
record = GameRecord.from_json(line)
print("ready", flush=True)
game = 1
while True:
    game += 1
    append_record(GameRecord(**{**record.__dict__, "game": game}), Path(sys.argv[1]))
"""


def test_the_file_survives_a_kill_during_an_append(tmp_path):
    """A real process appends in a loop to a file of a few thousand games (each append rewrites megabytes, so
    much of its time is spent writing), and is SIGKILLed at a random moment, until two kills have landed mid-write
(a temporary file left behind). After each kill the
    file reads cleanly with every game it had; the temporary file a kill leaves is removed by the next append."""
    path = tmp_path / "data" / "games.jsonl"
    path.parent.mkdir()
    record = played(11, first=RandomAgent(3), second=RandomAgent(4))
    line = record.to_json() + "\n"
    path.write_text(line * (4_000_000 // len(line)))  # about 4 MB: a rewrite takes milliseconds
    template = tmp_path / "record.json"
    template.write_text(record.to_json())
    count = len(read_records(path))
    rng = np.random.default_rng(0)
    kills, kills_mid_write = 0, 0
    while kills_mid_write < 2 and kills < 30:  # about half the kills land mid-write; 30 misses in a row: never
        kills += 1
        appender = subprocess.Popen([sys.executable, "-c", APPENDER, str(path), str(template)], cwd=ROOT,
                                    stdout=subprocess.PIPE, text=True)
        assert appender.stdout.readline().strip() == "ready"
        time.sleep(0.1 + rng.uniform(0, 0.2))
        appender.send_signal(signal.SIGKILL)
        appender.wait(timeout=10)
        appender.stdout.close()
        leftovers = list(path.parent.glob(".games.jsonl.*.tmp"))
        kills_mid_write += bool(leftovers)
        records = read_records(path)  # whole lines only: the old file or the new one
        assert len(records) >= count
        count = len(records)
    assert kills_mid_write >= 1, "no kill landed in the middle of a write: the test proved nothing"
    append_record(record, path)  # the next append cleans what the killed ones left
    assert not list(path.parent.glob(".games.jsonl.*.tmp"))
    assert len(read_records(path)) == count + 1
