"""What the access log, the metrics and a proxy in front cost: flashstatic serve on the same
small file with none of them (the baseline), with the access log in each format (to /dev/null,
so formatting and the write are paid but no disk), with metrics on (the loop-lag monitor
running), and trusting a proxy's X-Forwarded-For (sent with every request), with the log off
and on, in the same run. Small-file hits are the highest request rate, where a per-request cost
shows most.

    python -m benchmarks.observability_cost [--duration 10] [--connections 50]

Server on core 0, wrk on core 1; needs wrk and taskset (benchmarks/setup.sh). Run it on a quiet
machine: the ratios are what it reports.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

from .serverproc import Server, free_port, serve_argv

PROXY = ["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
FORWARDED = ["X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https"]
# name -> (serve's flags, headers each request carries)
VARIANTS: dict[str, tuple[list[str], list[str]]] = {
    "baseline (--no-access-log)": (["--no-access-log"], []),
    "access log to /dev/null": (["--access-log"], []),
    "access log, --access-log-format json": (["--access-log", "--access-log-format", "json"], []),
    "metrics on (--metrics-path)": (["--no-access-log", "--metrics-path", "/_flashstatic/metrics"], []),
    "behind a proxy (--proxy-headers), no log": (["--no-access-log", *PROXY], FORWARDED),
    "behind a proxy (--proxy-headers), access log": (["--access-log", *PROXY], FORWARDED),
}


def start(root: Path, name: str, flags: list[str]) -> Server:
    port = free_port()
    return Server(
        name,
        serve_argv(root, port, *flags),
        port,
    )


def run_wrk(port: int, path: str, connections: int, duration: int, headers: list[str]) -> float:
    extra = [part for header in headers for part in ("-H", header)]
    url = f"http://127.0.0.1:{port}{path}"
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", *extra, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match is not None, out
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="each variant this many times, interleaved")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "small.css").write_text("body { color: red; }\n" * 48)  # 1 KiB
        results: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(args.rounds):
            for name, (flags, headers) in VARIANTS.items():
                with start(root, name, flags) as server:
                    run_wrk(server.port, "/small.css", args.connections, 2, headers)  # warm up
                    results[name].append(run_wrk(server.port, "/small.css", args.connections, args.duration, headers))
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s on a 1 KiB file, best of {args.rounds}; "
        "server on core 0, wrk on core 1\n"
    )
    baseline = max(results["baseline (--no-access-log)"])
    print("| variant | req/s | vs baseline |\n|---|---|---|")
    for name, rates in results.items():
        print(f"| {name} | {max(rates):.0f} | {max(rates) / baseline:.2f} |")


if __name__ == "__main__":
    main()
