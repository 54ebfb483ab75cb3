"""Header and send timeouts and a cap on connections, for both protocol classes (nginx's
client_header_timeout, send_timeout and worker_connections).

Without them a client holds a connection, and a descriptor, for as long as it likes: by sending
half a request head, or nothing, or by never reading a large response; a few hundred such
connections exhaust the descriptors and lock everyone else out (stock uvicorn too).

- A request head must arrive within ``header_timeout`` seconds of the connection's start, or,
  on a kept-alive connection, of its first byte: otherwise a 408, or a plain close when nothing
  was sent at all. Bodies and apps are not timed; idle time between requests is the keep-alive
  timeout's business.
- While a response is going out, a client that reads nothing for ``send_timeout`` seconds has
  its connection closed; the response ends cut short, as for a client that went away.
- Past ``max_connections`` connections per process, the connections idle longest (kept alive
  between requests, or connected but silent) are closed to make room, as nginx reuses idle
  keep-alive connections; when none is idle the newcomer gets a 503 and is closed.

One timer per connection enforces both timeouts: the connection notes since when a head has
been due and since when sending has waited for the client, and the timer looks when it fires
(as keepalive.py does), so no request arms or cancels a timer.

    class MyProtocol(flashstatic.server.HttpToolsProtocol):
        header_timeout = 10.0
        send_timeout = 30.0
        max_connections = 2000
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import heapq
import logging
import resource
import struct
import termios
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl

from ..amped.openfiles import default_open_files
from .headlimit import HEADER_TIMEOUT, SEND_TIMEOUT, refusal_bytes

logger = logging.getLogger("flashstatic")

# How long a refused connection may read on (and have its bytes dropped) before it is closed,
# so that the client gets the status line rather than a reset for what it was still sending.
REFUSAL_LINGER = 1.0
# Refusals are logged at most this often: a flood must not flood the log too.
REFUSAL_LOG_INTERVAL = 10.0
_last_refusal_logged = -REFUSAL_LOG_INTERVAL


@functools.cache
def default_max_connections() -> int:
    """What is left of RLIMIT_NOFILE after the open-file cache (a quarter, ``open_files``' own
    default) and an eighth in reserve (helpers' pipes, the app's files, the log, accepts that
    arrive together before any can be refused), halved: a connection may hold two descriptors,
    its socket and the duplicate sendfile writes to. 320 under a limit of 1024."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(1, (soft - default_open_files() - soft // 8) // 2)


class SendWatch(FlowControl):
    """uvicorn's flow control for one connection, which also notes since when sending has been
    waiting for the client: writing paused (the transport's buffer over its high-water mark),
    or a sendfile waiting for room in the socket (sendfile.py).

    A client that reads slowly but steadily may leave either wait unanswered for a while (the
    kernel reports room only once a third of the send buffer is free); what it reads still
    shrinks the bytes not yet taken, which is what counts as progress."""

    loop: asyncio.AbstractEventLoop
    _transport: asyncio.Transport
    stalled_since: float | None = None
    _stalled_unsent = 0  # bytes not yet taken by the client when last seen stalled
    _waiter: asyncio.Future[None] | None = None  # a sendfile's wait for the socket
    _fd: int | None = None  # the connection's socket, found at its first stall

    def pause_writing(self) -> None:
        if not self.write_paused:
            self._stall_began()
        super().pause_writing()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._waiter is None:
            self.stalled_since = None

    def waiting(self, waiter: asyncio.Future[None]) -> None:
        """A sendfile waits for the socket to take more."""
        self._waiter = waiter
        self._stall_began()

    def waited(self) -> None:
        self._waiter = None
        self.stalled_since = self.loop.time() if self.write_paused else None

    def _stall_began(self) -> None:
        self.stalled_since = self.loop.time()
        self._stalled_unsent = self._unsent()

    def _unsent(self) -> int:
        """Bytes written and not yet taken by the client: the transport's buffer and the
        socket's send queue."""
        if self._fd is None:
            sock = self._transport.get_extra_info("socket")
            self._fd = sock.fileno() if sock is not None else -1
        queued = 0
        if self._fd >= 0 and not self._transport.is_closing():
            try:
                queued = struct.unpack("i", fcntl.ioctl(self._fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            except OSError:
                pass
        return self._transport.get_write_buffer_size() + queued

    def stalled_for(self, now: float) -> float:
        """Seconds sending has waited without the client reading anything; 0 when it is not
        waiting."""
        since = self.stalled_since
        if since is None:
            return 0.0
        unsent = self._unsent()
        if unsent < self._stalled_unsent:  # the client read some: a new wait from now
            self.stalled_since, self._stalled_unsent = now, unsent
            return 0.0
        return now - since

    def give_up(self) -> None:
        """Wake a waiting sendfile with an error: the response is cut as for a failed send."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError("the client read nothing for the send timeout"))


class ConnectionLimitsMixin:
    """Mixed into both protocol classes, outermost. The protocol notes ``_head_since`` (the
    time a head became due, None when none is) and ``_idle_since`` (None while busy); it tells
    ``head_begun()`` whether bytes of the due head arrived."""

    header_timeout: float = HEADER_TIMEOUT
    send_timeout: float = SEND_TIMEOUT
    max_connections: int | None = None  # None: default_max_connections()

    # uvicorn's protocol state this relies on.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    flow: Any
    cycle: Any
    connections: set[Any]
    _head_since: float | None = None
    _idle_since: float | None = None
    _refused = False  # reads are dropped until the close
    _watchdog: asyncio.TimerHandle | None = None

    def head_begun(self) -> bool:
        raise NotImplementedError

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        flow = self.flow
        flow.__class__ = SendWatch  # uvicorn made it; the cycles and sendfile use the same object
        flow.loop = self.loop
        now = self.loop.time()
        self._head_since = self._idle_since = now  # connected, silent, the first head due
        if not self._room_for_one_more():
            self._log_refusal(now)
            self.refuse(503, "Service Unavailable: too many connections")
            return
        self._watchdog = self.loop.call_later(self._period(), self._look)

    def _period(self) -> float:
        # At least this often, whatever is pending: a stall or a head that began after the last
        # look is then seen before its own timeout is up.
        return min(self.header_timeout, self.send_timeout)

    def _look(self) -> None:
        self._watchdog = None
        if self.transport.is_closing() or self._refused:
            return
        now = self.loop.time()
        wait = self._period()
        stalled = self.flow.stalled_for(now)
        if stalled:
            if stalled >= self.send_timeout:
                self._send_timed_out()
                return
            # Looked at again sooner: progress is only seen then.
            wait = min(wait, self.send_timeout - stalled, self.send_timeout / 4)
        since = self._head_since
        if since is not None:
            if self.cycle is not None and not self.cycle.response_complete:
                self._head_since = now  # pipelined behind a response: due once that is done
            elif now - since >= self.header_timeout:
                self._head_timed_out()
                return
            else:
                wait = min(wait, self.header_timeout - (now - since))
        self._watchdog = self.loop.call_later(wait, self._look)

    def _head_timed_out(self) -> None:
        if self.head_begun():
            self.refuse(408, f"Request Timeout: no complete request head within {self.header_timeout:g} s")
        else:
            self.transport.close()  # nothing was asked, so nothing is answered (nginx does the same)

    def _send_timed_out(self) -> None:
        logger.info("closing a connection whose client read nothing for %g s", self.send_timeout)
        self.flow.give_up()
        # abort, not close: close would wait for a buffer this client will never read.
        self.transport.abort()

    def refuse(self, status: int, text: str) -> None:
        """Answer ``status`` (Connection: close) ahead of any request, drop what the client
        still sends, and close soon."""
        self._refused = True
        self.transport.write(refusal_bytes(status, text))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        # abort at the end: a client that reads nothing must not keep the descriptor.
        self.loop.call_later(REFUSAL_LINGER, self.transport.abort)

    def _log_refusal(self, now: float) -> None:
        global _last_refusal_logged
        if now - _last_refusal_logged >= REFUSAL_LOG_INTERVAL:
            _last_refusal_logged = now
            logger.warning(
                "%d connections open and none idle: new connections get a 503 (max_connections)",
                self.max_connections or default_max_connections(),
            )

    def _room_for_one_more(self) -> bool:
        cap = self.max_connections or default_max_connections()
        if len(self.connections) <= cap:  # this one included
            return True
        return make_room(self.connections, cap, self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        super().connection_lost(exc)  # type: ignore[misc]


def make_room(connections: set[Any], cap: int, newcomer: Any) -> bool:
    """Close the connections idle longest until no more than ``cap`` remain open; False when
    too few are idle. Closing ones (and refused ones) no longer count."""
    open_count = 0
    idle: list[tuple[float, Any]] = []
    for connection in connections:
        transport = getattr(connection, "transport", None)
        if transport is None or transport.is_closing() or getattr(connection, "_refused", False):
            continue
        open_count += 1
        since = getattr(connection, "_idle_since", None)
        if since is not None and connection is not newcomer:
            cycle = connection.cycle
            if cycle is None or cycle.response_complete:
                idle.append((since, connection))
    excess = open_count - cap
    if excess <= 0:
        return True
    for _, connection in heapq.nsmallest(excess, idle, key=lambda pair: pair[0]):
        connection.transport.close()
    return len(idle) >= excess
