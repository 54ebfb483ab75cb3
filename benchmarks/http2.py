"""HTTP/2: the FlashStatic middleware under Hypercorn (uvicorn speaks no HTTP/2) against nginx
with ``listen ... http2``, both over cleartext HTTP/2 (h2c, prior knowledge), in the same run;
and, for scale, ``flashstatic serve`` (uvicorn) over HTTP/1.1. Server on core 0, h2load on
core 1. (h2load counts Hypercorn's HTTP/1.1 answers, which have no reason phrase, as failures,
so Hypercorn is measured over HTTP/2 only.)

    python -m benchmarks.http2 [--duration 5] [--connections 32] [--streams 10]

Prints requests/s per server and file size, and each one's ratio to nginx h2c. Files over
64 KiB are fetched by 8 connections with one stream each.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .serverproc import Server, flashstatic, free_port, nginx

SIZES = {"1 KiB": 1024, "1 MiB": 1024 * 1024}


def hypercorn(root: Path) -> Server:
    """FlashStatic(directory=root) under Hypercorn's uvloop worker."""
    port = free_port()
    app_dir = Path(tempfile.mkdtemp(prefix="bench-hypercorn-"))
    app = f"from flashstatic import FlashStatic\napp = FlashStatic(directory={str(root)!r})\n"
    (app_dir / "app.py").write_text(app)
    argv = [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}", "--worker-class", "uvloop", "app:app"]
    server = Server("FlashStatic under Hypercorn", ["env", f"PYTHONPATH={app_dir}", *argv], port)
    server.cleanup.append(app_dir)
    return server


def h2load(port: int, path: str, *, duration: int, connections: int, streams: int, http1: bool) -> float:
    """Requests/s over ``duration`` seconds; ``duration`` 0: 2,000 requests, to warm the caches."""
    argv = [
        "taskset",
        "-c",
        "1",
        "h2load",
        *(["-D", str(duration)] if duration else ["-n", "2000"]),
        "-c",
        str(connections),
        "-m",
        "1" if http1 else str(streams),
        "-t",
        "1",
        *(["--h1"] if http1 else []),
        f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    failed = re.search(r"(\d+) failed", out)
    if failed and int(failed.group(1)):
        raise SystemExit(f"h2load saw failures against :{port}{path}:\n{out}")
    match = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if match is None:
        raise SystemExit(f"unexpected h2load output:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--streams", type=int, default=10, help="concurrent streams per HTTP/2 connection")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-http2-") as directory:
        root = Path(directory)
        for size in SIZES.values():
            (root / f"{size}.bin").write_bytes(b"x" * size)
        runs = [
            ("nginx h2c", lambda: nginx(root, http2=True), False),
            ("Hypercorn + FlashStatic h2c", lambda: hypercorn(root), False),
            ("flashstatic serve HTTP/1.1", lambda: flashstatic(root), True),
        ]
        results: dict[tuple[str, str], float] = {}
        for label, start, http1 in runs:
            with start() as server:
                for name, size in SIZES.items():
                    path = f"/{size}.bin"
                    # Large bodies: one stream per connection, or a run ends before any finishes.
                    streams = args.streams if size <= 64 * 1024 else 1
                    connections = args.connections if size <= 64 * 1024 else 8
                    common = dict(connections=connections, streams=streams, http1=http1)
                    h2load(server.port, path, duration=0, **common)
                    results[label, name] = h2load(server.port, path, duration=args.duration, **common)
        print(f"{'server':36} {'file':>6} {'req/s':>10} {'/ nginx h2c':>12}")
        for label, _, _ in runs:
            for name in SIZES:
                rate = results[label, name]
                print(f"{label:36} {name:>6} {rate:10.0f} {rate / results['nginx h2c', name]:11.2f}x")


if __name__ == "__main__":
    main()
