"""What a static app offers flashstatic's uvicorn protocol: all the protocol may call on it.

The protocol answers some requests before any ASGI scope exists (cached.py, fastlane.py,
repeats.py, direct.py). It reaches the app only through a ``StaticShortcut``, which it asks the app for
by name: ``app.server_shortcut()``. ``FlashStatic`` offers one; a middleware that changes no
response of the static app it wraps may pass that app's on. So the server layer never imports
the app's module, and the app's caches and disk stay its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..cache.entry import FileEntry
from ..cache.responses import CachedResponse
from ..http.headers import Header
from ..transmit.files import FileAnswer, FilePart

# The method an app offers its shortcut by.
SHORTCUT_METHOD = "server_shortcut"


class AnsweredAgain(Protocol):
    def __call__(self, path: str, entry: FileEntry, *, body: bool) -> bool: ...


# Not frozen-hashed by value: a shortcut is one app's, and server state is kept per shortcut.
@dataclass(frozen=True, eq=False)
class StaticShortcut:
    # The whole response from the caches alone, or None: the request takes the ASGI way.
    response: Callable[[str, str, list[Header]], CachedResponse | None]
    # The same, or a FileAnswer: one slice of a large file already kept open, which the caller
    # sends and closes (for a connection it may sendfile on).
    answer_or_file: Callable[[str, str, list[Header]], CachedResponse | FileAnswer | None]
    # The fresh entry that answers a path now, if any: what a repeated request is checked against.
    entry: Callable[[str], FileEntry | None]
    # Whether an entry is still the fresh answer for a path (counted as a hit when it is).
    answered_again: AnsweredAgain
    # A FileAnswer again for a repeated request, while its entry is fresh and its file kept open.
    file_again: Callable[[str, FileEntry, FilePart, int], FileAnswer | None]
    # Bytes per sendfile window (each made resident before it is sent).
    sendfile_chunk: int


def offered_shortcut(app: object) -> StaticShortcut | None:
    """The shortcut ``app`` offers, if it offers one."""
    offer = getattr(app, SHORTCUT_METHOD, None)
    if not callable(offer):
        return None
    shortcut = offer()
    # Some other app may have a method of that name: only our object is taken for the shortcut.
    return shortcut if isinstance(shortcut, StaticShortcut) else None
