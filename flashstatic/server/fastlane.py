"""The fast lane: a read that holds one whole request head, on an idle connection.

That is what nearly every request of a browser or a load generator looks like: one read, one
head, no body, nothing else in flight. Such a read is answered before uvicorn's way sees it,
in one of two ways:

- bytes seen before, answered from the caches then and still fresh: the same response again,
  without parsing (repeats.py);
- otherwise the head is parsed by a second httptools parser whose callbacks keep only the
  target and the headers, and the request goes to the caches (cached.py's ``answer_request``).

uvicorn's way, with its per-request state and the mixins' callbacks around each of its own
(head limit, cache answers, pipelining), costs a parsed cache hit a third more; it takes
everything the lane declines: a partial head, a body, more than one request in a read, a parse
error (uvicorn answers it), a request the caches cannot answer, anything in flight. The lane's
parser then starts afresh, so it never holds part of a request, and uvicorn's parser sees the
read from its first byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httptools

from .cached import AnsweredHit
from .repeats import Repeat, RepeatCache, repeat_cache_for, repeatable

if TYPE_CHECKING:
    from ..http.headers import Header
    from ..transmit.files import FileAnswer

_HEAD_END = b"\r\n\r\n"


class HeadReader:
    """A parser for whole heads and the little its callbacks keep of one."""

    __slots__ = ("complete", "headers", "keep_alive", "parser", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[Header] = []
        self.complete = False
        self.keep_alive = False
        self.parser = httptools.HttpRequestParser(self)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # As uvicorn keeps them: names lowercased, trailing whitespace (RFC 9110 section 5.5) off.
        self.headers.append((name.lower(), value.rstrip(b" \t")))

    def on_message_complete(self) -> None:
        self.complete = True
        # Asked now: once the message is over, llhttp answers for the next one.
        self.keep_alive = self.parser.should_keep_alive()


class FastLaneMixin:
    """Mixed into uvicorn's HttpToolsProtocol above the head limit and the cache answers."""

    # uvicorn's HttpToolsProtocol and the other mixins' state this relies on.
    _shortcut: Any  # CachedAnswersMixin's
    last_hit: AnsweredHit | None
    transport: asyncio.Transport
    flow: Any
    cycle: Any
    pipeline: Any
    server_state: Any
    max_head_bytes: int  # HeadLimitMixin's
    answer_request: Callable[[bytes, bytes, list[Header], str, bool], bool]  # CachedAnswersMixin's
    send_hit: Any
    idle_from_now: Any  # LazyKeepAliveMixin's
    send_file: Callable[[AnsweredHit, FileAnswer, bytes], bool]  # DirectFilesMixin's
    _unset_keepalive_if_required: Any
    _refused: bool  # HeadLimitMixin's: the connection is being closed for an oversized head
    _head_since: float | None  # HeadLimitMixin's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shortcut = self._shortcut
        self._repeats: RepeatCache | None = repeat_cache_for(shortcut.static) if shortcut is not None else None
        self._reader: HeadReader | None = HeadReader() if shortcut is not None else None
        self._between_messages = True  # uvicorn's parser holds no part of a request

    def data_received(self, data: bytes) -> None:
        repeats = self._repeats
        cycle = self.cycle
        if (
            repeats is None
            or not self._between_messages
            or self._refused
            or (cycle is not None and not cycle.response_complete)
            or self.pipeline
            or self.flow.write_paused
            or self.transport.is_closing()
        ):
            super().data_received(data)  # type: ignore[misc]
            return
        repeat = repeats.get(data)
        if repeat is not None and self._answer_again(repeat):
            return
        # One head, ending where the read ends: no body, no second request behind it.
        if data.find(_HEAD_END) != len(data) - 4 or len(data) > self.max_head_bytes or not self._answer_head(data):
            super().data_received(data)  # type: ignore[misc]
            return
        self._head_since = None  # a whole head arrived: none is due (limits.py)
        hit = self.last_hit
        if (
            hit is not None
            and repeats.seen_before(data)  # first: a request that differs from all others ends here
            and repeatable(data, hit)
            and not self.transport.is_closing()
        ):
            entry = self._shortcut.static.entry(hit.path)
            if entry is not None:
                repeats.remember(data, hit, entry)

    def _answer_head(self, data: bytes) -> bool:
        """Parse the head in ``data`` and answer it from the caches if they can."""
        reader: HeadReader = self._reader  # type: ignore[assignment]  # set whenever the lane is open
        reader.url, reader.headers, reader.complete = b"", [], False
        parser = reader.parser
        try:
            parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._reader = HeadReader()
            return False
        if not reader.complete:  # a body follows
            self._reader = HeadReader()
            return False
        keep_alive = reader.keep_alive
        if not keep_alive:
            self._reader = HeadReader()  # llhttp takes nothing after a message that closes
        http_version = parser.get_http_version()
        self.last_hit = None
        return self.answer_request(
            parser.get_method(), reader.url, reader.headers, http_version, keep_alive and http_version != "1.0"
        )

    def on_message_begin(self) -> None:
        self._between_messages = False
        super().on_message_begin()  # type: ignore[misc]

    def on_message_complete(self) -> None:
        self._between_messages = True
        super().on_message_complete()  # type: ignore[misc]

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
        # on_response_complete, less what data_received ruled out (a pipeline, a closing
        # transport); with reads paused the request would not have arrived.
        self.server_state.total_requests += 1
        self.idle_from_now()
        return True
