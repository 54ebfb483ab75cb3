"""os.sendfile on a raw, non-blocking socket, driven by the event loop.

We work on a duplicate of the connection's socket: if the transport is closed mid-transfer its
descriptor number may be reused at once, and a write to the duplicate can never land there.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable


async def writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    waiter = loop.create_future()
    loop.add_writer(sock.fileno(), lambda: waiter.done() or waiter.set_result(None))
    try:
        await waiter
    finally:
        loop.remove_writer(sock.fileno())


async def send_bytes(loop: asyncio.AbstractEventLoop, sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            await writable(loop, sock)
            continue
        view = view[sent:]


async def sendfile_resident(loop: asyncio.AbstractEventLoop, sock: socket.socket, fd: int,
                            offset: int, count: int, on_sent: Callable[[int], None] | None = None) -> int:
    """Send [offset, offset+count) of ``fd``; returns the bytes sent, fewer if the file ended.
    ``on_sent`` hears of each call's bytes, so a transfer cut by an error is counted too.

    Call it only for pages known to be in memory: sendfile waits for the disk otherwise.
    """
    done = 0
    while done < count:
        try:
            sent = os.sendfile(sock.fileno(), fd, offset + done, count - done)
        except BlockingIOError:
            await writable(loop, sock)
            continue
        if sent == 0:
            break  # end of file: it is shorter than the response promised
        done += sent
        if on_sent is not None:
            on_sent(sent)
    return done
