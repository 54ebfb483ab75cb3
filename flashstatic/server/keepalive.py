"""The keep-alive timeout with one timer per connection instead of one per response.

uvicorn cancels its keep-alive timer whenever data arrives and arms a new one whenever a
response completes: two timer-heap operations and a handle per request, about a tenth of
what a parsed cache hit costs in ``flashstatic serve``. Here the connection notes instead
when it became idle (``None`` while a request is being received or answered), and one timer,
armed when the connection first goes idle, looks on expiry: still idle for the whole timeout,
it closes the connection as uvicorn would; otherwise it waits out the rest and looks again.
The timeout means what it meant: a connection idle that long after a response is closed, and
one with a request in flight never is.
"""

from __future__ import annotations

import asyncio
from typing import Any


class LazyKeepAliveMixin:
    """Mixed into uvicorn's HttpToolsProtocol, above everything that completes responses."""

    # uvicorn's HttpToolsProtocol state this relies on.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    flow: Any
    pipeline: Any
    server_state: Any
    timeout_keep_alive: int
    timeout_keep_alive_task: asyncio.TimerHandle | None
    _start_asgi_task: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle_since: float | None = None

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this as a request arrives: busy from now, and the timer stays armed.
        self._idle_since = None

    def on_response_complete(self) -> None:
        # uvicorn's bookkeeping, but the timer: the next pipelined request starts, or the
        # connection is idle from now.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._idle_since = None
            self._start_asgi_task(cycle, app)
            return
        self.idle_from_now()

    def idle_from_now(self) -> None:
        """The connection waits for its next request; on_response_complete's end, for a
        caller that knows nothing else is in flight and reading is not paused (fastlane.py)."""
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def timeout_keep_alive_handler(self) -> None:
        self.timeout_keep_alive_task = None
        if self.transport.is_closing():
            return
        idle_since = self._idle_since
        wait: float
        if idle_since is None:
            wait = self.timeout_keep_alive  # busy: a whole timeout again, counted from its end
        else:
            wait = self.timeout_keep_alive - (self.loop.time() - idle_since)
            if wait <= 0:
                super().timeout_keep_alive_handler()  # type: ignore[misc]
                return
        self.timeout_keep_alive_task = self.loop.call_later(wait, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        super().connection_lost(exc)  # type: ignore[misc]
