"""Sending a ResponsePlan as ASGI ``http.response.*`` messages, in bounded chunks.

Memory per response is one chunk whatever the file's size. A file that turns out shorter
than its headers promised ends the response unfinished, which makes the server close the
connection: the client sees a cut transfer, never a short body presented as complete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from ..http.respond import FileSlice, ResponsePlan

logger = logging.getLogger("flashstatic")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class BodyUnavailable(Exception):
    """The rest of the body cannot be had (the file shrank, a helper failed): the response
    ends unfinished."""


class SliceReader(Protocol):
    async def read(self, start: int, stop: int) -> bytes: ...


class MemoryReader:
    """Slices of a body already in memory (the small-file cache)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self, start: int, stop: int) -> bytes:
        return self._body[start:stop]


async def _pieces(plan: ResponsePlan, reader: SliceReader | None, chunk_size: int) -> AsyncIterator[bytes]:
    for part in plan.body:
        if isinstance(part, FileSlice):
            assert reader is not None
            for offset in range(part.start, part.stop, chunk_size):
                yield await reader.read(offset, min(offset + chunk_size, part.stop))
        else:
            yield part


class _DisconnectWatch:
    """Notices http.disconnect while a long body is sent.

    uvicorn's send() silently drops messages once the client is gone, so without this a
    vanished client would still cost us reading the rest of the file.
    """

    def __init__(self, receive: Receive) -> None:
        self.gone = False
        self._task = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True

    def stop(self) -> None:
        self._task.cancel()


async def send_plan(
    send: Send, receive: Receive, plan: ResponsePlan, reader: SliceReader | None, chunk_size: int
) -> None:
    await send({"type": "http.response.start", "status": plan.status, "headers": plan.headers})
    if len(plan.body) == 1 and isinstance(plan.body[0], bytes):
        await send({"type": "http.response.body", "body": plan.body[0]})
        return
    if isinstance(reader, MemoryReader) and len(plan.body) == 1:
        part = plan.body[0]
        assert isinstance(part, FileSlice)
        await send({"type": "http.response.body", "body": await reader.read(part.start, part.stop)})
        return
    if not plan.body:
        await send({"type": "http.response.body", "body": b""})
        return

    watch = _DisconnectWatch(receive)
    try:
        await _send_chunks(send, _pieces(plan, reader, chunk_size), watch)
    except BodyUnavailable as exc:
        logger.warning("response cut short, closing the connection: %s", exc)
    finally:
        watch.stop()


async def _send_chunks(send: Send, pieces: AsyncIterator[bytes], watch: _DisconnectWatch) -> None:
    # One piece of look-ahead, so that the last piece carries more_body=False and the
    # response ends without an extra empty message.
    pending: bytes | None = None
    try:
        async for piece in pieces:
            if watch.gone:
                return
            if pending is not None:
                await send({"type": "http.response.body", "body": pending, "more_body": True})
            pending = piece
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    await send({"type": "http.response.body", "body": pending or b""})
