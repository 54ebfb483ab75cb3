"""The /dynamic latency probe: an open-loop HTTP/1.1 client at a fixed request rate.

Requests are *scheduled* at start + i/rate, each in its own task, so a stalled server cannot
hide its stall by slowing the probe down (no coordinated omission): up to ``--connections``
keep-alive connections are used at once, and a request waits for a free one if all are busy
(that wait counts). Latency is counted from the moment the request's task starts, not from its
nominal time, so the probe's own timer slack (asyncio wakes up to ~1 ms late) is not blamed on
the server; that slack is reported separately as ``late_p99_ms``.

    python -m benchmarks.probe --port 8000 --rate 50 --duration 10 > latencies.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def summarize(latencies_ms: list[float], errors: int, planned: int) -> dict[str, object]:
    s = sorted(latencies_ms)
    return {
        "planned": planned,
        "ok": len(s),
        "errors": errors,
        "p50_ms": percentile(s, 50),
        "p90_ms": percentile(s, 90),
        "p99_ms": percentile(s, 99),
        "max_ms": s[-1] if s else None,
        "mean_ms": sum(s) / len(s) if s else None,
    }


async def _fetch(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> None:
    reader, writer = conn
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    if status != 200:
        raise RuntimeError(f"status {status}")


async def run(
    host: str, port: int, path: str, rate: float, duration: float, connections: int, timeout: float
) -> dict[str, object]:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    planned = max(1, int(rate * duration))
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(connections)
    latencies: list[float] = []
    samples: list[tuple[float, float]] = []
    late: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()

    async def one(scheduled: float) -> None:
        nonlocal errors
        began = loop.time()
        late.append((began - scheduled) * 1000)
        async with slots:
            conn = idle.pop() if idle else None
            try:
                async with asyncio.timeout(timeout):
                    if conn is None:
                        conn = await asyncio.open_connection(host, port)
                    await _fetch(conn, request)
            except Exception:
                errors += 1
                if conn is not None:
                    conn[1].close()
                return
            idle.append(conn)
        done = loop.time()
        latencies.append((done - began) * 1000)
        samples.append((round(scheduled - start, 4), round((done - began) * 1000, 3)))

    start = loop.time() + 0.05
    tasks = []
    for i in range(planned):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    # Bounded: every task has its own timeout; give them that long to finish.
    await asyncio.wait(tasks, timeout=timeout + 1)
    for task in tasks:
        task.cancel()
    for _, writer in idle:
        writer.close()
    result = summarize(latencies, errors + sum(1 for t in tasks if t.cancelled()), planned)
    result["late_p99_ms"] = percentile(sorted(late), 99)
    result["samples"] = samples  # (scheduled offset s, latency ms), for plots
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/dynamic")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections at most")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the probe only talks to this machine (127.0.0.1)")
    t0 = time.time()
    result = asyncio.run(run(args.host, args.port, args.path, args.rate, args.duration, args.connections, args.timeout))
    result["wall_s"] = round(time.time() - t0, 3)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
