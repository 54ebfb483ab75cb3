"""Open files kept across requests: Flash's mapped-file cache, minus the mapping.

A hit costs no open() and so no path lookup; entries are keyed by the file's facts, so a file
that changed is a different key and never served through an old descriptor. Descriptors in
use by a response are closed only when the last user releases them.
"""

from __future__ import annotations

import os
import resource
from collections import OrderedDict
from dataclasses import dataclass

from ..translate import FileFacts
from .residency import Probe


def default_open_files() -> int:
    """A quarter of the descriptors this process may open, at most 4096: the rest is for
    connections, helpers and the app. Never more than that quarter, however low the limit:
    a cache holding every descriptor would leave none for the next connection."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(1, min(4096, soft // 4))


@dataclass(eq=False, slots=True)
class OpenFile:
    fd: int
    facts: FileFacts
    probe: Probe | None = None  # chosen by the AMPED strategy at the first open
    users: int = 0
    evicted: bool = False

    @property
    def key(self) -> tuple[int, int]:
        return self.facts.dev, self.facts.ino

    def fileno(self) -> int:
        """So that the file can travel in an http.response.zerocopysend message."""
        return self.fd


class OpenFiles:
    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._files: OrderedDict[FileFacts, OpenFile] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def acquire(self, facts: FileFacts, *, count_miss: bool = True) -> OpenFile | None:
        file = self._files.get(facts)
        if file is None:
            if count_miss:
                self.misses += 1
            return None
        if not _unchanged(file):
            # Changed in place since it was opened: forget it; the caller translates afresh.
            self._evict(facts)
            self.misses += 1
            return None
        self._files.move_to_end(facts)
        file.users += 1
        self.hits += 1
        return file

    def add(self, file: OpenFile) -> OpenFile:
        """Keep ``file`` (opened by the caller) and count the caller as its first user."""
        file.users += 1
        if self.capacity <= 0:
            file.evicted = True
            return file
        old = self._files.pop(file.facts, None)
        if old is not None:
            self._retire(old)
        self._files[file.facts] = file
        while len(self._files) > self.capacity:
            self._evict(next(iter(self._files)))
        return file

    def release(self, file: OpenFile) -> None:
        file.users -= 1
        if file.evicted and file.users == 0:
            os.close(file.fd)

    def close_all(self) -> None:
        for facts in list(self._files):
            self._evict(facts)

    def _evict(self, facts: FileFacts) -> None:
        self._retire(self._files.pop(facts))

    def _retire(self, file: OpenFile) -> None:
        file.evicted = True
        if file.users == 0:
            os.close(file.fd)


def _unchanged(file: OpenFile) -> bool:
    # fstat on an open descriptor reads the in-memory inode: no disk access.
    st = os.fstat(file.fd)
    return st.st_size == file.facts.size and st.st_mtime_ns == file.facts.mtime_ns
