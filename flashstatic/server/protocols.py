"""uvicorn protocol classes that offer the ASGI zero-copy extensions on plain TCP.

    uvicorn myapp:app --http flashstatic.server:HttpToolsProtocol
    uvicorn.run(app, http=flashstatic.server.H11Protocol)

Under TLS the extensions are not offered (sendfile would bypass the encryption) and apps fall
back to ordinary body messages.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http import h11_impl, httptools_impl

from .accounting import account_unfinished
from .cycle import PATHSEND, ZEROCOPYSEND, H11Cycle, H11ZeroCopyCycle, HttpToolsCycle, HttpToolsZeroCopyCycle

_EXTENSIONS = (ZEROCOPYSEND, PATHSEND)


def zero_copy_possible(transport: asyncio.BaseTransport | None) -> bool:
    return (transport is not None and transport.get_extra_info("sslcontext") is None
            and transport.get_extra_info("socket") is not None)


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


class HttpToolsProtocol(httptools_impl.HttpToolsProtocol):
    def _start_asgi_task(self, cycle: httptools_impl.RequestResponseCycle, app: Any) -> None:
        _offer_zero_copy(cycle, HttpToolsZeroCopyCycle, HttpToolsCycle, self.transport)
        super()._start_asgi_task(cycle, app)

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        account_unfinished(cycle)


class H11Protocol(h11_impl.H11Protocol):
    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        # h11 starts at most one request per call: the next waits until this response is done.
        if self.cycle is not None and self.cycle is not before:
            _offer_zero_copy(self.cycle, H11ZeroCopyCycle, H11Cycle, self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        account_unfinished(cycle)
