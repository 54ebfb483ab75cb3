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

What this skips per request: the parser's callbacks and uvicorn's per-request state (and,
as for every request in this protocol, the per-response keep-alive timer: keepalive.py).

Nothing else is skipped: counters, both access logs and uvicorn's request count are kept as
for any other cache answer, and a read that is not exactly one whole request, arrives while
anything is in flight, or names an entry that changed takes the ordinary way.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from .cached import AnsweredHit, default_block
from .shortcut import StaticShortcut

if TYPE_CHECKING:
    from ..cache.entry import FileEntry
    from ..transmit.files import FileAnswer

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


class RepeatedRequestsMixin:
    """Mixed into the httptools protocol above CachedAnswersMixin (and the head limit)."""

    # uvicorn's HttpToolsProtocol and CachedAnswersMixin state this relies on.
    _shortcut: Any
    last_hit: AnsweredHit | None
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    flow: Any
    cycle: Any
    pipeline: Any
    server_state: Any
    send_hit: Any
    idle_from_now: Any  # LazyKeepAliveMixin's
    send_file: Callable[[AnsweredHit, FileAnswer, bytes], bool]  # DirectFilesMixin's
    _unset_keepalive_if_required: Any
    _refused: bool  # HeadLimitMixin's: the connection is being closed for an oversized head
    _head_since: float | None  # HeadLimitMixin's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._repeats = repeat_cache_for(self._shortcut.static) if self._shortcut is not None else None
        self._between_messages = True  # the parser holds no part of a request
        self._messages_begun = 0  # in the read being parsed

    def data_received(self, data: bytes) -> None:
        repeats = self._repeats
        if repeats is None:
            super().data_received(data)  # type: ignore[misc]
            return
        repeat = repeats.get(data)
        if repeat is not None and self._idle() and self._answer_again(repeat):
            return
        whole = self._between_messages
        self._messages_begun = 0
        self.last_hit = None
        super().data_received(data)  # type: ignore[misc]
        hit = self.last_hit
        if (
            hit is not None
            and whole
            and self._messages_begun == 1
            and self._between_messages
            and not self.transport.is_closing()
            and repeats.seen_before(data)  # first: a request that differs from all others ends here
            and repeatable(data, hit)
        ):
            entry = self._shortcut.static.entry(hit.path)
            if entry is not None:
                repeats.remember(data, hit, entry)

    def on_message_begin(self) -> None:
        self._between_messages = False
        self._messages_begun += 1
        super().on_message_begin()  # type: ignore[misc]

    def on_message_complete(self) -> None:
        self._between_messages = True
        super().on_message_complete()  # type: ignore[misc]

    def _idle(self) -> bool:
        """Nothing in flight: no response going out, none queued, no request half read."""
        cycle = self.cycle
        return (
            self._between_messages
            and not self._refused
            and (cycle is None or cycle.response_complete)
            and not self.pipeline
            and not self.flow.write_paused
            and not self.transport.is_closing()
        )

    def _answer_again(self, repeat: Repeat) -> bool:
        self._head_since = None  # a whole head arrived: none is due (limits.py)
        hit = repeat.hit
        static = self._shortcut.static
        if hit.file is not None:
            # A large file: the same head, and the file sent again through the protocol, which
            # completes the response as for any file it sends (keep-alive timer included).
            answer = static.file_again(hit.path, repeat.entry, hit.file, hit.status)
            if answer is None:
                return False
            # As uvicorn does when a request arrives: no keep-alive timeout while it is answered.
            self._unset_keepalive_if_required()
            return self.send_file(hit, answer, repeat.wire_for(self.server_state.default_headers))
        if not static.answered_again(hit.path, repeat.entry, body=hit.sent > 0):
            return False
        self.send_hit(hit, repeat.wire_for(self.server_state.default_headers))
        # on_response_complete, less what _idle() already ruled out (a pipeline, paused reads).
        self.server_state.total_requests += 1
        self.idle_from_now()
        return True
