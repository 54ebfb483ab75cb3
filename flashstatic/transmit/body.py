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


class SliceMessages(Protocol):
    """How a file slice travels: the messages for it, each to be sent with more_body=True."""

    def messages(self, part: FileSlice) -> AsyncIterator[dict[str, Any]]: ...


class BodyMessages:
    """File slices read in bounded chunks and sent as http.response.body (the fallback)."""

    def __init__(self, reader: SliceReader, chunk_size: int) -> None:
        self.reader = reader
        self.chunk_size = chunk_size

    async def messages(self, part: FileSlice) -> AsyncIterator[dict[str, Any]]:
        for offset in range(part.start, part.stop, self.chunk_size):
            body = await self.reader.read(offset, min(offset + self.chunk_size, part.stop))
            yield {"type": "http.response.body", "body": body}


async def _messages(plan: ResponsePlan, slices: SliceMessages | None) -> AsyncIterator[dict[str, Any]]:
    for part in plan.body:
        if isinstance(part, FileSlice):
            assert slices is not None
            async for message in slices.messages(part):
                yield message
        else:
            yield {"type": "http.response.body", "body": part}


class _DisconnectWatch:
    """Notices http.disconnect while a long body is sent.

    uvicorn's send() silently drops messages once the client is gone, so without this a
    vanished client would still cost us reading the rest of the file.
    """

    def __init__(self, receive: Receive) -> None:
        self.gone = False
        self._task = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        body_done = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                return
            if body_done:
                # A receive() that answers again after the request body is over is a replay
                # (middleware that read the body first), not the server: it will never report
                # the disconnect, and looping on it would starve the event loop.
                return
            body_done = not message.get("more_body", False)
            await asyncio.sleep(0)

    def stop(self) -> None:
        self._task.cancel()


class _NoWatch:
    """Off asyncio (trio) there is no task to watch with: the server's send() is relied on."""

    gone = False

    def stop(self) -> None:
        pass


async def send_plan(send: Send, receive: Receive, plan: ResponsePlan, slices: SliceMessages | None) -> None:
    await send({"type": "http.response.start", "status": plan.status, "headers": list(plan.headers)})
    if len(plan.body) == 1 and isinstance(plan.body[0], bytes):
        await send({"type": "http.response.body", "body": plan.body[0]})
        return
    if isinstance(slices, BodyMessages) and isinstance(slices.reader, MemoryReader) and len(plan.body) == 1:
        part = plan.body[0]
        assert isinstance(part, FileSlice)
        await send({"type": "http.response.body", "body": await slices.reader.read(part.start, part.stop)})
        return
    if not plan.body:
        await send({"type": "http.response.body", "body": b""})
        return

    try:
        await _send_all(send, receive, _messages(plan, slices))
    except BodyUnavailable as exc:
        logger.warning("response cut short, closing the connection: %s", exc)


async def _send_all(send: Send, receive: Receive, messages: AsyncIterator[dict[str, Any]]) -> None:
    # One message of look-ahead, so that the last one carries more_body=False and the
    # response ends without an extra empty message. The disconnect watch starts with the
    # second message: a body that fits in one needs none.
    pending: dict[str, Any] | None = None
    watch: _DisconnectWatch | _NoWatch | None = None
    try:
        async for message in messages:
            if pending is not None:
                if watch is None:
                    watch = _DisconnectWatch(receive) if asyncio._get_running_loop() is not None else _NoWatch()
                elif watch.gone:
                    return
                pending["more_body"] = True
                await send(pending)
            pending = message
    finally:
        if watch is not None:
            watch.stop()
        await messages.aclose()  # type: ignore[attr-defined]
    if pending is None:
        pending = {"type": "http.response.body", "body": b""}
    pending["more_body"] = False
    await send(pending)
