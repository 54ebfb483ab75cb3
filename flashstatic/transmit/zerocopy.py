"""File slices as zero-copy messages, for servers that offer the ASGI extensions.

``http.response.zerocopysend`` carries (file, offset, count): the server sends the bytes with
sendfile and they never pass through Python. Each chunk is made resident first (AMPED: a
residency check, and a helper's page-in if it fails), because the server's sendfile runs on the
event loop and would wait for the disk otherwise. ``http.response.pathsend`` (Granian) takes a
whole file by path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from ..http.respond import FileSlice

ZEROCOPYSEND = "http.response.zerocopysend"
PATHSEND = "http.response.pathsend"


class HasFileno(Protocol):
    def fileno(self) -> int: ...


class ZeroCopyMessages:
    def __init__(self, file: HasFileno, make_resident: Callable[[int, int], Awaitable[None]], chunk_size: int) -> None:
        self.file = file
        self.make_resident = make_resident
        self.chunk_size = chunk_size

    async def messages(self, part: FileSlice) -> AsyncIterator[dict[str, Any]]:
        for offset in range(part.start, part.stop, self.chunk_size):
            count = min(self.chunk_size, part.stop - offset)
            await self.make_resident(offset, count)
            yield {"type": ZEROCOPYSEND, "file": self.file, "offset": offset, "count": count}


class PathMessage:
    """The whole file, once, by path: the only body message of its response."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def messages(self, part: FileSlice) -> AsyncIterator[dict[str, Any]]:
        yield {"type": PATHSEND, "path": self.path}
