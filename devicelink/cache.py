"""Where planestrike keeps what it builds or downloads for phones (runners, LiteRT wheels, the virtual phone's
exec shim): ``$PLANESTRIKE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/planestrike``, else ``~/.cache/planestrike``.

Standard library only: the virtual phone uses it too. Everything in it is named by the hash of what made it, so
it can be deleted at any time and is rebuilt on demand.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    override = os.environ.get("PLANESTRIKE_CACHE_DIR", "")
    if os.path.isabs(override):
        base = Path(override)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(xdg) / "planestrike" if os.path.isabs(xdg) else Path.home() / ".cache" / "planestrike"
    folder = base.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def digest(*pieces: bytes | str) -> str:
    """The sha256 of several pieces, each length-prefixed so that no two lists of pieces collide."""
    hasher = hashlib.sha256()
    for piece in pieces:
        data = piece.encode() if isinstance(piece, str) else piece
        hasher.update(len(data).to_bytes(8, "little") + data)
    return hasher.hexdigest()
