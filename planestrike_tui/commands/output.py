"""How the subcommands print a report for people: one ``label  value`` row per line, labels aligned."""

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path


def print_rows(rows: list[tuple[str, str]], width: int = 15) -> None:
    for label, value in rows:
        print(f"{label:<{width}} {value}")


def shown(path: Path) -> str:
    """A path as people read it: relative to the current directory when it lies inside it, else absolute."""
    path = Path(path).absolute()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
    except OSError:  # the current directory was removed
        return os.fspath(path)


@contextlib.contextmanager
def progress_bar(description: str, unit: str, show: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A ``(done, total)`` callback drawing a bar on stderr while the work runs, when stderr is a terminal and
    ``show``; otherwise it does nothing, so piped output stays clean."""
    if not (show and sys.stderr.isatty()):
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)
