"""Slow readers: N connections each reading 1 KiB/s of a large file, and one normal client.

For each server (flashstatic serve, then Starlette's StaticFiles under stock uvicorn, same run),
a normal client first measures its latency alone (sequential GETs of a 4 KiB and a 256 KiB file),
then N slow readers connect (receive buffer 4 KiB, so the window never opens wide), each asks
for a 1 GiB file and reads 1 KiB per second, and the normal client measures again with them
there. The server's RSS (helpers included) is sampled every second.

    python -m benchmarks.slow_readers [--readers 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from .rawclient import Connection, Cut, percentile, raise_fd_limit, use_uvloop
from .serverproc import Server, flashstatic, rss_bytes, starlette

MIB = 1024 * 1024


async def normal_client(port: int, files: dict[str, bytes], seconds: float) -> dict[str, float]:
    conn = await Connection.open(port)
    latencies, wrong = [], 0
    deadline = time.monotonic() + seconds
    names = list(files)
    i = 0
    while time.monotonic() < deadline:
        name = names[i % len(names)]
        i += 1
        started = time.monotonic()
        response = await conn.get("/" + name)
        latencies.append(time.monotonic() - started)
        wrong += response.status != 200 or response.body != files[name]
        await asyncio.sleep(0.01)
    conn.close()
    return {
        "p50 ms": percentile(latencies, 50) * 1000,
        "p99 ms": percentile(latencies, 99) * 1000,
        "requests": len(latencies),
        "wrong": wrong,
    }


async def slow_reader(port: int, stop: asyncio.Event, stats: dict[str, int]) -> None:
    try:
        conn = await Connection.open(port, rcvbuf=4096)
        conn.send("/big.bin")
        await conn.read_head()
    except (OSError, Cut):
        stats["failed"] += 1
        return
    stats["connected"] += 1
    try:
        while not stop.is_set():
            data = await conn.reader.read(1024)
            if not data:
                stats["cut"] += 1
                return
            stats["bytes"] += len(data)
            try:
                await asyncio.wait_for(stop.wait(), 1)
            except asyncio.TimeoutError:
                pass
    finally:
        conn.close()


async def measure(server: Server, files: dict[str, bytes], readers: int, seconds: float) -> dict[str, object]:
    await normal_client(server.port, files, 2)  # warm: helpers started, files cached
    alone = await normal_client(server.port, files, seconds)
    baseline = rss_bytes(server.pid)
    main_baseline = rss_bytes(server.pid, descendants=False)
    main_peak = main_baseline
    stop = asyncio.Event()
    stats = {"connected": 0, "failed": 0, "cut": 0, "bytes": 0}
    tasks = [asyncio.ensure_future(slow_reader(server.port, stop, stats)) for _ in range(readers)]
    peak = baseline
    for _ in range(5):  # let them all connect and fill their windows
        await asyncio.sleep(1)
        peak = max(peak, rss_bytes(server.pid))
        main_peak = max(main_peak, rss_bytes(server.pid, descendants=False))
    sampler_stop = time.monotonic() + seconds
    together_task = asyncio.ensure_future(normal_client(server.port, files, seconds))
    while time.monotonic() < sampler_stop:
        await asyncio.sleep(1)
        peak = max(peak, rss_bytes(server.pid))
        main_peak = max(main_peak, rss_bytes(server.pid, descendants=False))
    together = await together_task
    stop.set()
    await asyncio.gather(*tasks)
    return {
        "alone": alone,
        "with readers": together,
        "readers": stats,
        "rss baseline MiB": baseline / MIB,
        "rss peak MiB": peak / MIB,
        "growth MiB": (peak - baseline) / MIB,
        "main growth MiB": (main_peak - main_baseline) / MIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--servers", default="flashstatic,starlette")
    args = parser.parse_args()
    raise_fd_limit()
    use_uvloop()
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        files = {"small.txt": os.urandom(4096), "medium.bin": os.urandom(256 * 1024)}
        for name, data in files.items():
            (root / name).write_bytes(data)
        with open(root / "big.bin", "wb") as f:
            f.truncate(1024**3)  # sparse: its pages cost no disk
        print(
            f"{args.readers} readers at 1 KiB/s, normal client measured {args.seconds:g} s alone and "
            f"{args.seconds:g} s with them\n"
        )
        print(
            "| server | p50 ms alone | p99 ms alone | p50 ms with readers | p99 ms with readers | p99 ratio | "
            "wrong bodies | readers connected / cut | RSS idle MiB | RSS peak MiB | growth MiB | "
            "of which the server process |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        makers = {"flashstatic": flashstatic, "starlette": starlette}
        for name in args.servers.split(","):
            with makers[name](root) as server:
                r = asyncio.run(measure(server, files, args.readers, args.seconds))
            alone, together, readers = r["alone"], r["with readers"], r["readers"]
            print(
                f"| {server.name} | {alone['p50 ms']:.2f} | {alone['p99 ms']:.2f} | {together['p50 ms']:.2f} | "
                f"{together['p99 ms']:.2f} | {together['p99 ms'] / alone['p99 ms']:.2f} | "
                f"{alone['wrong'] + together['wrong']} | {readers['connected']} / {readers['cut']} | "
                f"{r['rss baseline MiB']:.1f} | {r['rss peak MiB']:.1f} | {r['growth MiB']:.1f} | "
                f"{r['main growth MiB']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
