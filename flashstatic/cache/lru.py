"""A bounded LRU map that counts what it does; the caches are built on it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


@dataclass
class Counters:
    hits: int = 0
    misses: int = 0
    evictions: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions}


class LRU(Generic[K, V]):
    """Least-recently-used eviction once the summed weight of the values exceeds ``capacity``."""

    def __init__(
        self,
        capacity: int,
        weigh: Callable[[V], int] = lambda value: 1,
        evicted: Callable[[K, V], None] | None = None,
    ) -> None:
        self.capacity = capacity
        self._weigh = weigh
        self._evicted = evicted  # told of each eviction, for an index kept beside the map
        self._items: OrderedDict[K, V] = OrderedDict()
        self.weight = 0
        self.counters = Counters()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is None:
            self.counters.misses += 1
            return None
        self._items.move_to_end(key)
        self.counters.hits += 1
        return value

    def peek(self, key: K) -> V | None:
        """get() uncounted, for the hot path, which counts its own hits (and may hand over
        to code that looks again and counts)."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        weight = self._weigh(value)
        if weight > self.capacity:
            self.pop(key)
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.weight -= self._weigh(old)
        self._items[key] = value
        self.weight += weight
        while self.weight > self.capacity:
            evicted_key, evicted = self._items.popitem(last=False)
            self.weight -= self._weigh(evicted)
            self.counters.evictions += 1
            if self._evicted is not None:
                self._evicted(evicted_key, evicted)

    def clear(self) -> None:
        self._items.clear()
        self.weight = 0

    def pop(self, key: K) -> V | None:
        value = self._items.pop(key, None)
        if value is not None:
            self.weight -= self._weigh(value)
        return value
