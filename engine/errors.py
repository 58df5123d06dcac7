"""Errors a user can cause and fix. The CLI and the app print them as one line, never a traceback."""


class PlanestrikeError(Exception):
    """Base class: the message must say what was wrong and how to fix it."""


class BadAgentSpec(PlanestrikeError):
    """An agent spec (``--agent hunter``, ``tflite:model.tflite``...) that cannot be parsed or loaded."""


class BadBoard(PlanestrikeError):
    """A board that is not a position of the game: cells that are not untried/hit/miss, the wrong size, or hits and
    misses that no placement of the plane agrees with."""
