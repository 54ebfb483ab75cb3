"""os.sendfile on a raw, non-blocking socket, driven by the event loop.

We work on a duplicate of the connection's socket: if the transport is closed mid-transfer its
descriptor number may be reused at once, and a write to the duplicate can never land there.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Any

from .limits import SendWatch


def zero_copy_possible(transport: asyncio.BaseTransport | None) -> bool:
    """Plain TCP: under TLS, sendfile would bypass the encryption."""
    return (
        transport is not None
        and transport.get_extra_info("sslcontext") is None
        and transport.get_extra_info("socket") is not None
    )


def send_watch(flow: Any) -> SendWatch | None:
    """The connection's SendWatch (its flow control under our protocols), which times the waits
    below: a client that reads nothing for the send timeout fails them with TimeoutError."""
    return flow if isinstance(flow, SendWatch) else None


async def writable(loop: asyncio.AbstractEventLoop, sock: socket.socket, watch: SendWatch | None = None) -> None:
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    loop.add_writer(sock.fileno(), wake)
    if watch is not None:
        watch.waiting(waiter)
    try:
        await waiter
    finally:
        loop.remove_writer(sock.fileno())
        if watch is not None:
            watch.waited()


async def send_bytes(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, data: bytes, watch: SendWatch | None = None
) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            await writable(loop, sock, watch)
            continue
        view = view[sent:]


async def sendfile_resident(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    fd: int,
    offset: int,
    count: int,
    on_sent: Callable[[int], None] | None = None,
    watch: SendWatch | None = None,
) -> int:
    """Send [offset, offset+count) of ``fd``; returns the bytes sent, fewer if the file ended.
    ``on_sent`` hears of each call's bytes, so a transfer cut by an error is counted too.

    Call it only for pages known to be in memory: sendfile waits for the disk otherwise.
    """
    done = 0
    while done < count:
        try:
            sent = os.sendfile(sock.fileno(), fd, offset + done, count - done)
        except BlockingIOError:
            await writable(loop, sock, watch)
            continue
        if sent == 0:
            break  # end of file: it is shorter than the response promised
        done += sent
        if on_sent is not None:
            on_sent(sent)
    return done


async def flush_transport(transport: asyncio.Transport, flow: Any, gone: Callable[[], bool]) -> None:
    """Wait until the transport has written out what it holds: bytes sent on the raw socket
    must not overtake them. ``flow`` is uvicorn's FlowControl for the connection."""
    if not transport.get_write_buffer_size():
        return
    low, high = transport.get_write_buffer_limits()
    # A high-water mark of 0 makes the transport pause us until its buffer is empty.
    transport.set_write_buffer_limits(high=0, low=0)
    try:
        while transport.get_write_buffer_size() and not gone() and not transport.is_closing():
            if flow.write_paused:
                await flow.drain()
            else:
                await asyncio.sleep(0)
    finally:
        if not transport.is_closing():
            transport.set_write_buffer_limits(high=high, low=low)
