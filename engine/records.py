"""Game records: every finished game of the app, one JSON object per line in ``games.jsonl`` (standard library and
numpy only).

A line holds the app's seed, the game's number in that session, the mode (``person`` or ``spectator``), both
players (name, agent spec, sha256 of the model file an agent played), both planes (placement indices of
``engine.rules.PLACEMENTS``), every strike in order as ``[player, cell, hit]`` and the outcome::

    {"version": 1, "seed": 0, "game": 1, "mode": "person",
     "players": [{"name": "You", "spec": null, "model_sha256": null},
                 {"name": "Hunter", "spec": "hunter", "model_sha256": null}],
     "planes": [17, 93], "moves": [[0, 27, false], [1, 28, true], ...], "outcome": "second",
     "finished_at": "2026-12-03T19:04:11Z"}

A record is untrusted input (a file can be edited, truncated, or be another file altogether), so every record is
checked when it is made and when it is read: types, ranges, and the moves themselves, replayed through
``engine.match.Match``, must reproduce every ``hit`` and the outcome. A bad line is one ``BadRecord`` naming the
file, the line and what is wrong.

Limits: a line may have at most ``MAX_LINE_BYTES`` (16 KiB; a game has at most 128 strikes, about 2 KB with two
file-path specs), the file at most ``MAX_FILE_BYTES`` (8 MiB, a few thousand games). An append that would pass
the file limit first renames the file to ``games.1.jsonl`` (replacing an older one there) and starts a new
``games.jsonl``: disk use stays under twice the limit and the newest games are always in ``games.jsonl``.

Appending rewrites the whole file to a temporary name and renames it over the old one (``write_atomically``), so a
kill at any moment leaves either the old file or the new one, never a torn line. That is O(size) per game: at the
8 MiB limit a few tens of milliseconds, once per finished game. Appenders take an exclusive lock
(``games.jsonl.lock``, ``fcntl.flock`` where the platform has it) so that two apps finishing games at once both
keep theirs; a temporary file left by a killed appender is removed by the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from engine.errors import PlanestrikeError
from engine.files import UnreadableFile, read_small_file, write_atomically
from engine.limits import MAX_POLICY_FILE_BYTES, SEED, OutOfRange, WholeRange
from engine.match import Match, Outcome
from engine.rules import CELL_COUNT, PLACEMENT_COUNT

VERSION = 1
RECORDS_FILE = "games.jsonl"
MAX_LINE_BYTES = 16 << 10
MAX_FILE_BYTES = 8 << 20
MAX_NAME_CHARS = 200  # a panel title
MAX_SPEC_CHARS = 4096  # a spec may hold a file path (PATH_MAX)
GAME_NUMBER = WholeRange(1, 10**9)
MODES = ("person", "spectator")
LOCK_TIMEOUT_S = 10.0  # an appender waits this long for another to finish, then gives up with a clear error
MAX_STRIKES_PER_PLAYER = CELL_COUNT  # so at most 128 moves: a game is over once one side has hit all 8 cells

_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("version", "seed", "game", "mode", "players", "planes", "moves", "outcome", "finished_at")
_PLAYER_FIELDS = ("name", "spec", "model_sha256")


class BadRecord(PlanestrikeError):
    """A record (or a records file) that is not a game planestrike could have played."""


@dataclass(frozen=True)
class Player:
    name: str  # "You", or the agent's title e.g. "Flax planestrike"
    spec: str | None  # the agent spec (None for the person)
    model_sha256: str | None  # sha256 of the model file the agent played, if it has one

    def __post_init__(self) -> None:
        _check_text(self.name, "name", MAX_NAME_CHARS, allow_none=False)
        _check_text(self.spec, "spec", MAX_SPEC_CHARS, allow_none=True)
        if self.model_sha256 is not None and not (isinstance(self.model_sha256, str)
                                                  and _SHA256.fullmatch(self.model_sha256)):
            raise BadRecord(f"model_sha256 must be 64 lowercase hex digits or null, got {self.model_sha256!r:.80}")

    @property
    def is_person(self) -> bool:
        return self.spec is None


@dataclass(frozen=True)
class GameRecord:
    """One finished game. Made only valid: the constructor checks every field and replays the moves."""

    seed: int  # the app's seed (--seed)
    game: int  # the game's number in that app session (1, 2, ...)
    mode: str  # "person" or "spectator"
    players: tuple[Player, Player]  # first player (strikes first, board 0), second player
    planes: tuple[int, int]  # placement indices (engine.placements) of the first and second player's plane
    moves: tuple[tuple[int, int, bool], ...]  # (player 0 or 1, cell 0..63, hit) in order
    outcome: str  # "first", "second" or "draw" (engine.match.Outcome values)
    finished_at: str  # ISO 8601 UTC, seconds
    version: int = 1

    def __post_init__(self) -> None:
        if self.version != VERSION or isinstance(self.version, bool):
            raise BadRecord(f"version must be {VERSION}, got {self.version!r:.40}: this planestrike reads version "
                            f"{VERSION} records only")
        _in_range(SEED, self.seed, "seed")
        _in_range(GAME_NUMBER, self.game, "game")
        if self.mode not in MODES:
            raise BadRecord(f"mode must be one of {', '.join(MODES)}, got {self.mode!r:.40}")
        players = _pair(self.players, "players")
        if not all(isinstance(player, Player) for player in players):
            raise BadRecord("players must be two Player records")
        expected = (True, False) if self.mode == "person" else (False, False)
        if tuple(player.is_person for player in players) != expected:
            raise BadRecord(f"a {self.mode} game has " + ("the person first (spec null) and an agent second"
                                                          if self.mode == "person" else "two agents (no null spec)"))
        planes = _pair(self.planes, "planes")
        for index, plane in enumerate(planes):
            _in_range(WholeRange(0, PLACEMENT_COUNT - 1), plane, f"planes[{index}]")
        moves = self.moves
        if not isinstance(moves, (tuple, list)):
            raise BadRecord(f"moves must be a list of [player, cell, hit], got {type(moves).__name__}")
        if len(moves) > 2 * MAX_STRIKES_PER_PLAYER:
            raise BadRecord(f"{len(moves)} moves: a game has at most {2 * MAX_STRIKES_PER_PLAYER}")
        moves = tuple(_move(move, number) for number, move in enumerate(moves, 1))
        outcome = _outcome(self.outcome)
        object.__setattr__(self, "players", players)
        object.__setattr__(self, "planes", planes)
        object.__setattr__(self, "moves", moves)
        _check_time(self.finished_at)
        final = _replay(planes, moves, len(moves))
        if not final.over:
            raise BadRecord(f"the game is not over after its {len(moves)} moves: a record holds a finished game")
        if final.outcome is not outcome:
            raise BadRecord(f"the moves end in {final.outcome.value!r}, not the recorded outcome {outcome.value!r}")

    # ------------------------------------------------------------------------------------------ use
    def match_after(self, count: int) -> Match:
        """The match after its first ``count`` moves (0: before the first strike; len(moves): the end)."""
        if not 0 <= count <= len(self.moves):
            raise ValueError(f"move {count} does not exist: this game has moves 0 to {len(self.moves)}")
        return _replay(self.planes, self.moves, count)

    def winner(self) -> Player | None:
        """The player who won, None for a draw."""
        return {"first": self.players[0], "second": self.players[1], "draw": None}[self.outcome]

    def to_json(self) -> str:
        """The record as one line of JSON (no newline)."""
        data = {
            "version": self.version, "seed": self.seed, "game": self.game, "mode": self.mode,
            "players": [{field: getattr(player, field) for field in _PLAYER_FIELDS} for player in self.players],
            "planes": list(self.planes), "moves": [list(move) for move in self.moves], "outcome": self.outcome,
            "finished_at": self.finished_at,
        }
        return json.dumps(data, ensure_ascii=False, separators=(", ", ": "))

    @classmethod
    def from_json(cls, line: str) -> GameRecord:
        """Parse and check one line. Raises BadRecord saying what is wrong."""
        try:
            data = json.loads(line, parse_constant=_refuse_constant)
        except (json.JSONDecodeError, RecursionError, ValueError) as error:
            raise BadRecord(f"not valid JSON ({str(error)[:120]})") from None
        if not isinstance(data, dict):
            raise BadRecord(f"a record is a JSON object, got {type(data).__name__}")
        _exact_keys(data, _FIELDS, "a record")
        players = data["players"]
        if not isinstance(players, list) or len(players) != 2:
            raise BadRecord("players must be a list of two objects")
        parsed = []
        for player in players:
            if not isinstance(player, dict):
                raise BadRecord(f"a player is an object with {', '.join(_PLAYER_FIELDS)}, got {type(player).__name__}")
            _exact_keys(player, _PLAYER_FIELDS, "a player")
            parsed.append(Player(player["name"], player["spec"], player["model_sha256"]))
        if not isinstance(data["planes"], list):
            raise BadRecord("planes must be a list of two placement indices")
        return cls(seed=data["seed"], game=data["game"], mode=data["mode"], players=tuple(parsed),
                   planes=tuple(data["planes"]), moves=data["moves"], outcome=data["outcome"],
                   finished_at=data["finished_at"], version=data["version"])


def now_utc() -> str:
    """The current time as ``finished_at`` writes it: ISO 8601, UTC, whole seconds (``2026-12-03T19:04:11Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------- checks
def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _exact_keys(data: dict, fields: tuple[str, ...], what: str) -> None:
    missing = [field for field in fields if field not in data]
    extra = [str(key)[:40] for key in data if key not in fields]
    if missing or extra:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(extra[:5])}"] if extra else [])
        raise BadRecord(f"{what} has exactly the fields {', '.join(fields)} ({'; '.join(problems)})")


def _check_text(value: object, name: str, limit: int, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f"a player's {name} must be a non-empty string{' or null' if allow_none else ''}, "
                        f"got {value!r:.60}")
    if len(value) > limit:
        raise BadRecord(f"a player's {name} has {len(value):,} characters, more than {limit:,}")
    if not value.isprintable():  # a name is drawn on the screen: no escape sequences, newlines or NULs
        raise BadRecord(f"a player's {name} contains a control character")


def _in_range(limits: WholeRange, value: object, name: str) -> int:
    try:
        return limits.check(value, name)
    except OutOfRange as error:
        raise BadRecord(str(error)) from None


def _pair(value: object, name: str) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise BadRecord(f"{name} must hold exactly two entries (first and second player), got {value!r:.60}")
    return tuple(value)


def _move(move: object, number: int) -> tuple[int, int, bool]:
    if not isinstance(move, (tuple, list)) or len(move) != 3:
        raise BadRecord(f"move {number} must be [player, cell, hit], got {move!r:.60}")
    player, cell, hit = move
    _in_range(WholeRange(0, 1), player, f"move {number}'s player")
    _in_range(WholeRange(0, CELL_COUNT - 1), cell, f"move {number}'s cell")
    if not isinstance(hit, bool):
        raise BadRecord(f"move {number}'s hit must be true or false, got {hit!r:.40}")
    return player, cell, hit


def _outcome(value: object) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        raise BadRecord(f"outcome must be one of {', '.join(o.value for o in Outcome)}, got {value!r:.40}") from None


def _check_time(value: object) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value):
        raise BadRecord(f"finished_at must be an ISO 8601 UTC time like 2026-12-03T19:04:11Z, got {value!r:.40}")
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise BadRecord(f"finished_at {value!r} is not a date and time that exists") from None


def _replay(planes: tuple[int, int], moves: tuple[tuple[int, int, bool], ...], count: int) -> Match:
    """The match after ``count`` moves, checking each against the rules: the right player's turn, an untried
    cell, the recorded hit."""
    match = Match(*planes)
    for number, (player, cell, hit) in enumerate(moves[:count], 1):
        if match.over:
            raise BadRecord(f"move {number} comes after the end of the game (move {number - 1})")
        if player != match.to_move:
            raise BadRecord(f"move {number} is player {player}'s, but it is player {match.to_move}'s turn")
        try:
            result = match.strike(cell)
        except ValueError as error:
            raise BadRecord(f"move {number}: {error}") from None
        if result != hit:
            raise BadRecord(f"move {number} records a {'hit' if hit else 'miss'} on cell {cell}, but the plane "
                            f"there makes it a {'hit' if result else 'miss'}")
    return match


# ---------------------------------------------------------------------------------------------- files
def data_directory() -> Path:
    """planestrike's data folder: ``$XDG_DATA_HOME/planestrike`` when that is an absolute path (the XDG rule),
    else the platform's: ``~/Library/Application Support/planestrike`` on macOS, ``%LOCALAPPDATA%\\planestrike``
    on Windows, ``~/.local/share/planestrike`` elsewhere."""
    chosen = os.environ.get("XDG_DATA_HOME", "")
    if os.path.isabs(chosen):
        return Path(chosen) / "planestrike"
    if sys.platform == "win32" and os.path.isabs(os.environ.get("LOCALAPPDATA", "")):
        return Path(os.environ["LOCALAPPDATA"]) / "planestrike"
    home = os.environ.get("HOME", "")
    if not os.path.isabs(home):
        raise PlanestrikeError(f"HOME is {home!r}, not an absolute path, and XDG_DATA_HOME is not set: set HOME "
                               "(or XDG_DATA_HOME) to a folder where planestrike may keep its game records")
    if sys.platform == "darwin":
        return Path(home) / "Library" / "Application Support" / "planestrike"
    return Path(home) / ".local" / "share" / "planestrike"


def records_path() -> Path:
    """``games.jsonl`` in the data folder (see ``data_directory``)."""
    return data_directory() / RECORDS_FILE


def screenshots_directory() -> Path:
    """Where the app's screenshot key saves its SVGs: ``screenshots/`` in the data folder."""
    return data_directory() / "screenshots"


def new_screenshot_path(directory: Path | None = None) -> Path:
    """A fresh name for a screenshot in ``directory`` (default ``screenshots_directory()``, made if missing):
    ``planestrike-2026-12-03_19-04-11.svg`` in local time, ``-2``, ``-3``... after it when taken in the same
    second."""
    directory = Path(directory) if directory is not None else screenshots_directory()
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"planestrike-{datetime.now().strftime('%Y-%m-%d_%H-%M-%S')}"
    for number in range(1, 1000):
        path = directory / (f"{stem}.svg" if number == 1 else f"{stem}-{number}.svg")
        if not path.exists():
            return path
    raise PlanestrikeError(f"{directory}: 999 screenshots taken in one second already: wait a second")


def append_record(record: GameRecord, path: Path | None = None) -> Path:
    """Add ``record`` at the end of the records file (made, with its folder, if missing) and return the file's
    path. Atomic: the file is rewritten to a temporary name and renamed, so a kill mid-write leaves the old file.
    Beyond ``MAX_FILE_BYTES`` the file is first rotated to ``games.1.jsonl`` (see the module's docstring)."""
    if not isinstance(record, GameRecord):
        raise TypeError(f"append_record takes a GameRecord, got {type(record).__name__}")
    path = Path(path) if path is not None else records_path()
    line = (record.to_json() + "\n").encode("utf-8")
    if len(line) > MAX_LINE_BYTES:
        raise BadRecord(f"the record is {len(line):,} bytes, more than the {MAX_LINE_BYTES:,} a line may have: "
                        "are the agent specs that long?")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        _remove_leftovers(path)
        existing = _existing_bytes(path)
        if existing and not existing.endswith(b"\n"):
            existing += b"\n"  # a file ended by hand without a newline: keep its last line whole
        if len(existing) + len(line) > MAX_FILE_BYTES:
            os.replace(path, rotated_path(path))
            existing = b""
        write_atomically(path, existing + line)
    return path


def rotated_path(path: Path) -> Path:
    """Where a full records file goes: ``games.jsonl`` -> ``games.1.jsonl``."""
    return path.with_name(f"{path.stem}.1{path.suffix}")


def read_records(path: Path | None = None) -> list[GameRecord]:
    """Every record in the file, oldest first; an empty list when the file does not exist yet. Raises
    BadRecord (or UnreadableFile) naming the file and the first bad line."""
    default = path is None
    path = records_path() if default else Path(path)
    if default and not path.exists():
        return []  # no game finished yet
    try:
        data = read_small_file(path, MAX_FILE_BYTES, "games.jsonl")
    except UnreadableFile as error:
        if "no such file" in error.problem:
            raise UnreadableFile(path, "no such file: give a records file (games.jsonl) or leave FILE out") from None
        raise
    records = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        where = f"{path}, line {number}"
        if len(raw) > MAX_LINE_BYTES:
            raise BadRecord(f"{where}: {len(raw):,} bytes, more than the {MAX_LINE_BYTES:,} a record may have: "
                            "is this a planestrike games file?")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRecord(f"{where}: not UTF-8 text: is this a planestrike games file?") from None
        try:
            records.append(GameRecord.from_json(text))
        except BadRecord as error:
            raise BadRecord(f"{where}: {error} (fix or delete that line)") from None
    return records


def model_sha256(path) -> str | None:
    """The sha256 of a model file, or None if it cannot be read, is not a regular file, or is larger than a
    policy file may be (``MAX_POLICY_FILE_BYTES``)."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_POLICY_FILE_BYTES:
                return None
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except (OSError, ValueError):
        return None


def _existing_bytes(path: Path) -> bytes:
    try:
        return read_small_file(path, MAX_FILE_BYTES + MAX_LINE_BYTES, "games.jsonl")
    except UnreadableFile as error:
        if "no such file" in error.problem:
            return b""
        raise


def _remove_leftovers(path: Path) -> None:
    """Temporary files of appenders that were killed mid-write (we hold the lock: no live appender owns one)."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            leftover.unlink()
        except OSError:
            pass


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s lock file for the read-append-rename, for at most LOCK_TIMEOUT_S."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks in the standard library; appends are rare and short
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BadRecord(f"{path}: another planestrike has held its lock ({lock_path.name}) for "
                                    f"{LOCK_TIMEOUT_S:g} s: try again once it has finished") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(descriptor)  # releases the lock
