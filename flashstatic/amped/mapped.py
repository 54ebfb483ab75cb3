"""Mapped chunks for mincore(): the paper's mapped-file cache, kept for the residency probe.

Mapping a chunk reads nothing; keeping the mapping saves an mmap/munmap pair per probe. The
mappings are LRU, bounded by total mapped bytes, and unmapped lazily, when evicted.
"""

from __future__ import annotations

import ctypes
import mmap
from collections import OrderedDict
from collections.abc import Hashable

from .residency import _MAP_FAILED, PAGE, _libc

Key = tuple[Hashable, int]  # (the file's identity, chunk start)


class MappedChunks:
    def __init__(self, budget_bytes: int = 256 * 1024 * 1024, chunk: int = 1024 * 1024) -> None:
        self.budget_bytes = budget_bytes
        self.chunk = chunk
        self._maps: OrderedDict[Key, tuple[int, int]] = OrderedDict()
        self.mapped_bytes = 0
        self.unmapped = 0

    def resident(self, fd: int, identity: Hashable, size: int, offset: int, count: int) -> bool:
        """mincore over every chunk of [offset, offset+count), mapping chunks as needed.

        ``identity`` must change whenever the file does (its size and mtime with the inode),
        so that a mapping made for an older, shorter file is never asked about new bytes.
        """
        first = offset - offset % self.chunk
        for start in range(first, min(offset + count, size), self.chunk):
            address, length = self._mapping(fd, (identity, start), start, min(self.chunk, size - start))
            lo = max(offset, start) - start
            hi = min(offset + count, start + length) - start
            lo -= lo % PAGE
            pages = (hi - lo + PAGE - 1) // PAGE
            vector = (ctypes.c_ubyte * pages)()
            if _libc.mincore(address + lo, pages * PAGE, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            if not all(byte & 1 for byte in vector):
                return False
        return True

    def _mapping(self, fd: int, key: Key, start: int, length: int) -> tuple[int, int]:
        found = self._maps.get(key)
        if found is not None:
            self._maps.move_to_end(key)
            return found
        address = _libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, start)
        if address in (None, _MAP_FAILED):
            raise OSError(ctypes.get_errno(), "mmap failed")
        self._maps[key] = (address, length)
        self.mapped_bytes += length
        while self.mapped_bytes > self.budget_bytes and len(self._maps) > 1:
            self._unmap(next(iter(self._maps)))
        return address, length

    def close(self) -> None:
        for key in list(self._maps):
            self._unmap(key)

    def _unmap(self, key: Key) -> None:
        address, length = self._maps.pop(key)
        _libc.munmap(address, length)
        self.mapped_bytes -= length
        self.unmapped += 1
