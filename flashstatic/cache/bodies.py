"""The small-file cache: whole bodies of small files, so a hit is one send and no disk."""

from __future__ import annotations

from ..translate import FileFacts
from .lru import LRU, Counters


class BodyCache:
    """Bodies keyed by the file's facts: a changed file has new facts, so it never hits."""

    def __init__(self, max_file_size: int, budget_bytes: int) -> None:
        self.max_file_size = max_file_size
        self._bodies: LRU[FileFacts, bytes] = LRU(budget_bytes, weigh=len)

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

    def get_uncounted(self, facts: FileFacts) -> bytes | None:
        if facts.size > self.max_file_size:
            return None
        return self._bodies.peek(facts)

    def put(self, facts: FileFacts, body: bytes) -> None:
        if len(body) == facts.size:
            self._bodies.put(facts, body)
