"""Large files: flashstatic serve against nginx (sendfile on, one worker) and Starlette's
StaticFiles under stock uvicorn, in the same run. Server on core 0, wrk on core 1.

Reports requests/s, MiB/s, the server's CPU time per GiB sent (its helpers included), and the
ratios.

    python -m benchmarks.large_files [--duration 10] [--sizes 1,100] [--vary-requests]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .serverproc import Server, cpu_seconds, flashstatic, nginx, starlette

GIB = 1024**3


UNIQUE = str(Path(__file__).with_name("unique.lua"))
# The names serverproc gives the three servers.
NGINX, SERVE, STARLETTE = "nginx", "flashstatic serve", "Starlette StaticFiles"


def run_wrk(
    port: int, path: str, connections: int, duration: int, scheme: str = "http", script: str | None = None
) -> tuple[float, float]:
    options = ["-s", script] if script else []
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "60s",
            *options,
            f"{scheme}://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out).groups()
    scale = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}[unit]
    if re.search(r"Non-2xx|Socket errors", out):
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return requests, float(value) * scale


def measure(
    server: Server,
    path: str,
    connections: int,
    duration: int,
    scheme: str = "http",
    script: str | None = None,
    warmup: int = 2,
) -> dict[str, float]:
    with server:
        run_wrk(server.port, path, connections, warmup, scheme, script)  # warm the page cache and the server's caches
        cpu_before = cpu_seconds(server.pid)
        requests, mib = run_wrk(server.port, path, connections, duration, scheme, script)
        cpu = cpu_seconds(server.pid) - cpu_before
    return {"req/s": requests, "MiB/s": mib, "cpu s/GiB": cpu / max(mib * duration / 1024, 1e-9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--sizes", default="1,100", help="file sizes in MiB")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--vary-requests",
        action="store_true",
        help="a different header in every request (benchmarks/unique.lua): no repeats",
    )
    args = parser.parse_args()
    script = UNIQUE if args.vary_requests else None
    sizes = [int(s) for s in args.sizes.split(",")]

    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s{' -s unique.lua' if script else ''}, server pinned "
        "to core 0, wrk to core 1\n"
    )
    print("| file | server | req/s | MiB/s | server CPU s per GiB | x nginx | x Starlette |")
    print("|---|---|---|---|---|---|---|")
    for size, results in run(sizes, args.connections, args.duration, vary_requests=args.vary_requests):
        ref, base = results[NGINX]["MiB/s"], results[STARLETTE]["MiB/s"]
        for name, r in results.items():
            print(
                f"| {size} MiB | {name} | {r['req/s']:.1f} | {r['MiB/s']:.0f} | {r['cpu s/GiB']:.3f} "
                f"| {r['MiB/s'] / ref:.2f} | {r['MiB/s'] / base:.1f} |"
            )


def run(
    sizes: list[int], connections: int, duration: int, *, vary_requests: bool = False, warmup: int = 2
) -> Iterator[tuple[int, dict[str, dict[str, float]]]]:
    """Per size in MiB, as each is measured: each server's req/s, MiB/s and CPU s per GiB."""
    script = UNIQUE if vary_requests else None
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        for size in sizes:
            (root / f"{size}mib.bin").write_bytes(os.urandom(size * 2**20))
        for size in sizes:
            path = f"/{size}mib.bin"
            yield (
                size,
                {
                    server.name: measure(server, path, connections, duration, script=script, warmup=warmup)
                    for server in (nginx(root), flashstatic(root), starlette(root))
                },
            )


if __name__ == "__main__":
    main()
