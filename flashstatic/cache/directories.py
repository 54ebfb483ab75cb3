"""What the served directories contain, as far as recent listings tell.

Enough to answer a request for a name that is not there without asking the disk: a path is
missing from a root when one of its segments is absent from its directory's listing. The
pathname cache only learns about paths already asked for, so without this every new
spelling of a miss (a scanner, a flood of random names) would cost a helper round trip and a
place in the helper queue. Listings are trusted for the revalidation interval, like the
pathname cache's entries, and bounded by the names they hold; below a directory too large to
list, a lookup is ranked by what lookups there found lately.

A listing holds the keyed digests of the names (``dirnames.py``), not the names.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Root
from ..dirnames import name_digest, unpack_names
from ..http.paths import SafePath
from .lru import LRU

DirectoryKey = tuple[int, tuple[str, ...]]  # (the root's index, the directory's segments)


class Verdict(enum.Enum):
    ABSENT = "absent"  # missing from every root: a 404 without the disk
    PRESENT = "present"  # every segment listed in some root: probably a file that exists
    UNKNOWN = "unknown"  # a listing is missing or stale


@dataclass(slots=True)
class _Listing:
    names: frozenset[int] | None  # digests; None: not a directory, or too large to list
    listed_at: float
    # For a directory that could not be listed, what lookups below it found lately: while
    # most found a file, a new name there is probably one too (thousands of uploads, say);
    # while most found nothing, it is likely a guess (a flood aimed at a large directory).
    found: float = 0.0
    missed: float = 0.0


class DirectoryListings:
    def __init__(self, interval: float, max_names: int = 100_000) -> None:
        self.key = secrets.token_bytes(16)  # for name_digest: helpers pack listings with it
        self._interval = interval
        self._listings: LRU[DirectoryKey, _Listing] = LRU(max_names, weigh=_weight)

    def verdict(
        self, roots: Sequence[Root], found: Sequence[tuple[Root, SafePath]], now: float
    ) -> tuple[Verdict, DirectoryKey | None]:
        """What the listings say of a path (its ``candidates``), and the first directory whose
        listing would tell more (None when nothing would)."""
        to_list: DirectoryKey | None = None
        absent_everywhere = True
        for root, path in found:
            index = roots.index(root)
            verdict, directory = self._in_root(index, path.segments, now)
            if verdict is Verdict.PRESENT:
                return Verdict.PRESENT, None
            if verdict is Verdict.UNKNOWN:
                absent_everywhere = False
                to_list = to_list or directory
        if absent_everywhere and found:
            return Verdict.ABSENT, None
        return Verdict.UNKNOWN, to_list

    def _in_root(self, index: int, segments: tuple[str, ...], now: float) -> tuple[Verdict, DirectoryKey | None]:
        for depth, name in enumerate(segments):
            key = (index, segments[:depth])
            listing = self._listings.peek(key)
            if listing is None or now - listing.listed_at >= self._interval:
                return Verdict.UNKNOWN, key
            if listing.names is None:
                # Asked already: nothing to learn until it is stale but what lookups found.
                return (Verdict.PRESENT if listing.found > listing.missed else Verdict.UNKNOWN), None
            if name_digest(self.key, name) not in listing.names:
                return Verdict.ABSENT, None
        return Verdict.PRESENT, None

    def store(self, key: DirectoryKey, packed: str | None, now: float) -> None:
        """A helper's listing of ``key`` (pack_names with this ``self.key``); None if it is not
        a directory or too large to list."""
        listing = _Listing(None if packed is None else unpack_names(packed), now)
        before = self._listings.peek(key)
        if packed is None and before is not None and before.names is None:
            # Still unlisted: what lookups found carries over, the older half forgotten.
            listing.found, listing.missed = before.found / 2, before.missed / 2
        self._listings.put(key, listing)

    def note(self, roots: Sequence[Root], found: Sequence[tuple[Root, SafePath]], exists: bool) -> None:
        """What a lookup of a path (its ``candidates``) found, for the directories on its way
        that could not be listed."""
        for root, path in found:
            index = roots.index(root)
            for depth in range(len(path.segments)):
                listing = self._listings.peek((index, path.segments[:depth]))
                if listing is None:
                    break
                if listing.names is None:
                    if exists:
                        listing.found += 1
                    else:
                        listing.missed += 1
                    break

    def clear(self) -> None:
        """Something changed on disk: no listing can be trusted."""
        self._listings.clear()

    def __len__(self) -> int:
        return len(self._listings)


def _weight(listing: _Listing) -> int:
    return 1 + (len(listing.names) if listing.names is not None else 0)
