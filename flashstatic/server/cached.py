"""Cache hits written straight to the connection, framed as uvicorn itself frames them.

The app's shortcut (shortcut.py) knows a hit's whole response before any await; going through
ASGI would add a scope, a task, a trip through the middleware stack and two send() coroutines,
which together cost several times the decision itself. The protocol writes instead the bytes
uvicorn's ``RequestResponseCycle.send`` writes for the same two messages: status line,
uvicorn's default headers, ours, ``connection: close`` where uvicorn writes it, the body
unless HEAD. tests/test_hot_path.py compares the two byte for byte.

A GET for a file too large for the body cache, kept open and fresh, is answered here too: its
head is encoded the same way, and direct.py sends it and the file.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from ..cache.responses import CachedResponse
from ..http.headers import Header
from ..transmit.files import FileAnswer, FilePart
from .accesslog import (
    ACCESS_LOGGER,
    LineFields,
    combined_lines,
    hit_line,
    hit_line_parts,
    json_line,
    line_writers,
    request_part,
)
from .accounting import TRAFFIC, response_done
from .shortcut import StaticShortcut, offered_shortcut
from .uvicorn_range import installed_version, release

Answerer = Callable[[str, str, list[tuple[bytes, bytes]]], "CachedResponse | FileAnswer | None"]


class AnsweredHit(NamedTuple):
    """A request answered from the caches, with what its log lines and a repeat need."""

    path: str  # below root_path, percent-decoded
    method: str
    raw_path: bytes
    query: bytes
    http_version: str
    headers: list[Header]
    status: int
    sent: int  # body bytes
    tail: bytes  # the response after uvicorn's default headers (only the head, for a file)
    keep_alive: bool
    file: FilePart | None = None  # what the protocol sends itself after the head (direct.py)


@dataclass(frozen=True)
class CacheShortcut:
    static: StaticShortcut  # all the protocol may call on the app
    # uvicorn's proxy-headers middleware sits in front: it only rewrites the client address and
    # scheme, which no file response depends on, but the access log shows the rewritten address.
    proxies: tuple[ProxyHeadersMiddleware, ...]
    # (peer, X-Forwarded-For values) -> the client: a proxy sends the same few again and again.
    _clients: dict[tuple[Any, tuple[bytes, ...]], tuple[str, int] | None] = field(default_factory=dict)

    def client(self, client: tuple[str, int] | None, headers: list[Header]) -> tuple[str, int] | None:
        """The client address the app would have seen (and the access log shows): what the
        proxy-headers middleware makes of the request's X-Forwarded-For."""
        if not self.proxies:
            return client
        forwarded: tuple[bytes, ...] = ()
        for name, value in headers:  # a loop: a comprehension would make a function each call
            if name == b"x-forwarded-for":
                forwarded += (value,)
        if not forwarded:
            return client
        key = (client, forwarded)
        if key in self._clients:
            return self._clients[key]
        for proxy in self.proxies:
            client = forwarded_client(proxy, client, headers)
        if len(self._clients) >= _MAX_CLIENTS:
            self._clients.clear()
        self._clients[key] = client
        return client


_MAX_CLIENTS = 1024


def forwarded_client(
    proxy: ProxyHeadersMiddleware, client: tuple[str, int] | None, headers: list[Header]
) -> tuple[str, int] | None:
    """Ask uvicorn's middleware itself, rather than copy its rules (which changed between
    uvicorn releases): a copy of it runs over a scope of its own, in front of an app that
    records the client. Nothing in it awaits, so one step runs it to the end."""
    seen: list[Any] = []

    async def record(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope.get("client"))

    resolver: Any = copy.copy(proxy)
    resolver.app = record
    step = resolver({"type": "http", "client": client, "headers": headers, "scheme": "http"}, _no_io, _no_io)
    try:
        step.send(None)
    except StopIteration:
        return seen[0] if seen else client
    step.close()  # it awaited after all: keep the connection's own address
    return client


async def _no_io(*args: Any) -> None:
    raise RuntimeError("the proxy-headers middleware did I/O")


def find_cache_shortcut(app: Any) -> CacheShortcut | None:
    """The shortcut of an app that uvicorn runs directly (through nothing but uvicorn's
    proxy-headers middleware) and offers one; None otherwise, for any other outer middleware
    must see every response, unless it passes the shortcut on itself."""
    proxies: list[ProxyHeadersMiddleware] = []
    while isinstance(app, ProxyHeadersMiddleware):
        proxies.append(app)
        app = app.app
    static = offered_shortcut(app)
    return CacheShortcut(static, tuple(proxies)) if static is not None else None


class CachedAnswersMixin:
    """Mixed into uvicorn's HttpToolsProtocol: a request whose headers are parsed is answered
    at once when the caches hold its response and nothing is ahead of it on the connection;
    any other takes uvicorn's own way, unchanged."""

    # uvicorn's HttpToolsProtocol state this relies on.
    app: Any
    transport: asyncio.Transport
    flow: FlowControl
    parser: httptools.HttpRequestParser
    cycle: Any
    pipeline: Any
    scope: Any
    url: bytes
    headers: list[Header]
    expect_100_continue: bool
    limit_concurrency: int | None
    access_log: bool
    access_logger: logging.Logger
    client: tuple[str, int] | None
    root_path: str
    server_state: Any
    on_response_complete: Callable[[], None]
    idle_from_now: Callable[[], None]  # LazyKeepAliveMixin's (keepalive.py)
    _unset_keepalive_if_required: Callable[[], None]
    send_file: Callable[[AnsweredHit, FileAnswer, bytes], bool]  # DirectFilesMixin's (direct.py)
    can_send_files: Callable[[], bool]  # DirectFilesMixin's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # With a concurrency limit uvicorn may answer 503 instead: its own way decides.
        self._shortcut = find_cache_shortcut(self.app) if self.limit_concurrency is None else None
        self._answered = False  # the request being parsed was answered from the cache
        self.last_hit: AnsweredHit | None = None
        # Chosen when the connection is made; cache answers only until then.
        self._answer: Answerer = self._shortcut.static.response if self._shortcut is not None else _no_answer

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        if self._shortcut is not None:
            # Files are sent from here only where sendfile may be used (not under TLS).
            files = self.can_send_files()
            static = self._shortcut.static
            self._answer = static.answer_or_file if files else static.response
        # uvicorn decides once per connection whether to log; so do we, level included, for
        # its log and for ours (accesslog.py).
        self._log_answers = self.access_log and self.access_logger.isEnabledFor(logging.INFO)
        self._log_combined = ACCESS_LOGGER.isEnabledFor(logging.INFO)
        self._log_any = self._log_answers or self._log_combined
        # Lines made from kept parts (fastlane.py): Combined ones, without uvicorn's line, which
        # is made from the hit.
        self._log_parts = self._log_combined and not self._log_answers and combined_lines()
        self._write_line, self._write_parts = line_writers()
        # The peer's address as a line shows it: behind a trusted proxy the line's client is
        # made of this and the request's X-Forwarded-For, never of the peer's port.
        self.peer_host = self.client[0] if self.client else None

    def on_message_begin(self) -> None:
        # uvicorn builds the scope here; it waits until a request turns out to need one.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self._answered = False

    def on_headers_complete(self) -> None:
        if self._shortcut is not None and self._answer_from_cache():
            self._answered = True
            return
        url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()  # type: ignore[misc]
        self.url, self.headers, self.expect_100_continue = url, headers, expect_100_continue
        self.scope["headers"] = headers
        super().on_headers_complete()  # type: ignore[misc]

    def on_body(self, body: bytes) -> None:
        if not self._answered:  # an answered request's body is read and dropped, as uvicorn does
            super().on_body(body)  # type: ignore[misc]

    def on_message_complete(self) -> None:
        if not self._answered:
            super().on_message_complete()  # type: ignore[misc]

    def _answer_from_cache(self) -> bool:
        """Write the response now if the caches hold it and nothing is ahead of it."""
        cycle = self.cycle
        if (
            (cycle is not None and not cycle.response_complete)
            or self.pipeline
            or self.flow.write_paused
            or self.transport.is_closing()
        ):
            return False  # pipelined behind a response still going out: uvicorn queues it
        parser = self.parser
        if parser.should_upgrade():
            return False
        http_version = parser.get_http_version()
        keep_alive = http_version != "1.0" and parser.should_keep_alive()
        return self.answer_request(parser.get_method(), self.url, self.headers, http_version, keep_alive)

    def answer_request(
        self, method: bytes, target: bytes, headers: list[Header], http_version: str, keep_alive: bool
    ) -> bool:
        """Write the response to a parsed request if the caches hold it; the caller has seen
        that nothing is in flight on the connection and that the request asks no upgrade."""
        if method != b"GET" and method != b"HEAD":
            return False
        path = _plain_paths.get(target)
        if path is not None or (path := _plain_path(target)) is not None:
            raw_path, query = target, b""
        else:
            try:
                url = httptools.parse_url(target)
                raw_path, query = url.path, url.query or b""
                path = raw_path.decode("ascii")
            except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
                return False  # uvicorn's own way answers these
            if "%" in path:
                path = urllib.parse.unquote(path)
        method_name = "GET" if method == b"GET" else "HEAD"
        response = self._answer(path, method_name, headers)
        if response is None:
            return False
        close = not keep_alive and announces_close(http_version, headers)  # no call on keep-alive
        if type(response) is FileAnswer:  # a large file kept open
            answer: FileAnswer = response
            hit = AnsweredHit(
                path,
                method_name,
                raw_path,
                query,
                http_version,
                headers,
                answer.status,
                answer.stop - answer.start,
                response_tail((answer.status, answer.headers, b""), announce_close=close, head=True),
                keep_alive,
                FilePart(answer.file.facts, answer.start, answer.stop),
            )
            # As uvicorn does when a request arrives: no keep-alive timeout while it is answered.
            self._unset_keepalive_if_required()
            if not self.send_file(
                hit, answer, STATUS_LINE[hit.status] + default_block(self.server_state.default_headers) + hit.tail
            ):
                return False
            self.last_hit = hit
            return True
        status = response[0]
        head = method_name == "HEAD"
        sent = 0 if head else len(response[2])
        tail = response_tail(response, announce_close=close, head=head)
        fields = (path, method_name, raw_path, query, http_version, headers, status, sent, tail, keep_alive, None)
        hit = _make_hit(AnsweredHit, fields)
        self.last_hit = hit
        self.send_hit(hit, STATUS_LINE[status] + default_block(self.server_state.default_headers) + tail)
        if keep_alive and not self.flow.read_paused:
            # on_response_complete, less what was ruled out above (a pipeline, a closing
            # transport) and paused reads: two calls fewer per request.
            self.server_state.total_requests += 1
            self.idle_from_now()
        else:
            self.on_response_complete()
        return True

    def send_hit(self, hit: AnsweredHit, wire: bytes, parts: tuple[str, str] | None = None) -> None:
        """Write an answered hit (``wire``, its whole response), log it and count it; ``parts``:
        its Combined line's (``hit_line_parts``), if the caller has them already."""
        # The flags are looked at here: with logs off, a call each would cost more than they do.
        if self._log_answers:
            self.log_answer_started(hit)
        self.transport.write(wire)
        TRAFFIC.body_bytes += hit.sent
        # answer_finished's work, without a call more on the hot path.
        line = None
        if parts is not None:
            self._write_parts(parts)
        elif self._log_combined:
            fields = self._line_fields(hit, hit.sent)
            parts = hit_line_parts(*fields)
            if parts is not None:
                self._write_parts(parts)
            else:  # a JSON line
                line = json_line(*fields, time.time())
        response_done(line, hit.status, hit.sent, self._write_line)
        if not hit.keep_alive:
            self.transport.close()

    def log_answer_started(self, hit: AnsweredHit) -> None:
        """uvicorn's access-log line, which uvicorn writes when a response starts."""
        if self._log_answers:
            log_access(
                self.access_logger,
                self._log_client(hit),
                hit.method,
                self.root_path + hit.path,
                hit.query,
                hit.http_version,
                hit.status,
            )

    def answer_finished(self, hit: AnsweredHit, sent: int) -> None:
        """The answer is over, ``sent`` body bytes out: counted, and logged (accounting.py)."""
        response_done(self.log_line(hit, sent) if self._log_combined else None, hit.status, sent, self._write_line)

    def _log_client(self, hit: AnsweredHit) -> tuple[str, int] | None:
        shortcut = self._shortcut
        return self.client if shortcut is None else shortcut.client(self.client, hit.headers)

    def log_line_parts(self, hit: AnsweredHit) -> tuple[str, str] | None:
        """``log_line``'s line for the whole response, before and after its time (accesslog's
        ``hit_line_parts``)."""
        return hit_line_parts(*self._line_fields(hit, hit.sent))

    def log_request_part(self, hit: AnsweredHit) -> str:
        """The middle of ``hit``'s Combined line (accesslog's ``request_part``), which every
        request it answers shares."""
        _, method, target, query, http_version, _, status, sent = self._line_fields(hit, hit.sent)
        return request_part(method, target, query, http_version, status, sent)

    def log_line(self, hit: AnsweredHit, sent: int) -> str:
        """flashstatic's Combined Log line for a cache answer, with the body bytes that went out."""
        return hit_line(*self._line_fields(hit, sent))

    def _line_fields(self, hit: AnsweredHit, sent: int) -> LineFields:
        target = self.root_path + hit.raw_path.decode("latin-1")
        return self._log_client(hit), hit.method, target, hit.query, hit.http_version, hit.headers, hit.status, sent


# Targets that are paths and nothing else (no query, no escapes), each with its text: the
# same few are asked for again and again. Bounded in count and in the size of a target kept
# (at most 4096 x 1 KiB): a client inventing targets only makes it start over.
_plain_paths: dict[bytes, str] = {}
_MAX_PLAIN_PATHS = 4096
_MAX_PLAIN_PATH_BYTES = 1024


def _plain_path(target: bytes) -> str | None:
    """The path a target names when parse_url would find it whole, with nothing to decode."""
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        return None
    # Searched as str: bytes' `in` first tries its operand as an integer, and raises and
    # clears a TypeError for each search, several times the cost of the search.
    if text[:1] != "/" or "?" in text or "%" in text or "#" in text:
        return None
    if len(target) <= _MAX_PLAIN_PATH_BYTES:
        if len(_plain_paths) >= _MAX_PLAIN_PATHS:
            _plain_paths.clear()
        _plain_paths[target] = text
    return text


def _no_answer(path: str, method: str, headers: list[tuple[bytes, bytes]]) -> None:
    return None


def encode_response(
    response: CachedResponse, default_headers: list[Header], *, announce_close: bool, head: bool
) -> bytes:
    return (
        STATUS_LINE[response[0]]
        + default_block(default_headers)
        + response_tail(response, announce_close=announce_close, head=head)
    )


# uvicorn's send() announces every close from 0.53 on; before, an HTTP/1.0 request's implied
# close only when the request itself said "Connection: close" (compared as this exact pair).
_ANNOUNCES_IMPLIED_CLOSE = release(installed_version()) >= (0, 53)
_CLOSE_REQUESTED = (b"connection", b"close")


def announces_close(http_version: str, headers: list[Header]) -> bool:
    """Whether uvicorn's own send() writes ``connection: close`` for a request that does not
    keep its connection alive."""
    return _ANNOUNCES_IMPLIED_CLOSE or http_version != "1.0" or _CLOSE_REQUESTED in headers


def response_tail(response: CachedResponse, *, announce_close: bool, head: bool) -> bytes:
    """The response after uvicorn's default headers, which change every second (Date)."""
    _, headers, body = response
    block = _header_block(headers)
    if announce_close:
        block = block[:-2] + b"connection: close\r\n\r\n"
    return block if head else block + body


def log_access(
    logger: logging.Logger,
    client: tuple[str, int] | None,
    method: str,
    path: str,
    query: bytes,
    http_version: str,
    status: int,
) -> None:
    """uvicorn's access-log line, with the same arguments it passes."""
    target = urllib.parse.quote(path)
    if query:
        target = f"{target}?{query.decode('ascii')}"
    logger.info(
        '%s - "%s %s HTTP/%s" %d', f"{client[0]}:{client[1]}" if client else "", method, target, http_version, status
    )


# uvicorn's default headers: a new list each second (for Date), the same list in between.
_last_defaults: tuple[list[Header] | None, bytes] = (None, b"")


def default_block(headers: list[Header]) -> bytes:
    """uvicorn's default headers (Date, Server), encoded once per list."""
    global _last_defaults
    seen, block = _last_defaults
    if seen is not headers:
        block = _encode(headers)
        _last_defaults = (headers, block)
    return block


# Encoded header blocks of cached representations, by the identity of their header tuple:
# the same object request after request. The tuple is kept with its block, so its id cannot
# be reused by another object while the block is here.
_blocks: dict[int, tuple[Sequence[Header], bytes]] = {}
_MAX_BLOCKS = 4096


def _header_block(headers: Sequence[Header]) -> bytes:
    """Encoded header lines and the blank line after them; lists are made for one response
    (a 206's Content-Range)."""
    known = _blocks.get(id(headers))
    if known is not None and known[0] is headers:
        return known[1]
    block = _encode(headers) + b"\r\n"
    if isinstance(headers, tuple):
        if len(_blocks) >= _MAX_BLOCKS:
            _blocks.clear()
        _blocks[id(headers)] = (headers, block)
    return block


# tuple.__new__ makes a NamedTuple without its Python-level __new__.
_make_hit = tuple.__new__


def _encode(headers: Sequence[Header]) -> bytes:
    return b"".join([b"%s: %s\r\n" % (name, value) for name, value in headers])
