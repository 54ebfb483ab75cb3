"""Is this chunk of this file in the page cache? Asked before any read on the event loop.

Four probes, tried in this order for each file, because the kernel's answers depend on who
asks (docs/amped.md has the measurements):

- ``CACHESTAT``: the cachestat() syscall (Linux 6.5+) counts cached pages of a range without
  mapping or reading anything; the cheapest. The kernel refuses it (EPERM) to a process that
  neither owns the file nor may write it.
- ``NOWAIT``: preadv(RWF_NOWAIT) reads only what is already in memory and fails with EAGAIN
  otherwise: the probe and the read in one syscall, truthful for any reader, but unsupported
  on some filesystems (FUSE answers EOPNOTSUPP).
- ``MINCORE``: mincore() over a mapping of the chunk. Since Linux 5.2 it claims every page is
  resident for a process that neither owns nor may write the file, so it is only used when we
  own or may write it (on kernels without cachestat).
- ``HEURISTIC``: Flash's own fallback where nothing is trustworthy: a chunk counts as resident
  if we brought it in or read it recently, else it goes to a helper (erring towards the helper).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
import threading
import time
from collections import OrderedDict
from enum import Enum

PAGE = mmap.PAGESIZE


class Probe(Enum):
    NOWAIT = "nowait"
    CACHESTAT = "cachestat"
    MINCORE = "mincore"
    HEURISTIC = "heuristic"


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]

_MAP_FAILED = ctypes.c_void_p(-1).value
# cachestat(2) has the same number on every architecture that has it.
_SYS_CACHESTAT = 451


class _CacheStatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _CacheStat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")
    ]


class _CacheStatCall(threading.local):
    """The call's two structures, made once per thread: building them costs more than the
    system call (this is asked before every chunk a response sends)."""

    def __init__(self) -> None:
        self.request = _CacheStatRange()
        self.result = _CacheStat()
        self.arguments = (ctypes.byref(self.request), ctypes.byref(self.result))


_cachestat_call = _CacheStatCall()


def cachestat_pages(fd: int, offset: int, count: int) -> int | None:
    """Cached pages in [offset, offset+count), or None if the kernel will not say."""
    call = _cachestat_call
    call.request.off = offset
    call.request.len = count
    if _libc.syscall(_SYS_CACHESTAT, fd, *call.arguments, 0) != 0:
        return None
    pages: int = call.result.nr_cache  # a ctypes field: typed here
    return pages


def _pages(offset: int, count: int) -> tuple[int, int]:
    """The page-aligned start and the number of pages covering [offset, offset+count)."""
    start = offset - offset % PAGE
    return start, (offset + count - start + PAGE - 1) // PAGE


def cachestat_resident(fd: int, offset: int, count: int) -> bool | None:
    start, pages = _pages(offset, count)
    cached = cachestat_pages(fd, start, pages * PAGE)
    return None if cached is None else cached >= pages


def mincore_resident(fd: int, offset: int, count: int) -> bool:
    """Map the chunk (no page is read by mapping it), ask mincore, unmap."""
    start, pages = _pages(offset, count)
    length = pages * PAGE
    address = _libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, start)
    if address in (None, _MAP_FAILED):
        raise OSError(ctypes.get_errno(), "mmap failed")
    try:
        vector = (ctypes.c_ubyte * pages)()
        if _libc.mincore(address, length, vector) != 0:
            raise OSError(ctypes.get_errno(), "mincore failed")
        return all(byte & 1 for byte in vector)
    finally:
        _libc.munmap(address, length)


def read_if_resident(fd: int, offset: int, count: int) -> bytes:
    """The leading part of [offset, offset+count) that is in memory (maybe b"").

    Raises OSError(EOPNOTSUPP) where the filesystem has no RWF_NOWAIT.
    """
    buffer = bytearray(count)
    try:
        got = os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
    except BlockingIOError:
        return b""
    return bytes(memoryview(buffer)[:got])


def mincore_is_truthful(st: os.stat_result) -> bool:
    """mincore tells the truth to the file's owner, to root, and to whoever may write it."""
    euid = os.geteuid()
    return euid == 0 or st.st_uid == euid or _may_write(st)


def _may_write(st: os.stat_result) -> bool:
    if st.st_gid in os.getgroups() or st.st_gid == os.getegid():
        return bool(st.st_mode & 0o020)
    return bool(st.st_mode & 0o002)


class RecentReads:
    """Flash's heuristic: chunks we read or paged in within ``window`` seconds count as resident."""

    def __init__(self, window: float = 10.0, capacity: int = 65536) -> None:
        self.window = window
        self._seen: OrderedDict[tuple[int, int, int], float] = OrderedDict()
        self._capacity = capacity

    def resident(self, key: tuple[int, int], offset: int, count: int, granule: int) -> bool:
        now = time.monotonic()
        for index in range(offset // granule, (offset + count - 1) // granule + 1):
            seen = self._seen.get((*key, index))
            if seen is None or now - seen > self.window:
                return False
        return True

    def note(self, key: tuple[int, int], offset: int, count: int, granule: int) -> None:
        now = time.monotonic()
        for index in range(offset // granule, (offset + count - 1) // granule + 1):
            self._seen[(*key, index)] = now
            self._seen.move_to_end((*key, index))
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)


class NoWaitSupport:
    """Which devices answered RWF_NOWAIT with EOPNOTSUPP; asked once per device."""

    def __init__(self) -> None:
        self._unsupported: set[int] = set()

    def supported(self, dev: int) -> bool:
        return dev not in self._unsupported

    def refuse(self, dev: int) -> None:
        self._unsupported.add(dev)


def choose_probe(fd: int, st: os.stat_result, nowait: NoWaitSupport) -> Probe:
    """The cheapest truthful probe for this file, as this process sees it.

    Measured here (benchmarks/residency_probes.py, 64 KiB chunks): cachestat then pread costs
    less than one RWF_NOWAIT read into a fresh buffer, so cachestat comes first wherever the
    kernel answers it; RWF_NOWAIT serves readers that do not own the file.
    """
    if cachestat_resident(fd, 0, 1) is not None:
        return Probe.CACHESTAT
    if nowait.supported(st.st_dev):
        try:
            os.preadv(fd, [bytearray(1)], 0, os.RWF_NOWAIT)
            return Probe.NOWAIT
        except BlockingIOError:
            return Probe.NOWAIT  # supported; that page just is not in memory
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
            nowait.refuse(st.st_dev)
    if mincore_is_truthful(st):
        return Probe.MINCORE
    return Probe.HEURISTIC
