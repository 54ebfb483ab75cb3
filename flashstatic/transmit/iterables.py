"""WSGI response bodies: how a plan's file slices become what a WSGI server iterates.

A whole file or a single range goes to the server's ``wsgi.file_wrapper`` as a file object
positioned at the slice start whose reads stop at the slice end: gunicorn sendfiles from the
descriptor's current offset for Content-Length bytes, and a server that only iterates the
wrapper still sends exactly Content-Length bytes. Anything else (multipart ranges, a server
without a file_wrapper) is a bounded iterator of chunk_size reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

from ..http.respond import BodyPart, FileSlice

FileWrapper = Callable[[Any, int], Any]


class FileShrank(OSError):
    """The file ended before the bytes its headers promised: the server must cut the response
    (an exception from the body iterable makes it drop the connection), never pad or pretend."""


def read_exactly(fd: int, offset: int, count: int) -> bytes:
    data = os.pread(fd, count, offset)
    while len(data) < count:
        more = os.pread(fd, count - len(data), offset + len(data))
        if not more:
            raise FileShrank(f"file ended {count - len(data)} bytes early")
        data += more
    return data


class SliceFile:
    """A read-only binary file limited to [start, stop) of an open descriptor, which it owns.

    fileno() is the real descriptor, so a server may sendfile from it; the descriptor's offset
    is kept at the read position, because gunicorn sends from the current offset."""

    mode = "rb"

    def __init__(self, fd: int, start: int, stop: int) -> None:
        self._fd = fd
        self._stop = stop
        self._position = start
        os.lseek(fd, start, os.SEEK_SET)

    def fileno(self) -> int:
        return self._fd

    def read(self, size: int = -1) -> bytes:
        left = self._stop - self._position
        if size < 0 or size > left:
            size = left
        if size <= 0:
            return b""
        data = os.pread(self._fd, size, self._position)
        if not data:
            raise FileShrank(f"file ended at {self._position}, before {self._stop}")
        self.seek(self._position + len(data))
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        # socket.sendfile seeks to where it stopped; only absolute seeks are ever asked for.
        if whence != os.SEEK_SET:
            raise OSError("SliceFile seeks from the start only")
        self._position = offset
        os.lseek(self._fd, offset, os.SEEK_SET)
        return offset

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


class PartsIterable:
    """A plan's body parts (literal bytes and file slices) read chunk by chunk; close() closes
    the descriptor even when the server never started iterating."""

    def __init__(self, fd: int, parts: tuple[BodyPart, ...], chunk_size: int) -> None:
        self._fd = fd
        self._parts = parts
        self._chunk_size = chunk_size

    def __iter__(self) -> Iterator[bytes]:
        for part in self._parts:
            if isinstance(part, bytes):
                yield part
                continue
            for offset in range(part.start, part.stop, self._chunk_size):
                yield read_exactly(self._fd, offset, min(self._chunk_size, part.stop - offset))

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


class ResponseBody(Protocol):
    """A WSGI response body that owns a file: iterated by the server, then closed."""

    def __iter__(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...


def file_body(fd: int, parts: tuple[BodyPart, ...], wrapper: FileWrapper | None, chunk_size: int) -> ResponseBody:
    """The iterable for ``parts`` of the open file ``fd``; it owns the descriptor from now on."""
    try:
        if wrapper is not None and len(parts) == 1 and isinstance(parts[0], FileSlice):
            # The server's wrapper (PEP 3333): iterable, with close() passed on to the file.
            return cast(ResponseBody, wrapper(SliceFile(fd, parts[0].start, parts[0].stop), chunk_size))
        return PartsIterable(fd, parts, chunk_size)
    except BaseException:
        os.close(fd)
        raise
