"""Soak: alternating cold and cached phases while files are replaced underneath; zero wrong bytes?

`flashstatic serve` (CPU 0) serves 20 files (4 KiB, 200 KiB, 2 MiB). In the client process (CPU 1):
- a writer replaces one file every --rewrite-ms by rename (new random content, sometimes a new
  size), recording each version's content under the ETag it will have ("<size>-<mtime ns>", from
  a stat of the new file before the rename makes it visible);
- C keep-alive connections request whole files and single ranges and check every body against
  the version its ETag names: a body that differs is a wrong response, counted with its bytes;
- phases of --phase seconds alternate: "cached" (files stay in the page cache) and "cold" (every
  second, our files are evicted from the page cache with POSIX_FADV_DONTNEED, or with
  --drop-caches the whole page cache through /proc/sys/vm/drop_caches).

    python -m benchmarks.soak [--minutes 10] [--phase 30] [--connections 32] [--rewrite-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from .rawclient import Connection, Cut, percentile, raise_fd_limit, use_uvloop
from .serverproc import flashstatic, rss_bytes

MIB = 1024 * 1024
SIZES = [4096] * 10 + [200 * 1024] * 8 + [2 * MIB] * 2
KEEP_VERSIONS = 64


class Versions:
    """Every version of every file still likely to be served, by the ETag it is served with."""

    def __init__(self) -> None:
        self.by_etag: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, etag: str, data: bytes) -> None:
        with self.lock:
            self.by_etag[etag] = data
            while len(self.by_etag) > KEEP_VERSIONS * len(SIZES):
                self.by_etag.popitem(last=False)

    def get(self, etag: str) -> bytes | None:
        with self.lock:
            return self.by_etag.get(etag)


def disk_read_bytes(pid: int) -> int:
    """Bytes the server and its helpers had the block layer read (page-cache misses)."""
    from .serverproc import process_tree

    total = 0
    for member in process_tree(pid):
        try:
            fields = dict(line.split(": ") for line in Path(f"/proc/{member}/io").read_text().splitlines())
        except OSError:
            continue
        total += int(fields["read_bytes"])
    return total


def etag_of(st: os.stat_result) -> str:
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}"'


def write_version(root: Path, name: str, size: int, versions: Versions) -> None:
    data = os.urandom(size)
    scratch = root / f".new-{name}"
    scratch.write_bytes(data)
    versions.add(etag_of(os.stat(scratch)), data)  # known before anyone can be served it
    os.replace(scratch, root / name)


def writer(
    root: Path, names: list[str], versions: Versions, every: float, stop: threading.Event, counts: dict[str, int]
) -> None:
    rng = random.Random(2)
    while not stop.wait(every):
        name = rng.choice(names)
        base = SIZES[names.index(name)]
        size = base if rng.random() < 0.7 else base + rng.randrange(-base // 4, base // 4)
        write_version(root, name, size, versions)
        counts["rewrites"] += 1


def evictor(
    root: Path, cold: threading.Event, stop: threading.Event, drop_caches: bool, counts: dict[str, int]
) -> None:
    while not stop.wait(1):
        if not cold.is_set():
            continue
        counts["evictions"] += 1
        if drop_caches:
            Path("/proc/sys/vm/drop_caches").write_text("1\n")
            continue
        for path in root.iterdir():
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)  # dirty pages (a fresh version) are not dropped otherwise
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


class PhaseTally:
    def __init__(self) -> None:
        self.requests = 0
        self.wrong = 0
        self.wrong_bytes = 0
        self.cut = 0
        self.unavailable = 0
        self.unknown = 0
        self.other = 0
        self.latencies: list[float] = []


def check(
    response_status: int,
    headers: dict[bytes, bytes],
    body: bytes,
    rng_range: tuple[int, int] | None,
    versions: Versions,
    tally: PhaseTally,
) -> None:
    if response_status == 503:
        tally.unavailable += 1
        return
    if response_status not in (200, 206, 416):
        tally.other += 1
        return
    etag = headers.get(b"etag", b"").decode()
    data = versions.get(etag)
    if data is None:
        tally.unknown += 1
        return
    if response_status == 416:
        return
    if response_status == 206:
        first, last = headers[b"content-range"].split(b" ")[1].split(b"/")[0].split(b"-")
        expected = data[int(first) : int(last) + 1]
    else:
        expected = data
    if body != expected:
        tally.wrong += 1
        tally.wrong_bytes += sum(a != b for a, b in zip(body, expected, strict=False)) + abs(len(body) - len(expected))


async def client(
    port: int, names: list[str], versions: Versions, phase: list[PhaseTally], deadline: float, seed: int
) -> None:
    rng = random.Random(seed)
    conn = await Connection.open(port)
    try:
        while time.monotonic() < deadline:
            name = rng.choice(names)
            wanted = None
            headers = {}
            if rng.random() < 0.2:
                start = rng.randrange(2 * MIB)
                wanted = (start, start + rng.randrange(1, 256 * 1024))
                headers["Range"] = f"bytes={wanted[0]}-{wanted[1]}"
            tally = phase[0]
            started = time.monotonic()
            try:
                response = await conn.get("/" + name, headers)
            except (Cut, OSError):
                tally.cut += 1
                conn.close()
                conn = await Connection.open(port)
                continue
            tally.latencies.append(time.monotonic() - started)
            tally.requests += 1
            check(response.status, response.headers, response.body, wanted, versions, tally)
    finally:
        conn.close()


async def run(
    args: argparse.Namespace,
    root: Path,
    names: list[str],
    versions: Versions,
    port: int,
    pid: int,
    cold: threading.Event,
) -> list[dict[str, object]]:
    deadline = time.monotonic() + args.minutes * 60
    current = [PhaseTally()]
    clients = [
        asyncio.ensure_future(client(port, names, versions, current, deadline, seed))
        for seed in range(args.connections)
    ]
    results = []
    kind = "cached"
    while time.monotonic() < deadline:
        phase_started = time.monotonic()
        read_before = disk_read_bytes(pid)
        cold.set() if kind == "cold" else cold.clear()
        await asyncio.sleep(min(args.phase, max(0.0, deadline - time.monotonic())))
        tally, current[0] = current[0], PhaseTally()
        elapsed = time.monotonic() - phase_started
        results.append(
            {
                "phase": kind,
                "seconds": round(elapsed, 1),
                "requests": tally.requests,
                "req/s": round(tally.requests / elapsed, 1),
                "wrong": tally.wrong,
                "wrong bytes": tally.wrong_bytes,
                "cut": tally.cut,
                "503": tally.unavailable,
                "unknown version": tally.unknown,
                "other status": tally.other,
                "p99 ms": round(percentile(tally.latencies, 99) * 1000, 1),
                "disk read MiB": round((disk_read_bytes(pid) - read_before) / MIB, 1),
                "rss MiB": round(rss_bytes(pid) / MIB, 1),
            }
        )
        print(json.dumps(results[-1]), flush=True)
        kind = "cold" if kind == "cached" else "cached"
    await asyncio.gather(*clients)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--phase", type=float, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rewrite-ms", type=float, default=100)
    parser.add_argument("--drop-caches", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    raise_fd_limit()
    use_uvloop()
    os.sched_setaffinity(0, {1})
    args.out.mkdir(parents=True, exist_ok=True)
    versions = Versions()
    counts = {"rewrites": 0, "evictions": 0}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as directory:
        root = Path(directory)
        names = [f"f{i:02d}.bin" for i in range(len(SIZES))]
        for name, size in zip(names, SIZES, strict=True):
            write_version(root, name, size, versions)
        stop, cold = threading.Event(), threading.Event()
        threads = [
            threading.Thread(target=writer, args=(root, names, versions, args.rewrite_ms / 1000, stop, counts)),
            threading.Thread(target=evictor, args=(root, cold, stop, args.drop_caches, counts)),
        ]
        with flashstatic(root) as server:
            for thread in threads:
                thread.start()
            try:
                results = asyncio.run(run(args, root, names, versions, server.port, server.pid, cold))
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
    totals = {
        key: sum(r[key] for r in results)
        for key in ("requests", "wrong", "wrong bytes", "cut", "503", "unknown version", "other status")  # type: ignore[misc]
    }
    summary = {"minutes": args.minutes, "connections": args.connections, **counts, **totals, "phases": results}
    (args.out / "soak.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "phases"}, indent=1))


if __name__ == "__main__":
    main()
