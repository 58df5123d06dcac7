"""Two-player matches: the person strikes first, the agent answers, and the end is checked after both moves."""

import numpy as np
import pytest

from engine import PLACEMENTS, HunterAgent, Match, Outcome, RandomAgent, play_match


def plane(index):
    return [int(a) for a in PLACEMENTS.cells[index]]


def play_rounds(match, first_moves, second_moves):
    for a, b in zip(first_moves, second_moves):
        match.strike(a)
        if match.over:
            break
        match.strike(b)
        if match.over:
            break


def test_both_planes_falling_in_the_same_round_is_a_draw():
    match = Match(first_plane=3, second_plane=77)
    # first strikes the second's plane (77), second strikes the first's plane (3): both need exactly 8 strikes.
    play_rounds(match, plane(77), plane(3))
    assert match.outcome is Outcome.DRAW
    assert match.boards[0].strikes == match.boards[1].strikes == 8


def test_first_player_finishing_still_lets_the_second_answer_before_winning():
    match = Match(first_plane=3, second_plane=77)
    second_moves = [a for a in range(64) if not PLACEMENTS.masks[3, a]]
    for i, action in enumerate(plane(77)):
        match.strike(action)
        assert not match.over  # the round is not complete yet
        match.strike(second_moves[i])
    assert match.outcome is Outcome.FIRST_WINS


def test_second_player_can_win():
    match = Match(first_plane=3, second_plane=77)
    first_moves = [a for a in range(64) if not PLACEMENTS.masks[77, a]]
    play_rounds(match, first_moves, plane(3))
    assert match.outcome is Outcome.SECOND_WINS
    with pytest.raises(ValueError, match="over"):
        match.strike(first_moves[-1])


def test_agent_matches_are_reproducible_and_the_hunter_beats_random():
    results = [play_match(HunterAgent(), RandomAgent(seed=i), np.random.default_rng(i)) for i in range(20)]
    again = [play_match(HunterAgent(), RandomAgent(seed=i), np.random.default_rng(i)) for i in range(20)]
    assert [r.moves for r in results] == [r.moves for r in again]
    wins = sum(r.outcome is Outcome.FIRST_WINS for r in results)
    assert wins >= 18
    for record in results:
        first, second = record.strikes
        assert first == sum(1 for p, _ in record.moves if p == 0)
        assert first == second  # a match only ends after a complete round
