"""The disk-bound benchmark's account of the server's full garbage collections."""

from __future__ import annotations

import gc
import time

from benchmarks.bench_app import FullCollections
from benchmarks.disk_bound import full_collections_between


def test_full_collections_are_timed_and_younger_ones_are_not() -> None:
    collections = FullCollections()
    try:
        gc.collect(0)
        gc.collect(1)
        assert collections.report()["pauses"] == []
        before = time.time()
        gc.collect()
        (ended, seconds, cpu), *others = collections.report()["pauses"]
        assert not others and before <= ended <= time.time() and seconds > 0 and cpu > 0
        assert collections.report()["tracked"] > 0
    finally:
        collections.close()


def test_only_the_collections_that_ended_during_the_load_count() -> None:
    pauses = [(99.0, 0.5, 0.5), (100.0, 0.002, 0.002), (105.5, 0.030, 0.020), (110.0, 0.010, 0.010), (110.1, 0.9, 0.9)]
    report = {"pauses": pauses, "tracked": 7}
    assert full_collections_between(report, 100.0, 110.0) == {
        "count": 3,
        "total_ms": 42.0,
        "max_ms": 30.0,
        "max_cpu_ms": 20.0,
        "tracked": 7,
    }
    nothing = {"count": 0, "total_ms": 0.0, "max_ms": 0.0, "max_cpu_ms": 0.0, "tracked": 7}
    assert full_collections_between(report, 200.0, 210.0) == nothing
