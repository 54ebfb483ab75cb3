"""A bound on the request head (request line and header fields) for the httptools protocol.

llhttp sets no limit and httptools buffers a header field until it ends, so on stock uvicorn
one client sending an endless header grows the server by as much as it sends (300 MB for
200 MB sent, measured). h11 refuses heads over 16 KiB; nginx over 32 KiB by default. We count
the bytes of each head as they arrive and refuse one that grows past ``max_head_bytes``
with a 414 (mostly request-target) or 431, then close the connection after a short lingering
read, so the client gets the status instead of a reset for the bytes it is still sending.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from ..http.respond import plan_text

MAX_HEAD_BYTES = 64 * 1024
# The timeouts' defaults (limits.py), here where `flashstatic serve --help` can read them without
# importing uvicorn's protocol modules. A head is a few hundred bytes that every real client
# sends at once; Apache's mod_reqtimeout allows 20 s too. nginx's send_timeout is 60 s.
HEADER_TIMEOUT = 20.0
SEND_TIMEOUT = 60.0
# How long a refused connection is drained before it is closed (nginx's lingering_time is 30 s;
# a client that keeps sending past this gets a reset, as it would there).
LINGER_SECONDS = 2.0


def refusal_bytes(status: int, text: str) -> bytes:
    """The whole response, written straight to the transport: no request cycle exists yet."""
    plan = plan_text(status, text, [(b"connection", b"close")])
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode("ascii")]
    head += [name + b": " + value + b"\r\n" for name, value in plan.headers]
    return b"".join(head) + b"\r\n" + b"".join(part for part in plan.body if isinstance(part, bytes))


class HeadLimitMixin:
    """Mixed into uvicorn's HttpToolsProtocol."""

    max_head_bytes = MAX_HEAD_BYTES
    transport: asyncio.Transport
    cycle: Any
    url: bytes
    headers: list[tuple[bytes, bytes]]
    _head_bytes = 0
    _read_bytes = 0  # the size of the read being parsed
    _head_done = False  # between the end of a head and the end of its message
    _refused = False
    loop: asyncio.AbstractEventLoop
    # When the head being received became due (limits.py times it); None when none is.
    _head_since: float | None = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: read and drop until the close
        if not self._head_done:
            self._head_bytes += len(data)
        self._read_bytes = len(data)
        # The parser sees this read first (one read is bounded by the transport); a head that
        # ends within it is measured exactly in on_headers_complete.
        super().data_received(data)  # type: ignore[misc]
        if self._head_bytes and self._head_since is None:
            self._head_since = self.loop.time()  # a head began and is not complete yet
        if (
            not self._refused
            and not self._head_done
            and self._head_bytes > self.max_head_bytes
            and not self.transport.is_closing()
        ):
            self._refuse_head()

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        # A head is no larger than the bytes read since it began (earlier reads, counted in
        # _head_bytes) plus this read: measure it only when that bound is over the limit,
        # not on every request.
        if self._head_bytes + self._read_bytes > self.max_head_bytes and self._measured_head() > self.max_head_bytes:
            self._refuse_head()
            return
        self._head_done = True
        self._head_bytes = 0
        self._head_since = None
        super().on_headers_complete()  # type: ignore[misc]

    def _measured_head(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)  # type: ignore[misc]

    def on_message_complete(self) -> None:
        if self._refused:
            return  # no request cycle was started for it
        self._head_done = False
        super().on_message_complete()  # type: ignore[misc]

    def _refuse_head(self) -> None:
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:
            # A response is still going out on this connection: nothing can be written now.
            self.transport.close()
            return
        target_too_long = len(getattr(self, "url", b"") or b"") > self.max_head_bytes // 2
        status = 414 if target_too_long else 431
        self.transport.write(
            refusal_bytes(status, f"{HTTPStatus(status).phrase}: the request head exceeds {self.max_head_bytes} bytes")
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)
