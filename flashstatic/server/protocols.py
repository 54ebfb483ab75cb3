"""uvicorn protocol classes that offer the ASGI zero-copy extensions on plain TCP.

    uvicorn myapp:app --http flashstatic.server:HttpToolsProtocol
    uvicorn.run(app, http=flashstatic.server.H11Protocol)

Under TLS the extensions are not offered (sendfile would bypass the encryption) and apps fall
back to ordinary body messages. The httptools protocol also bounds the request head
(headlimit.py), which stock uvicorn leaves unbounded with httptools, and, when uvicorn runs
a FlashStatic app directly, answers its cache hits as soon as their headers are parsed,
before any ASGI scope exists (cached.py): a read holding one whole head through a lean parser
of its own (fastlane.py), and a request that asks what an earlier one asked (the same request
line and the same fields the answer depends on) with the earlier response (repeats.py); its
keep-alive timeout is one timer per connection (keepalive.py).
Both time request heads and stalled sends and cap the connections per process (limits.py):
subclass and set ``header_timeout``, ``send_timeout`` or ``max_connections`` to change them.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE

from .uvicorn_range import require_supported_uvicorn

# Before anything of uvicorn's private layout is imported: outside the tested range, one clear
# error instead of a server that starts and then fails or hangs on its first requests.
require_supported_uvicorn()

from uvicorn.protocols.http import h11_impl, httptools_impl

from .accesslog import flush_access_log
from .accounting import account_unfinished
from .cached import CachedAnswersMixin
from .cycle import PATHSEND, ZEROCOPYSEND, H11Cycle, H11ZeroCopyCycle, HttpToolsCycle, HttpToolsZeroCopyCycle
from .direct import DirectFilesMixin
from .fastlane import FastLaneMixin
from .headlimit import HeadLimitMixin, refusal_bytes
from .keepalive import LazyKeepAliveMixin
from .limits import ConnectionLimitsMixin
from .sendfile import zero_copy_possible

_EXTENSIONS = (ZEROCOPYSEND, PATHSEND)


def _offer_zero_copy(cycle: Any, cycle_class: type, plain_class: type, transport: asyncio.BaseTransport) -> None:
    # The request task is created but has not run yet: switching the cycle's class now makes
    # its send() ours for the whole response.
    if zero_copy_possible(transport):
        cycle.__class__ = cycle_class
        extensions = cycle.scope.setdefault("extensions", {})
        for name in _EXTENSIONS:
            extensions.setdefault(name, {})
    else:
        cycle.__class__ = plain_class  # no zero copy, but counted and logged


def origin_form(scope: dict[str, Any]) -> None:
    """An absolute-form target (``GET http://host/a.txt``), which RFC 9112 section 3.2.2 says
    a server must accept, reduced to its path, as uvicorn's httptools protocol already does;
    its h11 protocol passes the whole URL on as the path."""
    root_path: str = scope.get("root_path", "")
    target: bytes = (scope.get("raw_path") or b"")[len(root_path.encode("ascii")) :]
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        return
    path = b"/" + rest.partition(b"/")[2]
    scope["raw_path"] = root_path.encode("ascii") + path
    scope["path"] = root_path + unquote(path.decode("ascii"))


class HttpToolsProtocol(
    ConnectionLimitsMixin,
    FastLaneMixin,
    HeadLimitMixin,
    CachedAnswersMixin,
    DirectFilesMixin,
    LazyKeepAliveMixin,
    httptools_impl.HttpToolsProtocol,
):
    # The order matters: the fast lane takes whole heads within the limit before anything
    # else sees them; on uvicorn's way a head over the limit is refused before the cache may
    # answer it.
    def head_begun(self) -> bool:
        return self._head_bytes > 0  # HeadLimitMixin's count of the bytes of the head so far

    def _start_asgi_task(self, cycle: httptools_impl.RequestResponseCycle, app: Any) -> None:
        _offer_zero_copy(cycle, HttpToolsZeroCopyCycle, HttpToolsCycle, self.transport)
        super()._start_asgi_task(cycle, app)

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        account_unfinished(cycle)
        if not self.connections:
            flush_access_log()


class CheckedConnection(h11.Connection):
    """h11's connection, with two refusals it does not make itself.

    A request with both Content-Length and Transfer-Encoding: h11 frames it by its chunked
    body and keeps the connection open, so a proxy in front that framed it by Content-Length
    would see a request hidden in the body answered (request smuggling). RFC 9112 section 6.3
    allows refusing it; llhttp (the httptools protocol) does.

    A head over the bound: h11 bounds only a head still incomplete, so one that arrives whole
    in a read was taken whatever its size. The bound is h11's own (uvicorn's
    ``h11_max_incomplete_event_size``) for both, so the answer does not depend on how the
    bytes were split; nor does the status (414 for a long request-target, else 431).
    """

    max_head_bytes = DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
    refused = 400  # the status for the request just refused

    def next_event(self) -> Any:
        awaiting_head = self.their_state is h11.IDLE
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused = exc.error_status_hint  # 431 for a head still incomplete at the bound
            if self.refused == 431 and awaiting_head:
                self.refused = _incomplete_refusal(self.trailing_data[0], self.max_head_bytes)
            raise
        if type(event) is h11.Request:
            self.refused = _refusal(event, self.max_head_bytes)
            if self.refused:
                raise h11.RemoteProtocolError(HTTPStatus(self.refused).phrase, error_status_hint=self.refused)
        return event


def _incomplete_refusal(head: bytes, max_head_bytes: int) -> int:
    """414 or 431 for a head over the bound before it ended, as for a whole one (_refusal)."""
    line_end = head.find(b"\n")
    return 414 if line_end < 0 or line_end > max_head_bytes // 2 else 431


def _refusal(request: h11.Request, max_head_bytes: int) -> int:
    """The status to refuse a parsed request with, or 0."""
    names = {name for name, _ in request.headers}  # h11 gives them lowercased
    if b"content-length" in names and b"transfer-encoding" in names:
        return 400
    size = len(request.target) + sum(len(name) + len(value) + 4 for name, value in request.headers)
    if size <= max_head_bytes:
        return 0
    return 414 if len(request.target) > max_head_bytes // 2 else 431


class H11Protocol(ConnectionLimitsMixin, h11_impl.H11Protocol):
    conn: CheckedConnection  # uvicorn's h11.Connection, given our class in __init__
    _head_bytes = 0  # of the head being received

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn answers h11's protocol errors with a 400 (send_400_response) and closes.
        self.conn.__class__ = CheckedConnection
        configured = self.config.h11_max_incomplete_event_size
        self.conn.max_head_bytes = configured if configured is not None else CheckedConnection.max_head_bytes

    def send_400_response(self, msg: str) -> None:
        status = self.conn.refused
        if status not in (414, 431):
            super().send_400_response(msg)
            return
        bound = self.conn.max_head_bytes
        self.transport.write(
            refusal_bytes(status, f"{HTTPStatus(status).phrase}: the request head exceeds {bound} bytes")
        )
        self.transport.close()

    def head_begun(self) -> bool:
        return self._head_bytes > 0

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already; closing soon
        self._idle_since = None
        head = self.conn.their_state is h11.IDLE  # these are bytes of a request head
        if head:
            self._head_bytes += len(data)
            if self._head_since is None:
                self._head_since = self.loop.time()
        super().data_received(data)
        if head and self.conn.their_state is not h11.IDLE:
            self._head_since = None  # complete: the request is under way
            self._head_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._idle_since = self.loop.time()  # kept alive, waiting for the next request

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        # h11 starts at most one request per call: the next waits until this response is done.
        if self.cycle is not None and self.cycle is not before:
            origin_form(self.cycle.scope)
            _offer_zero_copy(self.cycle, H11ZeroCopyCycle, H11Cycle, self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        account_unfinished(cycle)
        if not self.connections:
            flush_access_log()
