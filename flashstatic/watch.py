"""What changed in the directories that cached answers came from: Linux inotify.

The pathname cache trusts an answer for ``revalidate_interval`` seconds. Within that window a
deleted or replaced file would still be answered from the cache (a 304 for a file that is gone);
with a watch on the directory of every cached file, the kernel tells us at once, and the answers
from that directory are forgotten before the next request is read. The interval stays as the
backstop for what no watch sees: a root symlink switched to a new release, a network filesystem
changed by another machine, a directory past the kernel's watch limit.

One inotify instance serves the whole process (the per-user limit on instances is low), read
by every asyncio loop that serves requests and dispatched to every app that listens. Which
cache entries a change touches is the core's business.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import struct
import weakref
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger("flashstatic")

# <sys/inotify.h>
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# What makes a cached answer wrong: a name appearing, going or being replaced, a file written
# and closed, its mtime or mode changed, the directory itself removed or renamed. Not IN_MODIFY:
# it fires on every write(), and a file is only worth looking at again once it is closed.
_MASK = (
    IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
_SELF = IN_DELETE_SELF | IN_MOVE_SELF
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name
_READ_SIZE = 64 * 1024
# Far under the usual per-user limits (fs.inotify.max_user_watches); past it, directories are
# left to the revalidation interval.
MAX_WATCHES = 8192


@dataclass(frozen=True, slots=True)
class Change:
    directory: str  # as it was given to ``watch``
    name: str  # "" for the directory itself
    subtree: bool  # a directory appeared, went or moved: everything under ``path`` is suspect

    @property
    def path(self) -> str:
        return os.path.join(self.directory, self.name) if self.name else self.directory


OVERFLOW = Change("", "", True)  # the kernel's queue overflowed: anything may have changed


def _libc() -> ctypes.CDLL | None:
    try:
        # The interpreter's own symbols, libc's among them: find_library would run ldconfig.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1  # noqa: B018  (raises AttributeError where there is no inotify)
    except (OSError, AttributeError):
        return None
    return libc


class DirectoryWatch:
    """One inotify instance. ``fileno`` becomes readable when something changed; ``changes``
    reads what, without blocking."""

    def __init__(self, fd: int, libc: ctypes.CDLL, max_watches: int) -> None:
        self._fd = fd
        self._libc = libc
        self._max_watches = max_watches
        self._directories: dict[int, str] = {}  # watch descriptor -> directory
        self._watched: set[str] = set()
        self._full = False

    @classmethod
    def open(cls, max_watches: int = MAX_WATCHES) -> DirectoryWatch | None:
        """A watch, or None where inotify is missing or refused (the per-user instance limit):
        then the revalidation interval alone keeps the cache honest."""
        libc = _libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            logger.info("flashstatic: inotify unavailable (%s); changes are seen by revalidation", _errno_text())
            return None
        return cls(fd, libc, max_watches)

    def fileno(self) -> int:
        return self._fd

    def watching(self, directory: str) -> bool:
        return directory in self._watched

    def directories(self) -> list[str]:
        return list(self._watched)

    def watch(self, directory: str) -> None:
        """Watch ``directory`` (idempotent). A path walk in the kernel: call it off the loop."""
        if directory in self._watched or self._full or self._fd < 0:
            return
        if len(self._directories) >= self._max_watches:
            self._stop_adding(f"{self._max_watches} directories watched")
            return
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), _MASK)
        if wd < 0:
            error = ctypes.get_errno()
            if error == 28:  # ENOSPC: the user's watch limit
                self._stop_adding("the kernel's watch limit reached")
            return  # gone already, or not a directory: nothing cached from it will last
        self._directories[wd] = directory
        self._watched.add(directory)

    def changes(self) -> list[Change]:
        """What changed since the last call; empty when nothing did."""
        found: list[Change] = []
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except (BlockingIOError, OSError):
                return found
            if not data:
                return found
            found.extend(self._parse(data))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _parse(self, data: bytes) -> list[Change]:
        found = []
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
            offset += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                found.append(OVERFLOW)
                continue
            directory = self._directories.get(wd)
            if directory is None:
                continue
            if mask & IN_IGNORED:  # the watch ended (its directory went): it may be added again
                del self._directories[wd]
                self._watched.discard(directory)
                continue
            name = os.fsdecode(raw.rstrip(b"\0"))
            if mask & _SELF:
                found.append(Change(directory, "", True))
            else:
                found.append(Change(directory, name, bool(mask & IN_ISDIR)))
        return found

    def _stop_adding(self, why: str) -> None:
        self._full = True
        logger.info("flashstatic: no more directories watched (%s); the rest rely on revalidation", why)


class Listener(Protocol):
    def directory_changed(self, change: Change) -> None: ...


class ChangeFeed:
    """The process's watch, read on every loop that follows it, told to every listener."""

    def __init__(self, watch: DirectoryWatch) -> None:
        self._watch: DirectoryWatch | None = watch
        self._listeners: weakref.WeakSet[Listener] = weakref.WeakSet()
        self._loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._rewatch: list[str] = []  # after a fork: the parent's directories, watched anew

    def listen(self, listener: Listener) -> None:
        self._listeners.add(listener)

    def follow(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the watch on ``loop`` from now on, and tell what changed while no loop read it."""
        if self._watch is None:
            return
        if self._rewatch:
            directories, self._rewatch = self._rewatch, []
            self.watch(directories)
        if loop not in self._loops:
            loop.add_reader(self._watch.fileno(), self.dispatch)
            self._loops.add(loop)
        self.dispatch()

    def watch(self, directories: list[str]) -> None:
        # Called on the loop: these directories were just walked by the translation that found
        # a file in them, so the kernel's path walk is answered from the dentry cache.
        if self._watch is not None:
            for directory in directories:
                self._watch.watch(directory)

    def dispatch(self) -> None:
        changes = self._watch.changes() if self._watch is not None else ()
        if changes:
            for listener in list(self._listeners):
                for change in changes:
                    listener.directory_changed(change)

    def reopen(self) -> None:
        """In a forked child: the parent's instance would be shared, each process reading the
        other's events away. The child gets its own, watching the same directories."""
        if self._watch is not None:
            self._rewatch = self._watch.directories()
            self._watch.close()
        self._watch = DirectoryWatch.open()
        self._loops = weakref.WeakSet()


_feed: ChangeFeed | None = None
_feed_tried = False


def change_feed() -> ChangeFeed | None:
    """The process's feed, opened on first use; None where inotify cannot be had."""
    global _feed, _feed_tried
    if not _feed_tried:
        _feed_tried = True
        watch = DirectoryWatch.open()
        _feed = ChangeFeed(watch) if watch is not None else None
    return _feed


def _reopen_after_fork() -> None:
    if _feed is not None:
        _feed.reopen()


os.register_at_fork(after_in_child=_reopen_after_fork)


def _errno_text() -> str:
    return os.strerror(ctypes.get_errno())
