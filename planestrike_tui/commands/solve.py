"""`planestrike solve`: optimal play from a board, exactly, and what every cell would cost."""

from __future__ import annotations

import argparse
import json


def register(commands: argparse._SubParsersAction) -> None:
    from engine.board_text import EMPTY_BOARD, FORMAT_HELP

    parser = commands.add_parser(
        "solve",
        help="the exact optimal expected game length from a board, and every cell's",
        description="Solve a position exactly: the expected total strikes of the game with optimal play, and for "
        "every untried cell the expected total if it is struck next and play is optimal afterwards (under uniform "
        "placements, as the app draws them).",
    )
    parser.add_argument("--board", type=board_argument, default=EMPTY_BOARD, metavar="B",
                        help=f"the board struck so far: {FORMAT_HELP} (default: the empty board)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a grid")
    parser.set_defaults(run=run)


def board_argument(text: str):
    """The board, checked whole: its text, and that some placement agrees with it."""
    from engine.beliefs import belief
    from engine.board_text import parse_board
    from engine.errors import BadBoard

    try:
        board = parse_board(text)
        belief(board)
    except BadBoard as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return board


def run(args: argparse.Namespace) -> int:
    import time

    from engine.board_text import format_board
    from engine.rules import HIT, MISS, cell_name
    from engine.solver import solve

    start = time.perf_counter()
    solution = solve(args.board)
    seconds = time.perf_counter() - start
    flat = args.board.reshape(-1)
    informative = solution.informative
    if args.json:
        print(json.dumps({
            "board": format_board(args.board),
            "placements": solution.placements,
            "value": float(solution.value),
            "optimal": [cell_name(cell) for cell in solution.optimal],
            "cells": {cell_name(cell): float(solution.cells[cell]) for cell in informative},
            "sure_hits": [cell_name(cell) for cell in solution.sure_hits],
            "sure_misses": [cell_name(cell) for cell in solution.sure_misses],
            "exact": {"value": str(solution.value),
                      "cells": {cell_name(cell): str(solution.cells[cell]) for cell in informative}},
            "seconds": seconds,
        }))
        return 0

    hits, misses = int((flat == HIT).sum()), int((flat == MISS).sum())

    def names(cells) -> str:
        return " ".join(cell_name(cell) for cell in cells) or "none"

    print(f"{'position':<15} {_position_text(hits, misses)}; {solution.placements} placement"
          f"{'s' if solution.placements > 1 else ''} agree with it")
    if not solution.optimal:
        print(f"{'value':<15} {solution.value} strikes: the game is over, all 8 plane cells are hit")
        return 0
    print(f"{'value':<15} {float(solution.value):.4f} expected strikes in all with optimal play "
          f"(exactly {solution.value})")
    print(f"{'optimal':<15} {names(solution.optimal)}")
    if solution.sure_hits:
        print(f"{'sure hits':<15} {names(solution.sure_hits)} (every agreeing placement covers them: optimal, "
              "no miss)")
    if solution.sure_misses and informative:
        print(f"{'sure misses':<15} {len(solution.sure_misses)} cells no agreeing placement covers "
              f"({float(solution.value + 1):.4f} each)")
    print(f"{'time':<15} {seconds:.2f} s")
    print("\nexpected strikes in all if the cell is struck next, then optimal play (* optimal, + sure hit, "
          "- sure miss, x hit, o miss):")
    marks = {cell: "*" for cell in solution.optimal}
    print("   " + "".join(f"{col:>9}" for col in range(1, 9)))
    for row in range(8):
        line = []
        for cell in range(row * 8, row * 8 + 8):
            if flat[cell] == HIT:
                line.append(f"{'x':>8} ")
            elif flat[cell] == MISS:
                line.append(f"{'o':>8} ")
            elif cell in solution.sure_misses:
                line.append(f"{'-':>8} ")
            elif cell in solution.sure_hits:
                line.append(f"{'+':>8}*")
            else:
                line.append(f"{float(solution.cells[cell]):>8.4f}{marks.get(cell, ' ')}")
        print(f"{'ABCDEFGH'[row]}  " + "".join(line).rstrip())
    return 0


def _position_text(hits: int, misses: int) -> str:
    if not hits and not misses:
        return "no strikes yet"
    return f"{hits} hit{'s' if hits != 1 else ''}, {misses} miss{'es' if misses != 1 else ''}"
