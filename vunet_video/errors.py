"""The one exception type users see.

Anything that is the user's input's fault (a missing file, a video with no frames, a photo
with nobody in it, an output that already exists) raises `VunetError` with a one-line
message naming the file and the problem. The CLI prints that line and exits non-zero;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class VunetError(Exception):
    """A problem with the user's input or environment, stated in one line."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{shown(self.path)}: {problem}" if self.path else problem)


def shown(path: str | Path) -> str:
    """A path as messages show it: control characters (a newline in a file name) escaped,
    so that the message stays one line; everything else as it is."""
    text = str(path)
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def require_file(path: str | Path) -> Path:
    """Return `path` as a Path if it is an existing regular file, else raise VunetError."""
    p = Path(path)
    if not p.exists():
        raise VunetError(p, "no such file")
    if not p.is_file():
        raise VunetError(p, "not a file")
    return p
