"""uvicorn protocol classes that offer the ASGI zero-copy extensions on plain TCP.

    uvicorn myapp:app --http flashstatic.server:HttpToolsProtocol
    uvicorn.run(app, http=flashstatic.server.H11Protocol)

Under TLS the extensions are not offered (sendfile would bypass the encryption) and apps fall
back to ordinary body messages. The httptools protocol also bounds the request head
(headlimit.py), which stock uvicorn leaves unbounded with httptools, and, when uvicorn runs
a FlashStatic app directly, answers its cache hits as soon as their headers are parsed,
before any ASGI scope exists (cached.py), and a request repeated byte for byte without
parsing it again (repeats.py); its keep-alive timeout is one timer per connection (keepalive.py).
Both time request heads and stalled sends and cap the connections per process (limits.py):
subclass and set ``header_timeout``, ``send_timeout`` or ``max_connections`` to change them.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

import h11
from uvicorn.protocols.http import h11_impl, httptools_impl

from .accounting import account_unfinished
from .cached import CachedAnswersMixin
from .cycle import PATHSEND, ZEROCOPYSEND, H11Cycle, H11ZeroCopyCycle, HttpToolsCycle, HttpToolsZeroCopyCycle
from .direct import DirectFilesMixin
from .headlimit import HeadLimitMixin
from .keepalive import LazyKeepAliveMixin
from .limits import ConnectionLimitsMixin
from .repeats import RepeatedRequestsMixin
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
    target: bytes = (scope.get("raw_path") or b"")[len(root_path.encode("ascii")):]
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        return
    path = b"/" + rest.partition(b"/")[2]
    scope["raw_path"] = root_path.encode("ascii") + path
    scope["path"] = root_path + unquote(path.decode("ascii"))


class HttpToolsProtocol(ConnectionLimitsMixin, RepeatedRequestsMixin, HeadLimitMixin, CachedAnswersMixin,
                        DirectFilesMixin, LazyKeepAliveMixin, httptools_impl.HttpToolsProtocol):
    # The order matters: a head over the limit is refused before the cache may answer it, and
    # a repeated request is only recognised once the head limit and the cache passed it.
    def head_begun(self) -> bool:
        return self._head_bytes > 0  # HeadLimitMixin's count of the bytes of the head so far

    def _start_asgi_task(self, cycle: httptools_impl.RequestResponseCycle, app: Any) -> None:
        _offer_zero_copy(cycle, HttpToolsZeroCopyCycle, HttpToolsCycle, self.transport)
        super()._start_asgi_task(cycle, app)

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        account_unfinished(cycle)


class H11Protocol(ConnectionLimitsMixin, h11_impl.H11Protocol):
    _head_bytes = 0  # of the head being received

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
