"""The pathname translation cache: request path -> what it names, including "nothing".

Entries are trusted for ``revalidate_interval`` seconds; after that the caller translates the
path again and stores the result (with an interval above zero, while it goes on using the stale
entry). A result that names the same file as before keeps the old entry object, so its encoded
headers (the response-header cache) survive revalidation.

Misses live in an LRU of their own, of the same size: a client asking for many distinct paths
that do not exist can push out other misses, never the files and redirects that are served.

The entries are indexed by the directory their file lies in, so that a change the driver
learns of (``forget_changed``: a file deleted, replaced or added there) forgets just the answers
it may have made wrong, at once rather than at the next revalidation.

When each answer was checked is kept beside it, in a dict of floats: a full garbage collection
walks every tracked object, and a slot object per path would be one more per cached file.
"""

from __future__ import annotations

import os

from ..config import Options
from ..translate import MISSING, FoundFile, RedirectTo, Translation, _Missing
from .entry import FileEntry, build_entry
from .lru import LRU, Counters

Answer = FileEntry | RedirectTo | _Missing


class PathnameCache:
    def __init__(self, options: Options) -> None:
        self._options = options
        self._slots: LRU[str, FileEntry | RedirectTo] = LRU(options.pathname_cache_size, evicted=self._unindex)
        self._checked_at: dict[str, float] = {}  # the keys of _slots, when each was checked
        # directory -> the keys whose file lies in it. Once a driver watches directories, those
        # new to the index wait in ``_new_directories`` until it takes them.
        self._by_directory: dict[str, set[str]] = {}
        self._new_directories: list[str] | None = None
        # Misses are all MISSING: only when each was checked is kept.
        self._misses: LRU[str, float] = LRU(options.pathname_cache_size)
        self._interval = float("inf") if options.scan_once else options.revalidate_interval
        self._counters = Counters()
        # The response-header cache lives inside the entries: a miss builds a representation's
        # header lists, a hit reuses them.
        self.header_counters = Counters()

    @property
    def counters(self) -> Counters:
        self._counters.evictions = self._slots.counters.evictions + self._misses.counters.evictions
        return self._counters

    def __len__(self) -> int:
        return len(self._slots) + len(self._misses)

    def lookup(self, key: str, now: float) -> tuple[Answer | None, bool]:
        """The cached answer (None if there is none) and whether it is due for revalidation."""
        answer: Answer | None = self._slots.peek(key)
        if answer is not None:
            checked_at = self._checked_at[key]
        else:
            missed_at = self._misses.peek(key)
            if missed_at is None:
                self._counters.misses += 1
                return None, True
            answer, checked_at = MISSING, missed_at
        self._counters.hits += 1
        return answer, now - checked_at >= self._interval

    def fresh_entry(self, key: str, now: float) -> FileEntry | None:
        """The file entry for ``key`` if one is cached and not due for revalidation; not
        counted (the hot path counts its own hits, cache/responses.py)."""
        answer = self._slots.peek(key)
        if answer is None or now - self._checked_at[key] >= self._interval:
            return None
        return answer if isinstance(answer, FileEntry) else None

    def store(self, key: str, translation: Translation, now: float) -> Answer:
        # What ``key`` held leaves first, with its check and index (a redirect or a miss that
        # replaces a file takes the file's index with it); an entry for the same file is kept.
        previous = self._pop_slot(key)
        answer: Answer
        if isinstance(translation, FoundFile):
            answer = self._entry_for(previous, translation)
        else:
            answer = translation
        if isinstance(answer, _Missing):
            self._misses.put(key, now)
        else:
            self._misses.pop(key)
            self._slots.put(key, answer)  # may evict the oldest: _unindex forgets its check
            self._checked_at[key] = now
            if isinstance(answer, FileEntry):
                self._index(key, answer)
        return answer

    def forget(self, key: str) -> None:
        self._pop_slot(key)
        self._misses.pop(key)

    def forget_changed(self, directory: str, subtree: bool) -> int:
        """Something in ``directory`` changed (with ``subtree``, a directory under it, or itself,
        appeared, went or moved): forget the answers made from files there, and every miss,
        since a file may have appeared. How many answers were forgotten."""
        self._misses.clear()
        if subtree:
            inside = directory.rstrip(os.sep) + os.sep
            changed = [name for name in self._by_directory if name == directory or name.startswith(inside)]
        else:
            changed = [directory] if directory in self._by_directory else []
        forgotten = 0
        for name in changed:
            for key in self._by_directory.pop(name, ()):
                if self._slots.pop(key) is not None:
                    del self._checked_at[key]
                    forgotten += 1
        return forgotten

    def take_new_directories(self) -> list[str]:
        """The directories files were found in since the last call (all of them, the first
        time): from then on they are collected."""
        if self._new_directories is None:
            self._new_directories = []
            return list(self._by_directory)
        taken, self._new_directories = self._new_directories, []
        return taken

    def forget_all(self) -> None:
        self._slots.clear()
        self._checked_at.clear()
        self._misses.clear()
        self._by_directory.clear()

    def _index(self, key: str, entry: FileEntry) -> None:
        directory = os.path.dirname(entry.identity.facts.path)
        keys = self._by_directory.get(directory)
        if keys is None:
            self._by_directory[directory] = keys = set()
            if self._new_directories is not None:
                self._new_directories.append(directory)
        keys.add(key)

    def _pop_slot(self, key: str) -> FileEntry | RedirectTo | None:
        answer = self._slots.pop(key)
        if answer is not None:
            self._unindex(key, answer)
        return answer

    def _unindex(self, key: str, answer: FileEntry | RedirectTo) -> None:
        """``key`` has left ``_slots`` (popped, or evicted): its check and index go too."""
        del self._checked_at[key]
        if isinstance(answer, FileEntry):
            directory = os.path.dirname(answer.identity.facts.path)
            keys = self._by_directory.get(directory)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_directory[directory]

    def _entry_for(self, previous: FileEntry | RedirectTo | None, found: FoundFile) -> FileEntry:
        if isinstance(previous, FileEntry) and previous.built_from(found):
            return previous
        self.header_counters.misses += 1 + len(found.siblings)
        return build_entry(found, self._options)


__all__ = ["MISSING", "Answer", "PathnameCache"]
