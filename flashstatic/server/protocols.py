"""uvicorn protocol classes that offer the ASGI zero-copy extensions on plain TCP.

    uvicorn myapp:app --http flashstatic.server:HttpToolsProtocol
    uvicorn.run(app, http=flashstatic.server.H11Protocol)

Under TLS the extensions are not offered (sendfile would bypass the encryption) and apps fall
back to ordinary body messages.

The httptools protocol also answers cache hits of a FlashStatic app directly (see
``cached.py``): the bytes on the wire are the ones uvicorn would write for the same ASGI
messages, without a task, a scope's way through the app, or its two send() calls.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn.protocols.http import h11_impl, httptools_impl

from .cached import CachedResponder, find_cached_responder, write_cached_response
from .cycle import PATHSEND, ZEROCOPYSEND, H11ZeroCopyCycle, HttpToolsZeroCopyCycle

_EXTENSIONS = (ZEROCOPYSEND, PATHSEND)


def zero_copy_possible(transport: asyncio.BaseTransport | None) -> bool:
    return (transport is not None and transport.get_extra_info("sslcontext") is None
            and transport.get_extra_info("socket") is not None)


def _offer_zero_copy(cycle: Any, cycle_class: type, transport: asyncio.BaseTransport) -> None:
    # The request task is created but has not run yet: switching the cycle's class now makes
    # its send() ours for the whole response.
    if zero_copy_possible(transport):
        cycle.__class__ = cycle_class
        extensions = cycle.scope.setdefault("extensions", {})
        for name in _EXTENSIONS:
            extensions.setdefault(name, {})


class HttpToolsProtocol(httptools_impl.HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cached: CachedResponder | None = find_cached_responder(self.app)
        # Answering a request completes it, which starts the next pipelined one: those wait
        # here instead of recursing once per request.
        self._answering = False
        self._ready: deque[tuple[httptools_impl.RequestResponseCycle, Any]] = deque()

    def _start_asgi_task(self, cycle: httptools_impl.RequestResponseCycle, app: Any) -> None:
        if self._answering:
            self._ready.append((cycle, app))
            return
        self._answering = True
        try:
            while True:
                if not (app is self.app and self._answer_from_cache(cycle)):
                    _offer_zero_copy(cycle, HttpToolsZeroCopyCycle, self.transport)
                    super()._start_asgi_task(cycle, app)
                if not self._ready:
                    break
                cycle, app = self._ready.popleft()
        finally:
            self._answering = False

    def _answer_from_cache(self, cycle: httptools_impl.RequestResponseCycle) -> bool:
        if self._cached is None or self.flow.write_paused or self.transport.is_closing():
            return False
        response = self._cached(cycle.scope)
        if response is None:
            return False
        write_cached_response(cycle, response)
        return True


class H11Protocol(h11_impl.H11Protocol):
    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        # h11 starts at most one request per call: the next waits until this response is done.
        if self.cycle is not None and self.cycle is not before:
            _offer_zero_copy(self.cycle, H11ZeroCopyCycle, self.transport)
