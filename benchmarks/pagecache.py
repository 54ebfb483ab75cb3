"""Page-cache chores for the benchmarks: warm files, evict them, and measure what is resident.

Eviction needs no root: ``posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`` drops a file's clean,
unmapped pages (dirty pages need an fsync first; pages some process has mmap'ed stay).
Residency is measured with mincore() on a fresh read-only mapping, which is exact for a caller
that owns the file (we created every file, and run as the same user as the server).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_MAP_FAILED = ctypes.c_void_p(-1).value
PAGE = mmap.PAGESIZE


def evict(paths: Iterable[str], *, fsync: bool = False) -> int:
    """Drop the cached pages of each file; returns how many files were advised."""
    n = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            if fsync:
                try:
                    os.fsync(fd)
                except OSError:
                    pass
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            n += 1
        finally:
            os.close(fd)
    return n


def _read_all(path: str) -> int:
    total = 0
    with open(path, "rb", buffering=0) as f:
        for _ in range(1 << 20):  # bounded: 1 Mi reads of 1 MiB
            chunk = f.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
    return total


def warm(paths: Sequence[str], *, threads: int = 16) -> int:
    """Read every file to the end (in parallel, as a slow disk has many requests in flight)."""
    if not paths:
        return 0
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(paths)))) as pool:
        return sum(pool.map(_read_all, paths, chunksize=16))


def resident_bytes(path: str) -> tuple[int, int]:
    """(resident bytes, file bytes), page-granular, via mincore()."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, 0
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, _MAP_FAILED):
            raise OSError(ctypes.get_errno(), "mmap failed", path)
        try:
            pages = (size + PAGE - 1) // PAGE
            vec = (ctypes.c_ubyte * pages)()
            if _libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed", path)
            resident = sum(b & 1 for b in vec)
        finally:
            _libc.munmap(addr, size)
        return min(resident * PAGE, size), size
    finally:
        os.close(fd)


def residency(paths: Iterable[str]) -> float:
    """Fraction of the bytes of these files that is in the page cache (0..1)."""
    have = total = 0
    for path in paths:
        r, s = resident_bytes(path)
        have += r
        total += s
    return have / total if total else 0.0
