"""Many keep-alive connections on a mixed, cached workload: errors, latency, and the RSS curve.

`flashstatic serve` (pinned to CPU 0) gets N persistent connections (default 1,000) from one
asyncio client process (pinned to CPU 1), each sending its next request as soon as the last
response is in, for D seconds. The mix: small, medium and large files, If-None-Match
revalidations (304) and single ranges, every file warm. Every body is checked (status, length,
sha256 of the exact bytes expected). The server's RSS (its helpers included) is sampled every
second.

    python -m benchmarks.load_many_connections [--connections 1000] [--seconds 60] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import tempfile
import time
from pathlib import Path

from .rawclient import Connection, Cut, percentile, raise_fd_limit, use_uvloop
from .serverproc import flashstatic, rss_bytes

MIB = 1024 * 1024
# (name pattern, count, size, share of requests)
FILE_CLASSES = [
    ("s{}.txt", 20, 1024, 0.50),
    ("m{}.js", 10, 16 * 1024, 0.30),
    ("l{}.bin", 8, 100 * 1024, 0.14),
    ("xl{}.bin", 2, MIB, 0.01),
]
REVALIDATE_SHARE = 0.03
RANGE_SHARE = 0.02


def make_files(root: Path) -> dict[str, bytes]:
    files = {}
    for pattern, count, size, _ in FILE_CLASSES:
        for i in range(count):
            name = pattern.format(i)
            data = os.urandom(size)
            (root / name).write_bytes(data)
            files[name] = data
    return files


class Workload:
    def __init__(self, files: dict[str, bytes], seed: int) -> None:
        self.files = files
        self.digests = {name: hashlib.sha256(data).digest() for name, data in files.items()}
        self.random = random.Random(seed)
        self.names = [[pattern.format(i) for i in range(count)] for pattern, count, _, _ in FILE_CLASSES]
        self.weights = [share for *_, share in FILE_CLASSES]
        self.etags: dict[str, str] = {}

    def next(self) -> tuple[str, dict[str, str], str]:
        """(file name, request headers, kind)."""
        names = self.random.choices(self.names, self.weights)[0]
        name = self.random.choice(names)
        roll = self.random.random()
        if roll < REVALIDATE_SHARE and name in self.etags:
            return name, {"If-None-Match": self.etags[name]}, "304"
        if roll < REVALIDATE_SHARE + RANGE_SHARE:
            size = len(self.files[name])
            start = self.random.randrange(size)
            stop = min(size - 1, start + self.random.randrange(1, 8192))
            return name, {"Range": f"bytes={start}-{stop}"}, f"206:{start}:{stop}"
        return name, {}, "200"

    def check(self, name: str, kind: str, status: int, headers: dict[bytes, bytes], body: bytes) -> str | None:
        """None if right, else what was wrong."""
        if kind == "304":
            return None if status == 304 and not body else f"expected 304, got {status}"
        if kind.startswith("206"):
            _, start, stop = kind.split(":")
            expected = self.files[name][int(start) : int(stop) + 1]
            return None if status == 206 and body == expected else f"range: status {status}, wrong bytes"
        if status != 200:
            return f"status {status}"
        if hashlib.sha256(body).digest() != self.digests[name]:
            return "wrong bytes"
        self.etags[name] = headers[b"etag"].decode()
        return None


class Tally:
    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.errors: dict[str, int] = {}
        self.latencies: list[float] = []

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def connection_loop(
    port: int, workload: Workload, tally: Tally, connected: asyncio.Semaphore, deadline: float, measure_from: float
) -> None:
    async with connected:
        try:
            conn = await Connection.open(port)
        except OSError as exc:
            tally.error(f"connect: {exc.__class__.__name__}")
            return
    try:
        while time.monotonic() < deadline:
            name, headers, kind = workload.next()
            started = time.monotonic()
            try:
                response = await conn.get("/" + name, headers)
            except (Cut, OSError) as exc:
                tally.error(f"connection: {exc}")
                conn.close()
                conn = await Connection.open(port)
                continue
            finished = time.monotonic()
            problem = workload.check(name, kind, response.status, response.headers, response.body)
            if problem:
                tally.error(problem)
            if started >= measure_from:
                tally.requests += 1
                tally.bytes += len(response.body)
                tally.latencies.append(finished - started)
    finally:
        conn.close()


async def sample_rss(pid: int, seconds: float, curve: list[tuple[float, float, float]]) -> None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        curve.append((time.monotonic() - started, rss_bytes(pid) / MIB, rss_bytes(pid, descendants=False) / MIB))
        await asyncio.sleep(1)


async def run(
    port: int, pid: int, files: dict[str, bytes], connections: int, seconds: float, warmup: float
) -> dict[str, object]:
    workload = Workload(files, seed=1)
    tally = Tally()
    curve: list[tuple[float, float, float]] = []
    start = time.monotonic()
    sampler = asyncio.ensure_future(sample_rss(pid, seconds + 1, curve))
    connected = asyncio.Semaphore(100)
    await asyncio.gather(
        *(
            connection_loop(port, workload, tally, connected, start + seconds, start + warmup)
            for _ in range(connections)
        )
    )
    await sampler
    measured = seconds - warmup
    after_warmup = [rss for t, rss, _ in curve if t >= warmup]
    return {
        "connections": connections,
        "seconds": seconds,
        "warmup": warmup,
        "requests": tally.requests,
        "req/s": tally.requests / measured,
        "MiB/s": tally.bytes / measured / MIB,
        "errors": tally.errors,
        "p50 ms": percentile(tally.latencies, 50) * 1000,
        "p99 ms": percentile(tally.latencies, 99) * 1000,
        "max ms": max(tally.latencies, default=0) * 1000,
        "rss at warm-up end MiB": after_warmup[0] if after_warmup else None,
        "rss at end MiB": after_warmup[-1] if after_warmup else None,
        "rss max after warm-up MiB": max(after_warmup, default=None),
        "rss curve": curve,
    }


def plot(curve: list[tuple[float, float, float]], warmup: float, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([t for t, _, _ in curve], [rss for _, rss, _ in curve], label="server + helpers")
    ax.plot([t for t, _, _ in curve], [main for _, _, main in curve], label="server process")
    ax.axvline(warmup, color="grey", linestyle=":", label="end of warm-up")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS MiB")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right")
    ax.set_title("RSS under 1,000 keep-alive connections")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    raise_fd_limit()
    use_uvloop()
    os.sched_setaffinity(0, {1})  # the server has CPU 0
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        files = make_files(root)
        with flashstatic(root) as server:
            result = asyncio.run(run(server.port, server.pid, files, args.connections, args.seconds, args.warmup))
    (args.out / "load_many_connections.json").write_text(json.dumps(result, indent=1))
    plot(result["rss curve"], args.warmup, args.out / "load-rss.png")  # type: ignore[arg-type]
    curve = result.pop("rss curve")
    print(json.dumps(result, indent=1))
    print("\nRSS (server + helpers, MiB) every 5 s:")
    print(" ".join(f"{t:.0f}s:{rss:.1f}" for t, rss, _ in curve[::5]))  # type: ignore[misc]


if __name__ == "__main__":
    main()
