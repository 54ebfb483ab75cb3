"""The fast lane: a read that holds one whole request head, on an idle connection.

That is what nearly every request of a browser or a load generator looks like: one read, one
head, no body, nothing else in flight. Such a read is answered before uvicorn's way sees it,
in one of three ways:

- bytes seen before, whose answer is still fresh: the same response again, without parsing;
- a head that llhttp accepts and whose answer key (request line, and the few fields a file's
  response depends on) was answered before, from an entry still fresh: the same response
  again, each request logged with its own fields (repeats.py);
- otherwise the head is parsed by a second httptools parser whose callbacks keep only the
  target and the headers, and the request goes to the caches (cached.py's ``answer_request``);
  its response is then remembered under its answer key.

The first parse is llhttp's alone, with no callback: it rules out what uvicorn would refuse.

uvicorn's way, with its per-request state and the mixins' callbacks around each of its own
(head limit, cache answers, pipelining), costs a parsed cache hit a third more; it takes
everything the lane declines: a partial head, a body, more than one request in a read, a parse
error (uvicorn answers it), a request the caches cannot answer, anything in flight. The lane's
parsers then start afresh, so they never hold part of a request, and uvicorn's parser sees the
read from its first byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httptools

from .accesslog import client_part, field_lines_part
from .cached import AnsweredHit
from .repeats import (
    MAX_REQUEST_BYTES,
    Repeat,
    RepeatCache,
    answer_key,
    headers_of_lines,
    key_and_logged_lines,
    logged_headers,
    repeat_cache_for,
    repeatable,
)

if TYPE_CHECKING:
    from ..http.headers import Header
    from ..transmit.files import FileAnswer

_HEAD_END = b"\r\n\r\n"
_LINE_END = b"\r\n"
# The request line's last bytes, and the version uvicorn reports for them: a slice and a
# lookup, where the parser's get_http_version() formats two numbers anew for each request.
_VERSIONS = {b"1.1": "1.1", b"1.0": "1.0"}
_HEADERS_FIELD = AnsweredHit._fields.index("headers")


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


class _NoCallbacks:
    """What the lane's first parser reports to: nothing, so llhttp runs without a Python call."""


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
    _log_parts: bool  # CachedAnswersMixin's: whether lines may be made from kept parts
    _log_any: bool  # CachedAnswersMixin's: whether either log is on
    peer_host: str | None  # CachedAnswersMixin's: the peer's address
    log_line_parts: Callable[[AnsweredHit], tuple[str, str] | None]  # CachedAnswersMixin's
    log_request_part: Callable[[AnsweredHit], str]  # CachedAnswersMixin's
    root_path: str  # uvicorn's
    client: tuple[str, int] | None  # uvicorn's: the peer
    idle_from_now: Any  # LazyKeepAliveMixin's
    send_file: Callable[[AnsweredHit, FileAnswer, bytes], bool]  # DirectFilesMixin's
    _unset_keepalive_if_required: Any
    _refused: bool  # HeadLimitMixin's: the connection is being closed for an oversized head
    _head_since: float | None  # HeadLimitMixin's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shortcut = self._shortcut
        self._repeats: RepeatCache | None = repeat_cache_for(shortcut.static) if shortcut is not None else None
        lane_open = shortcut is not None
        self._checker: httptools.HttpRequestParser | None = _checker() if lane_open else None
        self._reader: HeadReader | None = HeadReader() if lane_open else None
        self._between_messages = True  # uvicorn's parser holds no part of a request
        # The repeat, logged field lines and line parts of the last line made from kept parts.
        self._last_line: tuple[Repeat | None, list[bytes] | None, tuple[str, str] | None] = (None, None, None)
        self._client_part: str | None = None  # the start of this peer's lines, once one is made

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
        repeat = repeats.get_request(data)
        if repeat is not None and self._answer_again(repeat, data, None, by_key=False):
            return
        # One head, ending where the read ends: no body, no second request behind it.
        if data.find(_HEAD_END) != len(data) - 4 or len(data) > self.max_head_bytes:
            super().data_received(data)  # type: ignore[misc]
            return
        try:
            self._checker.feed_data(data)  # type: ignore[union-attr]  # set whenever the lane is open
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._checker = _checker()
            super().data_received(data)  # type: ignore[misc]
            return
        line_end = data.find(_LINE_END)
        if self._log_parts:  # the fields its line shows, found in the same scan as its key
            key, logged = key_and_logged_lines(data, line_end)
        else:
            key, logged = answer_key(data, line_end), None
        repeat = repeats.get(key)
        if repeat is not None and self._answer_again(repeat, data, logged, by_key=True):
            if repeat.last == data:  # the same bytes twice in a row: look them up unparsed
                repeats.keep(data, Repeat(_logged_as(repeat.hit, data), repeat.entry))
            elif len(data) <= MAX_REQUEST_BYTES:
                repeat.last = data
            return
        # Only a key answered before is complete and kept alive (repeats.py): the checker may
        # wait for a body or refuse what follows a close.
        self._checker = _checker()
        if not self._answer_head(data, line_end):
            super().data_received(data)  # type: ignore[misc]
            return
        self._head_since = None  # a whole head arrived: none is due (limits.py)
        hit = self.last_hit
        if hit is not None and repeatable(key, hit) and not self.transport.is_closing():
            entry = self._shortcut.static.entry(hit.path)
            if entry is not None:
                repeats.remember(key, hit, entry)

    def _answer_head(self, data: bytes, line_end: int) -> bool:
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
        http_version = _VERSIONS.get(data[line_end - 3 : line_end]) or parser.get_http_version()
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

    def _answer_again(self, repeat: Repeat, head: bytes, logged: list[bytes] | None, *, by_key: bool) -> bool:
        """The remembered response again for ``head``, answered by its key or by its bytes;
        logged with its own fields (``logged``: its logged field lines, when found by its key
        and its line may be made from kept parts)."""
        hit = repeat.hit
        static = self._shortcut.static
        parts = None
        if self._log_any:
            if self._log_parts and hit.file is None:  # a file's line waits for its end
                # Made from parts kept before: the connection's last line's, when the response
                # and logged fields are the same. A repeat found by bytes is kept for those
                # bytes alone, so its hit names the fields already (accesslog.py keeps its
                # line's parts).
                last = self._last_line
                if last[0] is repeat and last[1] == logged:
                    parts = last[2]  # as the connection's last line: the usual case, no lookup
                else:
                    parts = self.log_line_parts(hit) if logged is None else self._line_parts_of(repeat, logged)
                    self._last_line = (repeat, logged, parts)
            if parts is None and by_key:
                hit = _logged_as(hit, head)
        if hit.file is not None:
            # A large file: the same head, and the file sent again through the protocol, which
            # completes the response as for any file it sends (keep-alive timer included).
            answer = static.file_again(hit.path, repeat.entry, hit.file, hit.status)
            if answer is None:
                return False
            self._head_since = None  # a whole head arrived: none is due (limits.py)
            # As uvicorn does when a request arrives: no keep-alive timeout while it is answered.
            self._unset_keepalive_if_required()
            return self.send_file(hit, answer, repeat.wire_for(self.server_state.default_headers))
        if not static.answered_again(hit.path, repeat.entry, body=hit.sent > 0):
            return False
        self._head_since = None
        self.send_hit(hit, repeat.wire_for(self.server_state.default_headers), parts)
        # on_response_complete, less what data_received ruled out (a pipeline, a closing
        # transport); with reads paused the request would not have arrived.
        self.server_state.total_requests += 1
        self.idle_from_now()
        return True

    def _line_parts_of(self, repeat: Repeat, logged: list[bytes]) -> tuple[str, str]:
        """The parts of the Combined line of a request answered by ``repeat`` found by its
        key, whose logged field lines are ``logged``: the peer's start (or the client behind a
        trusted proxy's), the repeat's middle and the request's Referer and User-Agent, each
        made once, so that a line no earlier line was like costs little more than one that
        was."""
        fields, forwarded = field_lines_part(logged)
        client = self._shortcut.client(self.client, headers_of_lines(logged)) if forwarded else self.client
        if client is self.client:
            start = self._client_part
            if start is None:
                start = self._client_part = client_part("-" if self.peer_host is None else self.peer_host)
        else:
            start = client_part(client[0] if client else "-")
        middle = repeat.log_middle
        if middle is None or middle[0] != self.root_path:
            middle = repeat.log_middle = (self.root_path, self.log_request_part(repeat.hit))
        return start, middle[1] + fields


def _logged_as(hit: AnsweredHit, head: bytes) -> AnsweredHit:
    """``hit``, with the fields its log lines show taken from another request, ``head``."""
    fields = (*hit[:_HEADERS_FIELD], logged_headers(head), *hit[_HEADERS_FIELD + 1 :])
    return tuple.__new__(AnsweredHit, fields)


def _checker() -> httptools.HttpRequestParser:
    """The lane's first parser: llhttp's checks alone, without a Python call."""
    return httptools.HttpRequestParser(_NoCallbacks())
