"""Memory under slow readers: N clients download a large file at a trickle, at once.

Starts the server (flashstatic serve, then Starlette's StaticFiles under stock uvicorn, in the
same run), opens N connections that each request the file and then read 64 KiB per second,
and samples the server's RSS (its helpers included) every second. Prints the growth over the
idle baseline.

    python -m benchmarks.slow_downloads [--clients 200] [--size-gib 1] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from .serverproc import Server, flashstatic, rss_bytes, starlette

MIB = 1024 * 1024


async def trickle(port: int, seconds: float, stats: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /big.bin HTTP/1.1\r\nHost: bench\r\n\r\n")
    await writer.drain()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            data = await reader.read(64 * 1024)
            if not data:
                stats["closed"] += 1
                return
            stats["bytes"] += len(data)
            await asyncio.sleep(1)
    finally:
        writer.close()


async def warm_up(port: int) -> None:
    """One small request first, so helpers that start on first use are in the baseline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /big.bin HTTP/1.1\r\nHost: bench\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n")
    await reader.read()
    writer.close()
    await asyncio.sleep(1)


async def measure(server: Server, clients: int, seconds: int) -> dict[str, float]:
    stats = {"bytes": 0, "closed": 0}
    await warm_up(server.port)
    baseline = rss_bytes(server.pid)
    main_baseline = rss_bytes(server.pid, descendants=False)
    tasks = [asyncio.ensure_future(trickle(server.port, seconds, stats)) for _ in range(clients)]
    peak, main_peak = baseline, main_baseline
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(1)
        peak = max(peak, rss_bytes(server.pid))
        main_peak = max(main_peak, rss_bytes(server.pid, descendants=False))
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "baseline MiB": baseline / MIB,
        "peak MiB": peak / MIB,
        "growth MiB": (peak - baseline) / MIB,
        "main growth MiB": (main_peak - main_baseline) / MIB,
        "client MiB read": stats["bytes"] / MIB,
        "cut early": stats["closed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--size-gib", type=float, default=1)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        with open(root / "big.bin", "wb") as f:
            f.truncate(int(args.size_gib * 1024**3))  # sparse: reading it costs no disk
        print(f"{args.clients} clients, each reading 64 KiB/s of a {args.size_gib:g} GiB file for {args.seconds} s\n")
        print(
            "| server | idle RSS MiB (with helpers) | peak RSS MiB | growth MiB | of which the server process | "
            "read by clients MiB | cut early |"
        )
        print("|---|---|---|---|---|---|---|")
        for server in (flashstatic(root), starlette(root)):
            with server:
                result = asyncio.run(measure(server, args.clients, args.seconds))
            print(
                f"| {server.name} | {result['baseline MiB']:.1f} | {result['peak MiB']:.1f} | "
                f"{result['growth MiB']:.1f} | {result['main growth MiB']:.1f} | "
                f"{result['client MiB read']:.0f} | {result['cut early']} |"
            )


if __name__ == "__main__":
    main()
