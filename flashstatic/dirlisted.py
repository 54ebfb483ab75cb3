"""Which names a directory holds, from a listing kept while the directory is unchanged.

Translation looks for a file's precompressed siblings (``.br``, ``.zst``, ``.gz``) beside it;
for most files there are none, and each name that is not there costs a lookup of its own,
which on a cold or remote directory is a trip to the disk. One listing of the directory
answers for all of its files: a directory's modification time moves whenever a name in it is
added, removed or renamed, so a listing holds while the directory's identity and modification
time are still those it was made under, which one stat of the directory tells.

Timestamps are coarse (a clock tick; a second or two on some filesystems): a name added in the
tick a listing was made in, just after it, would leave the time as it was. So a directory is
listed only once it has been unchanged for ``SETTLED_NS`` (as git treats a file modified
just before its index was written); one changed lately is asked name by name.

Listings are made by a thread of their own, never by a lookup: until its directory's listing
is ready, a lookup asks name by name, so no request waits for a large directory to be read
(nor do the lookups of one directory all list it at once).

A listing may keep only the names with given endings (``suffixes``): translation asks only
about precompressed siblings, which in most directories are few, so a directory of many files
is listed in few names.

A listing only ever spares the lookup of a name it does not hold: a name it holds is still
looked up beneath the root, as any file served is.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

# A directory listed only once unchanged this long: any later change moves its time past it.
SETTLED_NS = 2_000_000_000
# Bounds: a directory with more names to keep, or more entries to read, is not listed (its
# names are looked up one by one); at most this many listings are kept, the least recently
# used dropped first.
MAX_NAMES = 10_000
MAX_ENTRIES = 1_000_000
MAX_DIRECTORIES = 256
# Directories waiting for the lister at most; others are asked for again by a later lookup.
MAX_WAITING = 64


class _Listing(NamedTuple):
    dev: int
    ino: int
    mtime_ns: int
    names: frozenset[str] | None  # None: too large to list, or unreadable


class DirectoryNames:
    """Listings by directory path; safe to share between threads (a helper's). With
    ``suffixes``, a listing holds only the names that end in one of them. ``later`` runs a
    listing off the caller's way (by default in a thread of this process)."""

    def __init__(
        self,
        max_directories: int = MAX_DIRECTORIES,
        max_names: int = MAX_NAMES,
        clock: Callable[[], int] = time.time_ns,
        later: Callable[[Callable[[], None]], None] | None = None,
        suffixes: tuple[str, ...] = (),
    ) -> None:
        self.max_directories = max_directories
        self.max_names = max_names
        self.suffixes = suffixes
        self._clock = clock
        self._later = later or _in_the_lister
        self._listings: OrderedDict[str, _Listing] = OrderedDict()
        self._waiting: set[str] = set()
        self._lock = threading.Lock()
        _instances.add(self)

    def names(self, directory: str) -> frozenset[str] | None:
        """Blocking (a stat): the names ``directory`` holds now (those with the suffixes), or
        None when no listing can tell yet (not listed yet, changed lately, too large,
        unreadable)."""
        try:
            st = os.stat(directory)
        except (OSError, ValueError):
            return None
        with self._lock:
            kept = self._listings.get(directory)
            if kept is not None and (kept.dev, kept.ino, kept.mtime_ns) == (st.st_dev, st.st_ino, st.st_mtime_ns):
                self._listings.move_to_end(directory)
                return kept.names
            settled = self._clock() - st.st_mtime_ns >= SETTLED_NS
            if not settled or directory in self._waiting or len(self._waiting) >= MAX_WAITING:
                return None
            self._waiting.add(directory)
        self._later(lambda: self._list(directory, st))
        return None

    def _list(self, directory: str, st: os.stat_result) -> None:
        try:
            # Listed after the stat: a change in between moves the time, which the next stat sees.
            names = _list(directory, self.suffixes, self.max_names)
            listing = _Listing(st.st_dev, st.st_ino, st.st_mtime_ns, names)
            with self._lock:
                self._listings[directory] = listing
                self._listings.move_to_end(directory)
                while len(self._listings) > self.max_directories:
                    self._listings.popitem(last=False)
        finally:
            with self._lock:
                self._waiting.discard(directory)

    def _after_fork_in_child(self) -> None:
        # The parent's lister is not in the child: what it was listing is no longer waited
        # for, and it may have held the lock when the process forked.
        self._lock = threading.Lock()
        self._waiting = set()


def _list(directory: str, suffixes: tuple[str, ...], max_names: int) -> frozenset[str] | None:
    names: list[str] = []
    try:
        with os.scandir(directory) as entries:
            for read, entry in enumerate(entries, 1):
                if read > MAX_ENTRIES:
                    return None
                if suffixes and not entry.name.endswith(suffixes):
                    continue
                if len(names) >= max_names:
                    return None
                names.append(entry.name)
    except (OSError, ValueError):
        return None
    return frozenset(names)


# The lister: one thread per process, made when first needed (again in a forked child).
_jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_lister: list[threading.Thread] = []
_instances: weakref.WeakSet[DirectoryNames] = weakref.WeakSet()


def _in_the_lister(job: Callable[[], None]) -> None:
    if not _lister:
        thread = threading.Thread(target=_run_listings, name="flashstatic-lister", daemon=True)
        _lister.append(thread)
        thread.start()
    _jobs.put(job)


def _run_listings() -> None:
    while True:
        job = _jobs.get()
        try:
            job()
        except Exception:  # one listing lost: its directory is asked name by name, and listed again
            pass


def _after_fork_in_child() -> None:
    global _jobs
    _jobs = queue.SimpleQueue()
    _lister.clear()
    for names in list(_instances):
        names._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
