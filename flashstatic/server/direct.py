"""Large files sent by the protocol itself: the head, then sendfile, and no ASGI at all.

A file too large for the body cache, whose entry is fresh and whose descriptor the open-file
cache holds, needs no decision the caches cannot make (the app's shortcut: shortcut.py). Through
ASGI its response would still cost a scope, a task, the middleware, two or three send()
coroutines with uvicorn's header checks, a residency check in the middleware and another in
the cycle: several times the Python an nginx-sized response leaves room for. Here the
protocol answers it from the parsed request, as it answers a cached small file: cached.py finds
the answer and encodes the head, ``DirectFilesMixin`` below sends them.

Usually the whole response leaves within the parser's callback: the head with MSG_MORE, so
that it shares packets with the first file bytes (nginx's tcp_nopush), then sendfile window by
window, each window checked for residency first (AMPED: the loop never waits for the disk).
When that cannot finish at once (a full socket buffer, pages not in memory, bytes of an
earlier response still in uvicorn's buffer) a task finishes it. Meanwhile ``DirectResponse``
stands in for uvicorn's request cycle, so that a pipelined request waits its turn as it would
behind any other response, and a shutdown lets the response finish.

Bytes go out on a duplicate of the connection's socket, made once per connection: the
transport's descriptor number may be reused the moment the transport closes, the duplicate's
cannot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from ..transmit.body import BodyUnavailable
from .accounting import TRAFFIC
from .sendfile import flush_transport, send_bytes, send_watch, sendfile_resident, zero_copy_possible

if TYPE_CHECKING:
    from ..transmit.files import FileAnswer
    from .cached import AnsweredHit

logger = logging.getLogger("flashstatic")


class _NoWaiter:
    """uvicorn sets its cycle's message_event when the connection is lost; nobody waits here."""

    def set(self) -> None:
        pass


class DirectResponse:
    """One direct file response, and uvicorn's view of it as the connection's cycle."""

    message_event = _NoWaiter()

    def __init__(self, answer: FileAnswer, head: bytes, sock: socket.socket, window: int) -> None:
        self.response_complete = False
        self.disconnected = False  # set by uvicorn when the connection is lost
        self.keep_alive = True  # cleared by uvicorn's shutdown(): close once done
        self.answer = answer
        self.sock = sock
        self.window = window
        self.sent = 0
        self._head = memoryview(head)
        self._offset = answer.start

    def send_now(self) -> bool:
        """Send what can go without waiting; True when the response is complete. Raises
        OSError when the connection failed, BodyUnavailable when the file shrank."""
        if self._head:
            try:
                self._head = self._head[self.sock.send(self._head, socket.MSG_MORE) :]
            except BlockingIOError:
                return False
            if self._head:
                return False
        answer, fd = self.answer, self.answer.file.fileno()
        while self._offset < answer.stop:
            count = min(self.window, answer.stop - self._offset)
            if not answer.file.resident_now(self._offset, count):
                return False
            try:
                sent = os.sendfile(self.sock.fileno(), fd, self._offset, count)
            except BlockingIOError:
                return False
            if sent == 0:
                raise _shrank(answer, self._offset)
            self._sent(sent)
        return True

    async def send_rest(self, transport: asyncio.Transport, flow: Any) -> None:
        """Send the rest, waiting for the socket and the disk (a helper) as needed; raises as
        send_now() does."""
        loop = asyncio.get_running_loop()
        await flush_transport(transport, flow, lambda: self.disconnected)
        answer = self.answer
        watch = send_watch(flow)  # a client that reads nothing for the send timeout: TimeoutError
        if self._head:
            await send_bytes(loop, self.sock, bytes(self._head), watch)
            self._head = memoryview(b"")
        while self._offset < answer.stop and not self.disconnected:
            count = min(self.window, answer.stop - self._offset)
            if not answer.file.resident_now(self._offset, count):
                await answer.file.make_resident(self._offset, count)
            sent = await sendfile_resident(
                loop, self.sock, answer.file.fileno(), self._offset, count, self._sent, watch
            )
            if sent < count:
                raise _shrank(answer, self._offset)

    def _sent(self, count: int) -> None:
        self._offset += count
        self.sent += count
        TRAFFIC.sendfile_bytes += count

    def close(self) -> None:
        """Once, however it ended: the file released (the protocol then counts and logs it)."""
        self.answer.file.close()
        self.response_complete = True


def _shrank(answer: FileAnswer, offset: int) -> BodyUnavailable:
    return BodyUnavailable(f"file ended {answer.stop - offset} bytes early during a response; closing the connection")


class DirectFilesMixin:
    """Mixed into uvicorn's HttpToolsProtocol below CachedAnswersMixin, which finds the
    answers (and logs them); this sends them."""

    # uvicorn's HttpToolsProtocol and CachedAnswersMixin state this relies on.
    transport: asyncio.Transport
    flow: Any
    cycle: Any
    loop: asyncio.AbstractEventLoop
    tasks: set[asyncio.Task[None]]
    _shortcut: Any
    on_response_complete: Any
    log_answer_started: Any
    answer_finished: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._raw_socket: socket.socket | None = None  # made for the first direct response
        self._direct_in_flight: DirectResponse | None = None
        self._lost = False

    def send_file(self, hit: AnsweredHit, answer: FileAnswer, head: bytes) -> bool:
        """Send ``head``, then the answer's slice of the file. False (and the file closed)
        when it must take the ASGI way instead."""
        if self._raw_socket is None and not self._duplicate_socket():
            answer.file.close()
            return False
        self.log_answer_started(hit)
        response = DirectResponse(
            answer,
            head,
            self._raw_socket,  # type: ignore[arg-type]
            self._shortcut.static.sendfile_chunk,
        )
        if not self.transport.get_write_buffer_size():
            try:
                complete = response.send_now()
            except (OSError, BodyUnavailable) as exc:
                self._direct_done(hit, response, exc)
                return True
            if complete:
                self._direct_done(hit, response, None)
                return True
        # The rest waits for the socket or the disk: uvicorn sees a response in flight.
        self.cycle = self._direct_in_flight = response
        task = self.loop.create_task(self._finish_direct(hit, response))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def _finish_direct(self, hit: AnsweredHit, response: DirectResponse) -> None:
        failure: BaseException | None = None
        try:
            await response.send_rest(self.transport, self.flow)
        except (OSError, BodyUnavailable, asyncio.CancelledError) as exc:
            failure = exc
        self._direct_done(hit, response, failure)
        if isinstance(failure, asyncio.CancelledError):
            raise failure

    def _direct_done(self, hit: AnsweredHit, response: DirectResponse, failure: BaseException | None) -> None:
        response.close()
        self._direct_in_flight = None
        self.answer_finished(hit, response.sent)
        if isinstance(failure, BodyUnavailable):
            logger.warning("%s", failure)
        if self._lost:
            self._close_raw_socket()
            return
        if failure is not None or response.disconnected:
            self.transport.close()  # cut short: the client must not take it for the whole file
            return
        if not hit.keep_alive or not response.keep_alive:
            self.transport.close()
        self.on_response_complete()

    def can_send_files(self) -> bool:
        return zero_copy_possible(self.transport)

    def _duplicate_socket(self) -> bool:
        if not zero_copy_possible(self.transport):
            return False
        try:
            self._raw_socket = self.transport.get_extra_info("socket").dup()
        except OSError:  # out of descriptors: the ASGI way answers 503 or waits
            return False
        return True

    def _close_raw_socket(self) -> None:
        if self._raw_socket is not None:
            self._raw_socket.close()
            self._raw_socket = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)  # type: ignore[misc]
        self._lost = True
        if self._direct_in_flight is None:
            self._close_raw_socket()  # else when that response ends
