"""Requests repeated byte for byte, answered without parsing them again.

A browser or a load generator asks the same questions over and over: on one keep-alive
connection each read is one whole request, and its bytes are the same as last time
(method, target, Host, User-Agent, Accept-Encoding, validators). When such a read was
answered from the caches (cached.py) and had been seen before, it is remembered with its
response, and the next identical read, on any connection, gets the same response again,
as long as the cache entry that answered it is still the fresh answer for its path: the
response is a pure function of the request's bytes and that entry (plans of requests
without a Range are, and so is a Range without If-Range). Only uvicorn's Date line is
renewed, once a second.

What this skips per request: the parse. Nothing else is: counters, both access logs and
uvicorn's request count are kept as for any other cache answer. The fast lane (fastlane.py)
looks here first; a read that is not exactly one whole request, arrives while anything is in
flight, or names an entry that changed takes the ordinary way.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from .cached import AnsweredHit, default_block
from .shortcut import StaticShortcut

if TYPE_CHECKING:
    from ..cache.entry import FileEntry

# Bounds on what is kept per app: a client inventing header values cannot grow it further,
# only make it start over.
MAX_REQUEST_BYTES = 4096
MAX_REPEATS = 1024
MAX_REPEAT_BYTES = 16 * 1024 * 1024
MAX_SEEN = 4096


class Repeat:
    __slots__ = ("defaults", "entry", "hit", "wire")

    def __init__(self, hit: AnsweredHit, entry: FileEntry) -> None:
        self.hit = hit
        self.entry = entry
        self.defaults: list[tuple[bytes, bytes]] | None = None
        self.wire = b""

    def wire_for(self, defaults: list[tuple[bytes, bytes]]) -> bytes:
        """The whole response under uvicorn's current default headers (a new list each second)."""
        if defaults is not self.defaults:
            self.wire = STATUS_LINE[self.hit.status] + default_block(defaults) + self.hit.tail
            self.defaults = defaults
        return self.wire


class RepeatCache:
    def __init__(self) -> None:
        self._repeats: dict[bytes, Repeat] = {}
        # get(request): the dict's own method, called once per read, without a Python frame.
        self.get: Callable[[bytes], Repeat | None] = self._repeats.get
        self._bytes = 0
        # Hashes of requests seen once: only a second sighting is remembered, since keeping a
        # request that never comes again (a header that differs every time) costs more than
        # answering it.
        self._seen: set[int] = set()

    def seen_before(self, request: bytes) -> bool:
        key = hash(request)  # computed once per bytes object, and get() needed it already
        if key in self._seen:
            return True
        if len(self._seen) >= MAX_SEEN:
            self._seen.clear()
        self._seen.add(key)
        return False

    def remember(self, request: bytes, hit: AnsweredHit, entry: FileEntry) -> None:
        size = len(request) + 2 * len(hit.tail)  # the tail, and the wire made from it
        if len(self._repeats) >= MAX_REPEATS or self._bytes + size > MAX_REPEAT_BYTES:
            self._repeats.clear()
            self._bytes = 0
        self._repeats[request] = Repeat(hit, entry)
        self._bytes += size


_caches: weakref.WeakKeyDictionary[StaticShortcut, RepeatCache] = weakref.WeakKeyDictionary()


def repeat_cache_for(static: StaticShortcut) -> RepeatCache:
    """One per app (per shortcut it offers), shared by its connections."""
    cache = _caches.get(static)
    if cache is None:
        cache = _caches[static] = RepeatCache()
    return cache


def repeatable(request: bytes, hit: AnsweredHit) -> bool:
    if len(request) > MAX_REQUEST_BYTES or not hit.keep_alive:
        return False
    # An If-Range date is judged against the clock (is Last-Modified strong yet?).
    return not any(name == b"if-range" for name, _ in hit.headers)
