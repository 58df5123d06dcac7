"""`planestrike replay`: a recorded game in the app, stepped move by move with every panel recomputed for the
position shown, and `--export` writing a position as an SVG with no terminal. Real agents (the hunter and optimal
play: deterministic, so a position always gets the same answer), real records files, the real command."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.agents import HunterAgent, OptimalAgent
from engine.match import Match
from engine.records import GameRecord, Player, append_record, read_records, records_path
from engine.solver import regret
from litert_helpers import assert_one_line_error, run_cli
from planestrike_tui.roster import SlotState
from planestrike_tui.screens.replay import replay_app
from tui_helpers import svg_text, wait_until

PANELS = ("hunter", "optimal")
YOU, HUNTER, OPTIMAL = Player("You", None, None), Player("Hunter", "hunter", None), Player("Optimal", "optimal", None)


class RowByRow:
    """A person who strikes A1, A2, ... in order: a real game with strikes lost to perfect play."""

    def choose(self, board: np.ndarray) -> int:
        return int(np.flatnonzero(np.asarray(board).reshape(-1) == 0)[0])


def played(first, second, players: tuple[Player, Player], planes=(17, 93), mode: str = "spectator") -> GameRecord:
    match, moves, agents = Match(*planes), [], (first, second)
    while not match.over:
        player = match.to_move
        cell = int(agents[player].choose(match.boards[player].observation()))
        moves.append((player, cell, match.strike(cell)))
    return GameRecord(seed=4, game=1, mode=mode, players=players, planes=planes, moves=tuple(moves),
                      outcome=match.outcome.value, finished_at="2026-12-03T19:04:11Z")


def person_game() -> GameRecord:
    return played(RowByRow(), HunterAgent(), (YOU, HUNTER), mode="person")


async def settled(pilot) -> None:
    screen = pilot.app.replay
    await wait_until(pilot, screen.settled, "the panels' answers and the moves' regrets", timeout=60)
    for worker in list(pilot.app.workers):
        await worker.wait()
    await pilot.pause()


def status(app) -> str:
    return str(app.replay.query_one("#status").render())


# ------------------------------------------------------------------------------------------------ the app
@pytest.mark.asyncio
async def test_stepping_rebuilds_both_boards_and_every_panel_answers_the_position_shown():
    record = played(HunterAgent(), OptimalAgent(), (HUNTER, OPTIMAL))
    app = replay_app(record, PANELS, move=0, label="game 1 of 1 in games.jsonl")
    total = len(record.moves)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.replay
        await settled(pilot)
        assert "move 0 of " in status(app) and "before the first strike" in status(app)
        for move in range(total + 1):
            if move:
                await pilot.press("right")
                await settled(pilot)
            assert screen.move == move
            match = record.match_after(move)
            for widget_id, board in (("#first-target", match.boards[0]), ("#second-target", match.boards[1])):
                assert np.array_equal(screen.query_one(widget_id).view.observation, board.observation())
            # The panels answer the board about to be struck (at the end: the last move's board).
            number = min(move, total - 1)
            player, cell, _ = record.moves[number]
            board = record.match_after(number).boards[player].observation()
            thoughts = screen.current_thoughts()
            assert set(thoughts) == set(PANELS)
            assert thoughts["hunter"].choice == HunterAgent().choose(board)
            assert thoughts["optimal"].choice == OptimalAgent().choose(board)
            # Both players are panels here, so each one's panel strikes the cell it really struck.
            assert thoughts[PANELS[player]].choice == cell
            marked = "#first-target" if player == 0 else "#second-target"
            assert screen.query_one(marked).border_title.endswith("panels ▼")
        assert "Optimal wins" in status(app) or "Hunter wins" in status(app) or "Draw" in status(app)
        await pilot.press("right")  # past the end: stays there
        assert screen.move == total
        await pilot.press("home")
        assert screen.move == 0
        await pilot.press("end")
        assert screen.move == total
        await pilot.press("left", "h")
        assert screen.move == total - 2
        await pilot.press("l")
        assert screen.move == total - 1
        assert "game 1 of 1 in games.jsonl" in screen.sub_title


@pytest.mark.asyncio
async def test_each_move_is_scored_against_perfect_play_and_the_end_sums_it_up():
    record = person_game()
    app = replay_app(record, ("hunter",))
    async with app.run_test(size=(140, 45)) as pilot:
        await settled(pilot)
        lost = [0.0, 0.0]
        for number, (player, cell, _) in enumerate(record.moves):
            lost[player] += float(regret(record.match_after(number).boards[player].observation(), cell))
        assert lost[0] > 0.5  # row by row is far from perfect
        text = status(app)
        assert f"You lost {lost[0]:.2f} strikes to perfect play; Hunter {lost[1]:.2f}." in text
        assert "Hunter wins in " in text and "(You had " in text
        # A move in the middle: its own regret, and the total so far.
        await pilot.press("home", "right", "right", "right")
        await settled(pilot)
        third = float(regret(record.match_after(2).boards[0].observation(), record.moves[2][1]))
        so_far = sum(float(regret(record.match_after(n).boards[0].observation(), record.moves[n][1]))
                     for n in (0, 2))
        assert f"move 3 of {len(record.moves)}: You struck " in status(app)
        assert f"regret {third:+.3f}" in status(app)
        assert f"You lost {so_far:.2f} strikes to perfect play so far" in status(app)
        # The person's game: the agent's plane is revealed only at the end.
        assert app.replay.query_one("#first-target").view.plane is None
        await pilot.press("end")
        assert app.replay.query_one("#first-target").view.plane is not None


@pytest.mark.asyncio
async def test_a_panel_that_cannot_load_says_why_and_the_rest_steps_on(tmp_path):
    record = person_game()
    missing = f"tflite:{tmp_path / 'gone.tflite'}"
    app = replay_app(record, ("hunter", missing))
    async with app.run_test(size=(140, 45)) as pilot:
        await settled(pilot)
        assert app.roster.slots[missing].state is SlotState.FAILED
        await pilot.press("left")
        await settled(pilot)
        assert set(app.replay.current_thoughts()) == {"hunter"}


# ------------------------------------------------------------------------------------------------ the command
def test_export_writes_the_final_position_and_any_move_as_an_svg(tmp_path):
    record = person_game()
    append_record(played(HunterAgent(), OptimalAgent(), (HUNTER, OPTIMAL)))
    append_record(record)
    out = tmp_path / "slides" / "end.svg"
    out.parent.mkdir()
    result = run_cli("replay", "--last", "--export", out)
    total = len(record.moves)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out} (game 2 of 2 in games.jsonl, move {total} of {total}, 140x45)"
    text = svg_text(out.read_text())
    assert f"move {total} of {total}: Hunter struck" in text and "Hunter wins in " in text
    assert "You lost " in text and "strikes to perfect play; Hunter " in text
    assert "p(hit)" in text  # the hunter's panel had answered before the screenshot was taken
    assert "loading" not in text
    # --move, --game, --panels and --size; the old file is replaced whole, with no temporary file left beside it
    result = run_cli("replay", "--game", "1", "--move", "0", "--panels", "optimal", "--size", "120x40",
                     "--export", out)
    assert result.returncode == 0, result.stderr
    assert "(game 1 of 2 in games.jsonl, move 0 of " in result.stdout and "120x40)" in result.stdout
    text = svg_text(out.read_text())
    assert "before the first strike" in text and "Optimal" in text and "You lost" not in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["end.svg"]


def test_export_needs_no_terminal(tmp_path):
    append_record(person_game())
    out = tmp_path / "end.svg"
    env = {key: value for key, value in os.environ.items() if key not in ("TERM", "COLUMNS", "LINES")}
    import subprocess

    from litert_helpers import PLANESTRIKE

    result = subprocess.run([PLANESTRIKE, "replay", "--export", str(out), "--panels", "hunter"], env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "Hunter wins in " in svg_text(out.read_text())


def write_records(path: Path, *records: GameRecord) -> Path:
    path.write_text("".join(record.to_json() + "\n" for record in records))
    return path


@pytest.mark.parametrize("args, fragments", [
    (["--last"], ["no games recorded yet in", "play one to the end"]),
    (["{missing}"], ["no such file"]),
    (["{folder}"], ["is a directory"]),
    (["{bad}"], ["line 2", "not valid JSON", "fix or delete that line"]),
    (["{good}", "--move", "99"], ["--move 99: game 1 has ", "use 0 to "]),
    (["{good}", "--move", "500"], ["argument --move: must be a whole number from 0 to 128"]),
    (["{good}", "--game", "3"], ["--game 3: ", "holds 1 game: use 1 to 1, or -1 to -1"]),
    (["{good}", "--game", "0"], ["records count from 1"]),
    (["{good}", "--last", "--game", "1"], ["not allowed with argument --last"]),
    (["{good}", "--size", "80x24"], ["--size sets the size of an --export screenshot"]),
    (["{good}", "--export", "{out}", "--size", "10x10"], ["columns must be from 40 to 400"]),
    (["{good}", "--export", "{out}", "--size", "big"], ["must be COLUMNSxROWS"]),
    (["{good}", "--export", "{png}"], ["the screenshot is an SVG"]),
    (["{good}", "--export", "{nowhere}"], ["does not exist: make it first"]),
    (["{good}", "--export", "{folder_svg}"], ["is a folder"]),
    (["{good}", "--panels", "nosuch", "--export", "{out}"], ["unknown agent 'nosuch'"]),
    (["{good}", "--panels", "hunter,hunter"], ["the same panel twice"]),
])
def test_bad_input_is_one_line_never_a_traceback(tmp_path, args, fragments):
    (tmp_path / "folder.svg").mkdir()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(person_game().to_json() + "\n{not json\n")
    names = {"missing": tmp_path / "gone.jsonl", "folder": tmp_path, "bad": bad,
             "good": write_records(tmp_path / "good.jsonl", person_game()), "out": tmp_path / "out.svg",
             "png": tmp_path / "out.png", "nowhere": tmp_path / "no" / "out.svg", "folder_svg": tmp_path / "folder.svg"}
    result = run_cli("replay", *(str(names[a[1:-1]]) if a.startswith("{") else a for a in args))
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "out.svg").exists()


def test_an_export_never_overwrites_its_input(tmp_path):
    # A records file may have any name: one ending in .svg is still refused as the output, however it is reached.
    records = write_records(tmp_path / "games.svg", person_game())
    before = records.read_bytes()
    link = tmp_path / "link.svg"
    os.link(records, link)
    for out in (records, link, tmp_path / "." / "games.svg"):
        result = run_cli("replay", records, "--export", out)
        assert_one_line_error(result, "is the records file", "choose another name")
    assert records.read_bytes() == before
    # The default records file, too.
    default = records_path()
    default.parent.mkdir(parents=True)
    write_records(default.with_name("games.svg"), person_game())
    append_record(person_game())
    assert read_records()
    result = run_cli("replay", default.with_name("games.svg"), "--export", default.with_name("games.svg"))
    assert_one_line_error(result, "is the records file")
