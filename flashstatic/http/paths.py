"""From a request's decoded path to a safe relative path inside a served root.

The server has already percent-decoded the path (ASGI ``scope["path"]``), so ``%2e%2e`` and
``%2f`` arrive here as ``..`` and ``/``. We then resolve dot-segments lexically, the way
RFC 3986 section 5.2.4 does, and refuse anything that would climb above the root. What comes
out is a tuple of plain names that can be joined under a root without further checks
(symlinks are the lookup's business, since only the filesystem knows them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Linux limits (PATH_MAX, NAME_MAX). A longer name cannot be a file, so it is a 404, never an
# ENAMETOOLONG surfacing as a 500.
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


class PathRejected(Exception):
    """The path can never name a served file; ``status`` is the response to give."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)  # both in args, so it pickles (helpers raise it too)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class SafePath:
    segments: tuple[str, ...]
    # "/dir/" and "/dir" differ: only the first may be answered with the directory's index.
    trailing_slash: bool

    @property
    def is_hidden(self) -> bool:
        return any(segment.startswith(".") for segment in self.segments)

    @property
    def url_path(self) -> str:
        """The canonical spelling, used to key the scanned index."""
        if not self.segments:
            return "/" if self.trailing_slash else ""
        return "/" + "/".join(self.segments) + ("/" if self.trailing_slash else "")


def parse_request_path(path: str) -> SafePath:
    """Validate a path relative to a prefix ("" or starting with "/")."""
    if path and not path.startswith("/"):
        raise PathRejected(400, "path must start with '/'")
    _refuse_unsafe_characters(path)
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise PathRejected(404, "path too long")

    segments: list[str] = []
    raw_segments = path.split("/")[1:] if path else []
    for raw in raw_segments:
        if raw in ("", "."):
            continue
        if raw == "..":
            if not segments:
                raise PathRejected(400, "path climbs above the root")
            segments.pop()
            continue
        if len(raw.encode("utf-8")) > MAX_NAME_BYTES:
            raise PathRejected(404, "file name too long")
        segments.append(raw)

    trailing = bool(raw_segments) and raw_segments[-1] in ("", ".", "..")
    return SafePath(tuple(segments), trailing)


# Every character _refuse_unsafe_characters refuses: one search in C finds the first, where a
# loop in Python would look at every character of every path.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\\\ufffd\ud800-\udfff]")


def _refuse_unsafe_characters(path: str) -> None:
    found = _UNSAFE.search(path)
    if found is None:
        return
    char = found.group()
    code = ord(char)
    if code == 0:
        # No file name can hold one, so nothing is found (as Starlette and WhiteNoise answer).
        raise PathRejected(404, "NUL in path")
    if code < 0x20 or 0x7F <= code <= 0x9F:
        raise PathRejected(400, "control character in path")
    if char == "\\":
        # A Windows separator; refusing it outright means no spelling of "..\\" can matter.
        raise PathRejected(400, "backslash in path")
    # U+FFFD or a lone surrogate: what a server's decoder leaves behind for bytes that were not UTF-8.
    raise PathRejected(400, "path is not valid UTF-8")
