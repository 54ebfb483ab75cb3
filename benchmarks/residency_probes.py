"""What a residency check costs, next to the read it guards (same run, same file).

For a warm and a cold 64 KiB chunk of a file on the local disk, times each probe flashstatic
can use (preadv RWF_NOWAIT, which is the probe and the read at once; cachestat; mincore with
the mapping kept; mincore mapping and unmapping each time) against a plain pread of the
chunk, and prints the ratios. The cold case evicts the chunk before every sample
(fsync + POSIX_FADV_DONTNEED), so it includes no disk wait for the probes, which never read.

    python -m benchmarks.residency_probes [--chunk 65536] [--samples 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

from flashstatic.amped.mapped import MappedChunks
from flashstatic.amped.residency import cachestat_resident, mincore_resident, read_if_resident


def median_us(work: Callable[[], object], samples: int, before: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(samples):
        if before is not None:
            before()
        start = time.perf_counter_ns()
        work()
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return times[len(times) // 2] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunk", type=int, default=64 * 1024)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "probe.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(16 * 1024 * 1024))
        fd = os.open(path, os.O_RDONLY)
        mapped = MappedChunks()
        chunk, offset = args.chunk, 4 * 1024 * 1024

        def evict() -> None:
            os.posix_fadvise(fd, offset, chunk, os.POSIX_FADV_DONTNEED)

        probes: dict[str, Callable[[], object]] = {
            "pread (the read itself, no probe)": lambda: os.pread(fd, chunk, offset),
            "preadv RWF_NOWAIT (probe + read)": lambda: read_if_resident(fd, offset, chunk),
            "cachestat": lambda: cachestat_resident(fd, offset, chunk),
            "mincore, mapping kept": lambda: mapped.resident(fd, (0, 0), 16 << 20, offset, chunk),
            "mincore, map + unmap": lambda: mincore_resident(fd, offset, chunk),
        }
        os.fsync(fd)
        os.pread(fd, chunk, offset)
        warm = {name: median_us(work, args.samples) for name, work in probes.items()}
        cold = {
            name: median_us(work, max(50, args.samples // 10), before=evict)
            for name, work in probes.items()
            if not name.startswith("pread ")
        }
        mapped.close()
        os.close(fd)

    base = warm["pread (the read itself, no probe)"]
    print(f"chunk {chunk} bytes, median of {args.samples} warm samples")
    print("| probe | warm us | x warm pread | cold us (evicted) |")
    print("|---|---|---|---|")
    for name, micros in warm.items():
        cold_text = f"{cold[name]:.2f}" if name in cold else "-"
        print(f"| {name} | {micros:.2f} | {micros / base:.2f} | {cold_text} |")


if __name__ == "__main__":
    main()
