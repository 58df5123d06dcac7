"""`planestrike solve` and `planestrike eval --regret` through real subprocesses: output and every bad input."""

import json

import pytest
from litert_helpers import assert_one_line_error, run_cli

from engine.rules import PLACEMENTS

EMPTY = "." * 64
# A miss on D4, a hit on D5, as 8 rows of 8 (spaces are ignored).
D4_MISS_D5_HIT = "........ ........ ........ ...ox... ........ ........ ........ ........"


def test_the_empty_board_is_worth_12_05_with_the_four_centre_cells_optimal():
    result = run_cli("solve", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["value"] == 12.05 and report["exact"]["value"] == "241/20"
    assert report["optimal"] == ["D4", "D5", "E4", "E5"] and report["placements"] == 120
    assert len(report["cells"]) == 64
    assert report["cells"]["A1"] == pytest.approx(12.9083, abs=1e-4) and report["exact"]["cells"]["A1"] == "1549/120"
    assert report["board"] == EMPTY


def test_the_text_report_shows_the_value_and_a_grid_marking_the_optimal_cells():
    result = run_cli("solve")
    assert result.returncode == 0, result.stderr
    assert "12.0500 expected strikes" in result.stdout and "exactly 241/20" in result.stdout
    rows = {line[0]: line for line in result.stdout.splitlines() if line[:1] in "ABCDEFGH" and line[1:3] == "  "}
    assert rows["D"].split()[4:6] == ["12.0500*", "12.0500*"] and rows["A"].split()[1] == "12.9083"


def test_a_position_mid_game():
    result = run_cli("solve", "--board", D4_MISS_D5_HIT, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = int((PLACEMENTS.masks[:, 28] & ~PLACEMENTS.masks[:, 27]).sum())  # cover D5, not D4
    assert report["placements"] == expected
    assert "D4" not in report["cells"] and "D5" not in report["cells"]
    assert min(report["cells"].values()) == pytest.approx(report["value"])
    assert all(report["cells"][name] == pytest.approx(report["value"]) for name in report["optimal"])
    assert report["board"][27:29] == "ox"


@pytest.mark.parametrize("board, fragments", [
    ("." * 63, ["argument --board: has 63 cells, a board has 64", "'.' untried, 'x' hit, 'o' miss"]),
    ("." * 65, ["has 65 cells"]),
    ("." * 20 + "z" + "." * 43, ["has 'z' at cell C5 (character 21)"]),
    ("x" + "." * 62 + "x", ["no placement of the plane agrees with this board", "A1 H8", "check the hits"]),
    ("o" * 64, ["each of the 120 placements covers one of its misses"]),
    ("x" * 9 + "." * 55, ["9 hits"]),
    ("", ["has 0 cells"]),
])
def test_bad_boards_are_one_line_exit_2(board, fragments):
    assert_one_line_error(run_cli("solve", "--board", board), *fragments)


def test_a_finished_game_has_nothing_left_to_strike():
    cells = ["o"] * 64
    for c in PLACEMENTS.cells[0]:
        cells[int(c)] = "x"
    result = run_cli("solve", "--board", "".join(cells))
    assert result.returncode == 0, result.stderr
    assert "the game is over" in result.stdout


def test_eval_optimal_exact_prints_12_0500():
    result = run_cli("eval", "--agent", "optimal", "--exact")
    assert result.returncode == 0, result.stderr
    assert "mean strikes    12.0500" in result.stdout


def test_eval_regret_of_the_hunter_is_one_fortieth():
    result = run_cli("eval", "--agent", "hunter", "--regret", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["exact"] is True and report["games"] == 120 and report["mean_strikes"] == 12.075
    assert report["regret_mean"] == pytest.approx(0.025) and report["regret"]["exact"]["regret_mean"] == "1/40"
    assert len(report["regret"]["games"]) == 120 and len(report["regret"]["mistakes"]) == 3
    extra = sum(game["extra"] for game in report["regret"]["games"]) / 120
    assert extra == pytest.approx(report["regret_mean"])
    text = run_cli("eval", "--agent", "hunter", "--regret").stdout
    assert "0.0250 strikes per game (exactly 1/40)" in text and "where it loses strikes" in text


@pytest.mark.parametrize("args, fragment", [
    (["eval", "--agent", "random", "--regret"], "--regret needs a deterministic agent"),
    (["eval", "--regret", "--placements", "legacy"], "drop --placements legacy"),
])
def test_eval_regret_refuses_what_it_cannot_measure(args, fragment):
    assert_one_line_error(run_cli(*args), fragment)
