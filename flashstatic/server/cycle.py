"""The ASGI zero-copy extensions on uvicorn's request/response cycles.

``http.response.zerocopysend`` and ``http.response.pathsend`` are carried out with sendfile on
the client's socket. Everything before the file bytes (the headers, earlier body messages) is
made to leave uvicorn's transport buffer first, the framing (Content-Length accounting or a
chunk's size line) is kept exactly as uvicorn's own path keeps it, and every response still
ends through uvicorn's stock send(), so keep-alive and pipelining bookkeeping stay its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import h11
from uvicorn.protocols.http import h11_impl, httptools_impl

from ..amped import jobs
from ..amped.residency import cachestat_resident
from .accounting import AccountingMixin
from .sendfile import flush_transport, send_bytes, send_watch, sendfile_resident

if TYPE_CHECKING:
    from uvicorn._types import HTTPScope

logger = logging.getLogger("flashstatic")

ZEROCOPYSEND = "http.response.zerocopysend"
PATHSEND = "http.response.pathsend"


class ZeroCopyMixin:
    """Mixed into uvicorn's RequestResponseCycle classes; ``_frame`` differs per parser."""

    transport: asyncio.Transport
    flow: Any
    scope: HTTPScope  # as uvicorn's cycles declare it
    disconnected: bool
    response_started: bool
    response_complete: bool
    _raw_socket: socket.socket | None = None
    _corked = False
    sent_by_sendfile: Callable[[int], None]  # AccountingMixin's, below this one

    # Wider than uvicorn's ASGISendEvent: the zero-copy extensions' messages too.
    async def send(self, message: Mapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.response_started and _may_carry_a_file(message):
            # Like nginx's tcp_nopush: hold partial frames until the response is complete, so
            # the headers share packets with the first file bytes instead of going alone.
            self._corked = True
            self._cork(True)
        try:
            if kind == ZEROCOPYSEND:
                await self._send_file(
                    message["file"].fileno(),
                    message.get("offset"),
                    message.get("count"),
                    message.get("more_body", False),
                )
            elif kind == PATHSEND:
                await self._send_path(message["path"])
            else:
                await super().send(message)  # type: ignore[misc]
        finally:
            if self.response_complete or self.disconnected:
                if self._corked:
                    self._corked = False
                    self._cork(False)
                if self._raw_socket is not None:
                    self._raw_socket.close()
                    self._raw_socket = None

    def _transport_socket(self) -> Any:
        # uvloop builds a new socket-like object (with a getsockname call) for every
        # get_extra_info("socket"): ask once per response.
        sock = self.__dict__.get("_socket_info")
        if sock is None:
            sock = self._socket_info = self.transport.get_extra_info("socket")
        return sock

    def _cork(self, on: bool) -> None:
        sock = self._transport_socket()
        if sock is not None and not self.transport.is_closing():
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)
            except OSError:
                pass  # the connection is going away

    def _frame(self, count: int) -> tuple[bytes, bytes]:
        """What goes before and after ``count`` body bytes, with the parser's state updated."""
        raise NotImplementedError

    async def _send_path(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        # Opening may wait for the disk: a thread does it.
        fd, size = await loop.run_in_executor(None, _open_sized, path)
        try:
            await self._send_file(fd, 0, size, more_body=False)
        finally:
            os.close(fd)

    async def _send_file(self, fd: int, offset: int | None, count: int | None, more_body: bool) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started or self.response_complete:
            raise RuntimeError("zero-copy body sent outside a response")
        if offset is None:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        if count is None:
            count = os.fstat(fd).st_size - offset
        if count > 0 and self.scope["method"] != "HEAD":
            prefix, suffix = self._frame(count)
            if not await self._sendfile(fd, offset, count, prefix, suffix):
                return
        await super().send({"type": "http.response.body", "body": b"", "more_body": more_body})  # type: ignore[misc]

    async def _sendfile(self, fd: int, offset: int, count: int, prefix: bytes, suffix: bytes) -> bool:
        loop = asyncio.get_running_loop()
        await flush_transport(self.transport, self.flow, lambda: self.disconnected)
        if self.disconnected:
            return False
        try:
            if self._raw_socket is None:
                # May fail with EMFILE: the response is cut like any other failed send.
                self._raw_socket = self._transport_socket().dup()
            sock = self._raw_socket
            await _ensure_resident(loop, fd, offset, count)
            watch = send_watch(self.flow)
            if prefix:
                await send_bytes(loop, sock, prefix, watch)
            sent = await sendfile_resident(loop, sock, fd, offset, count, self.sent_by_sendfile, watch)
            if sent < count:
                logger.warning("file ended %d bytes early during a response; closing the connection", count - sent)
                self._abandon()
                return False
            if suffix:
                await send_bytes(loop, sock, suffix, watch)
        except OSError:  # the client went away (EPIPE, ECONNRESET) or read nothing for the send
            # timeout (TimeoutError), or no descriptor for the dup
            self._abandon()
            return False
        return True

    def _abandon(self) -> None:
        self.disconnected = True
        self.transport.close()


# Bodies up to this size leave in one write after the headers: corking them costs two
# setsockopt calls and saves nothing.
_CORK_ABOVE = 64 * 1024


def _may_carry_a_file(start: Mapping[str, Any]) -> bool:
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-length":
            return not value.isdigit() or int(value) > _CORK_ABOVE
    return True


def _open_sized(path: str) -> tuple[int, int]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    return fd, os.fstat(fd).st_size


async def _ensure_resident(loop: asyncio.AbstractEventLoop, fd: int, offset: int, count: int) -> None:
    """Never let sendfile wait for the disk on the loop: where cachestat can tell, bring cold
    pages in from a thread first. (flashstatic's middleware has already done this through its
    AMPED helpers; this protects any other app, e.g. a FileResponse sent as pathsend.) Where
    the kernel will not answer, a pathsend is paged in from a thread regardless."""
    resident = cachestat_resident(fd, offset, count)
    if not resident:
        await loop.run_in_executor(None, jobs.page_in, fd, offset, count)


class HttpToolsCycle(AccountingMixin, httptools_impl.RequestResponseCycle):
    """Where zero copy is not possible (TLS): counted and logged all the same."""


class H11Cycle(AccountingMixin, h11_impl.RequestResponseCycle):
    pass


class HttpToolsZeroCopyCycle(ZeroCopyMixin, HttpToolsCycle):
    def _frame(self, count: int) -> tuple[bytes, bytes]:
        if self.chunked_encoding:
            return b"%x\r\n" % count, b"\r\n"
        if count > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        self.expected_content_length -= count
        return b"", b""


class _Length:
    """Stands in for the file's bytes in h11's framing: h11 only ever asks for their length."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count


class H11ZeroCopyCycle(ZeroCopyMixin, H11Cycle):
    conn: h11.Connection

    def _frame(self, count: int) -> tuple[bytes, bytes]:
        # h11 types Data.data as bytes but only asks for its length: the stand-in passes for bytes.
        placeholder = cast(bytes, _Length(count))
        pieces = self.conn.send_with_data_passthrough(h11.Data(data=placeholder)) or []
        at = next(i for i, piece in enumerate(pieces) if piece is placeholder)
        return b"".join(pieces[:at]), b"".join(pieces[at + 1 :])
