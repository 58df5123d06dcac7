"""`planestrike replay`: a recorded game in the app, move by move, or one position of it as an SVG screenshot."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path

from engine.errors import PlanestrikeError
from engine.limits import WholeRange
from planestrike_tui.commands.arguments import in_range, limit_help, path
from planestrike_tui.commands.play import panel_list

GAME_INDEX = WholeRange(-10**6, 10**6)  # K-th record, negative from the end; 0 is refused below
MOVE = WholeRange(0, 128)  # a game has at most 2 x 64 strikes
WIDTH, HEIGHT = WholeRange(40, 400), WholeRange(12, 200)  # the screenshot's terminal size, in cells
DEFAULT_SIZE = (140, 45)  # the large layout (docs/app.md): boards of square cells, labelled panels
EXPORT_TIMEOUT_S = 120.0  # the longest --export waits for the panels (a Flax panel loads in seconds)
DEFAULT_EXTRA_PANEL = "hunter"


def terminal_size(text: str) -> tuple[int, int]:
    """``--size WxH``: columns and rows of the headless terminal the screenshot is taken in."""
    match = re.fullmatch(r"\s*(\d{1,4})\s*[xX]\s*(\d{1,4})\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"must be COLUMNSxROWS such as 140x45, got {text[:40]!r}")
    width, height = int(match[1]), int(match[2])
    for value, limits, name in ((width, WIDTH, "columns"), (height, HEIGHT, "rows")):
        if not limits.low <= value <= limits.high:
            raise argparse.ArgumentTypeError(f"{name} must be from {limits.low} to {limits.high}, got {value}")
    return width, height


def game_index(text: str) -> int:
    value = in_range(GAME_INDEX)(text)
    if value == 0:
        raise argparse.ArgumentTypeError("records count from 1 (the oldest); -1 is the last: 0 is neither")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "replay",
        help="step through a recorded game in the app, or save a position of it as an SVG",
        description="Open a finished game from the records file (every game the app finishes is recorded) and "
        "step through it: left/right (h/l) one move, home/end the start and the end, with each agent's panel "
        "recomputed for the position. --export writes a position as an SVG screenshot instead, with no terminal.",
    )
    parser.add_argument("file", nargs="?", type=path, metavar="FILE",
                        help="a records file (default: games.jsonl in the data folder, $XDG_DATA_HOME/planestrike)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--last", action="store_true", help="the last game in the file (the default)")
    which.add_argument("--game", type=game_index, metavar="K",
                       help="the K-th game in the file, 1 the oldest, -1 the last, -2 the one before")
    parser.add_argument("--move", type=in_range(MOVE), metavar="N",
                        help=f"the position after N moves, {limit_help(MOVE)} up to the game's length "
                        "(default: the end)")
    parser.add_argument("--export", type=path, metavar="OUT.svg",
                        help="write the position as an SVG screenshot (a headless app: no terminal needed) and exit")
    parser.add_argument("--panels", type=panel_list, metavar="SPEC,SPEC,...",
                        help="the agents shown, 1 to 6 --agent specs (default: the game's agents and the hunter)")
    parser.add_argument("--size", type=terminal_size, metavar="WxH",
                        help=f"with --export: the screenshot's size in terminal cells, {WIDTH.low}-{WIDTH.high} x "
                        f"{HEIGHT.low}-{HEIGHT.high} (default: {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]})")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.records import read_records, records_path, rotated_path

    if args.size is not None and args.export is None:
        raise PlanestrikeError("--size sets the size of an --export screenshot: add --export OUT.svg, or leave "
                               "--size out (the app takes the terminal's size)")
    source = args.file if args.file is not None else records_path()
    if args.export is not None:
        check_output(args.export, [source, records_path(), rotated_path(records_path())])
    records = read_records(args.file)
    if not records:
        raise PlanestrikeError(f"no games recorded yet in {source}: play one to the end (planestrike play, or "
                               "spectator mode with s) and it is recorded there")
    index = (args.game if args.game is not None else -1)
    if not -len(records) <= index <= len(records):
        raise PlanestrikeError(f"--game {index}: {source} holds {len(records)} game"
                               f"{'' if len(records) == 1 else 's'}: use 1 to {len(records)}, or -1 to -{len(records)}")
    number = index if index > 0 else len(records) + 1 + index
    record = records[number - 1]
    if args.move is not None and args.move > len(record.moves):
        raise PlanestrikeError(f"--move {args.move}: game {number} has {len(record.moves)} moves: use 0 to "
                               f"{len(record.moves)}")
    panels = args.panels or default_panels(record)
    from engine.specs import check_agent_spec

    for spec in panels:  # a spec that names no agent is refused as `play` refuses it, before the app opens
        check_agent_spec(spec)
    label = f"game {number} of {len(records)} in {source.name}"
    if args.export is not None:
        return export(record, panels, args.move, label, args.export, args.size or DEFAULT_SIZE)
    from planestrike_tui.screens.replay import replay_app

    app = replay_app(record, panels, move=args.move, label=label)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as `play`: Textual restores the terminal
    app.run()
    return app.return_code or 0


def default_panels(record) -> tuple[str, ...]:
    """The game's agents (each once), then the hunter, at most six panels."""
    from planestrike_tui.roster import MAX_PANELS, canonical_spec

    specs = [player.spec for player in record.players if player.spec is not None] + [DEFAULT_EXTRA_PANEL]
    unique: dict[str, str] = {}
    for spec in specs:  # two spellings of one agent (hunter against hunter) are one panel
        unique.setdefault(canonical_spec(spec), spec)
    return tuple(list(unique.values())[:MAX_PANELS])


def check_output(out: Path, inputs: list[Path]) -> None:
    """An SVG path that may be written: never an input (the records file), always ``.svg``, in a folder that
    exists and can be written."""
    from engine.files import check_writable

    if out.suffix.lower() != ".svg":
        raise PlanestrikeError(f"--export {out}: the screenshot is an SVG: give a file name ending in .svg")
    for given in inputs:
        if _same_file(out, given):
            raise PlanestrikeError(f"--export {out} is the records file {given}: choose another name, so that the "
                                   "games are not overwritten")
    if out.is_dir():
        raise PlanestrikeError(f"--export {out} is a folder: give a file name ending in .svg")
    if not out.absolute().parent.is_dir():
        raise PlanestrikeError(f"--export {out}: the folder {out.absolute().parent} does not exist: make it first")
    try:
        check_writable(out)
    except OSError as error:
        raise PlanestrikeError(f"--export {out}: cannot be written ({error.strerror or error})") from None


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # a hard link
    except OSError:
        return False


def export(record, panels, move, label: str, out: Path, size: tuple[int, int]) -> int:
    """Run the replay headless at ``size``, wait for the panels, write the screenshot atomically."""
    import asyncio

    from engine.files import write_atomically
    from planestrike_tui.commands.output import shown
    from planestrike_tui.screens.replay import capture

    svg, unfinished, failed = asyncio.run(capture(record, panels, move=move, label=label, size=size,
                                                  timeout_s=EXPORT_TIMEOUT_S))
    write_atomically(out, svg.encode("utf-8"))  # a temporary name, then a rename: never half an SVG
    for title in unfinished:
        print(f"planestrike: warning: {title} had not answered after {EXPORT_TIMEOUT_S:g} s: its panel is shown "
              "as it was", file=sys.stderr)
    for title, error in failed:  # the screenshot is still written: the panel shows why, as in the app
        print(f"planestrike: warning: the panel {title} could not load: {error}", file=sys.stderr)
    position = len(record.moves) if move is None else move
    print(f"wrote {shown(out)} ({label}, move {position} of {len(record.moves)}, {size[0]}x{size[1]})")
    return 0
