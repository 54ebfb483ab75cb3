"""How file metadata and file bytes are fetched: the seam of the paper's experiment.

Everything above this module asks for a translation, an open file or a chunk of bytes and
awaits it; whether that work runs on the event loop, in a thread or behind a residency check
and a helper process is this layer's decision alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..translate import FileFacts

T = TypeVar("T")


class FileChanged(Exception):
    """The file on disk is no longer the one whose headers were chosen."""


class FileTruncated(Exception):
    """The file ended before the bytes its headers promised."""


@dataclass(slots=True)
class OpenFile:
    fd: int
    facts: FileFacts


class DiskStrategy(Protocol):
    name: str

    async def translate(self, work: Callable[[], T]) -> T:
        """Run pathname translation (realpath, stat), which may block on cold metadata."""

    async def open(self, facts: FileFacts) -> OpenFile:
        """Open the file that ``facts`` describe, or raise FileChanged / OSError."""

    async def read(self, file: OpenFile, offset: int, count: int) -> bytes:
        """Exactly ``count`` bytes at ``offset``, or raise FileTruncated."""

    def close(self, file: OpenFile) -> None: ...


def open_checked(facts: FileFacts) -> OpenFile:
    """Open and confirm by fstat that this is still the file the response was planned for."""
    fd = os.open(facts.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if FileFacts.from_stat(facts.path, st) != facts:
            raise FileChanged(facts.path)
    except BaseException:
        os.close(fd)
        raise
    return OpenFile(fd, facts)


def read_exactly(file: OpenFile, offset: int, count: int) -> bytes:
    data = os.pread(file.fd, count, offset)
    if len(data) != count:
        raise FileTruncated(file.facts.path)
    return data


class InlineDisk:
    """SPED: every stat, open and read runs on the event loop and blocks it on a cache miss.

    The naive async server's behaviour; the AMPED strategy replaces it as the default.
    """

    name = "sped"

    async def translate(self, work: Callable[[], T]) -> T:
        return work()

    async def open(self, facts: FileFacts) -> OpenFile:
        return open_checked(facts)

    async def read(self, file: OpenFile, offset: int, count: int) -> bytes:
        return read_exactly(file, offset, count)

    def close(self, file: OpenFile) -> None:
        os.close(file.fd)


class DiskReader:
    """Slices of an open file, each fetched through the strategy."""

    def __init__(self, disk: DiskStrategy, file: OpenFile) -> None:
        self._disk = disk
        self._file = file

    async def read(self, start: int, stop: int) -> bytes:
        return await self._disk.read(self._file, start, stop - start)

    def close(self) -> None:
        self._disk.close(self._file)
