"""The small-file cache: whole bodies of small files, so a hit is one send and no disk; and
with compress=True, the bodies the server compressed itself."""

from __future__ import annotations

from ..translate import FileFacts
from .lru import LRU, Counters

# A file's facts, or a file's facts and the coding it was compressed into here.
BodyKey = FileFacts | tuple[FileFacts, str]


class BodyCache:
    """Bodies keyed by the file's facts: a changed file has new facts, so it never hits."""

    def __init__(self, max_file_size: int, budget_bytes: int) -> None:
        self.max_file_size = max_file_size
        self._bodies: LRU[BodyKey, bytes] = LRU(budget_bytes, weigh=len)

    @property
    def counters(self) -> Counters:
        return self._bodies.counters

    @property
    def bytes_held(self) -> int:
        return self._bodies.weight

    def cacheable(self, facts: FileFacts) -> bool:
        return facts.size <= self.max_file_size and self._bodies.capacity > 0

    def get(self, facts: FileFacts) -> bytes | None:
        return self._bodies.get(facts)

    def get_uncounted(self, key: BodyKey, size: int) -> bytes | None:
        """get() uncounted, for the hot path: ``key`` of a body of ``size`` bytes."""
        if size > self.max_file_size:
            return None
        return self._bodies.peek(key)

    def put(self, facts: FileFacts, body: bytes) -> None:
        if len(body) == facts.size:
            self._bodies.put(facts, body)

    def get_compressed(self, facts: FileFacts, coding: str) -> bytes | None:
        return self._bodies.get((facts, coding))

    def put_compressed(self, facts: FileFacts, coding: str, body: bytes) -> None:
        """The body of ``facts`` compressed here into ``coding``."""
        self._bodies.put((facts, coding), body)
