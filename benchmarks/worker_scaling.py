"""Does `flashstatic serve --workers N` grow with N? Against nginx with N workers, same run.

On a machine whose cores also run the load generator, more workers mostly fight wrk for the
same cores (hot_path.py's unpinned table: nginx itself gains 3-10% from a second worker on 2
cores). Here the server, its workers and helpers run in a cgroup whose CPU quota is N times
--share of one core, as on a machine with N cores of that speed, and wrk runs outside it with
the rest: a server whose throughput doubles from 1 to 2 workers has nothing shared that stops
it scaling (one accept queue, a lock, one process doing all the work). N goes from 1 to the
machine's cores. Needs root and the cgroup v1 cpu controller (or cgroup v2 with cpu enabled).

    python -m benchmarks.worker_scaling [--share 0.35] [--duration 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .hot_path import UNIQUE, measure, serve
from .serverproc import Server, nginx

PERIOD_US = 100_000
_groups = itertools.count()


@contextmanager
def cpu_quota(cores: float) -> Iterator[Path]:
    """A fresh cpu cgroup limited to ``cores`` worth of CPU time; its processes file."""
    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/unified")
    group = (v1 if v1.is_dir() else v2) / f"flashstatic-bench-{os.getpid()}-{next(_groups)}"
    group.mkdir()
    try:
        quota = int(cores * PERIOD_US)
        if (group / "cpu.cfs_quota_us").exists():
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        yield group / "cgroup.procs"
    finally:
        for _ in range(100):  # the server has stopped; its last children may still be exiting
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def in_group(server: Server, procs: Path) -> Server:
    """The same server, started inside the cgroup (its children are born there too)."""
    server.command = ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *server.command]
    return server


# The servers and loads, as the results name them.
SERVE, NGINX = "flashstatic serve", "nginx"
LOADS = {
    "1 KiB": {"path": "/static/one.bin"},
    "1 KiB, no two requests alike": {"path": "/static/one.bin", "script": UNIQUE},
}
Rates = dict[tuple[str, str, int], float]
"""(server, load, workers): the median requests/s of the rounds."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--share", type=float, default=0.35, help="CPU per worker, in cores")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rates = run(args.share, args.duration, args.connections, args.rounds)

    print(
        f"\nwrk -t1 -c{args.connections} -d{args.duration}s outside the cgroup; the server's cgroup gets "
        f"{args.share} of a core per worker; median of {args.rounds} rounds: requests/s (x 1 worker)\n"
    )
    print(
        "| workers (CPU quota) | " + " | ".join(f"{name}: {load}" for name in (SERVE, NGINX) for load in LOADS) + " |"
    )
    print("|---|" + "---|" * (2 * len(LOADS)))
    for workers in range(1, cores + 1):
        cells = [
            f"{rates[(name, load, workers)]:,.0f}/s ({rates[(name, load, workers)] / rates[(name, load, 1)]:.2f}x)"
            for name in (SERVE, NGINX)
            for load in LOADS
        ]
        print(f"| {workers} ({workers * args.share:.2f} cores) | " + " | ".join(cells) + " |")


def run(share: float, duration: int, connections: int, rounds: int, warmup: int = 2) -> Rates:
    """Both servers with 1 to the machine's cores workers, each in a cgroup of ``share`` cores per worker."""
    cores = os.cpu_count() or 1
    everywhere = ",".join(str(core) for core in range(cores))
    makers = {
        SERVE: lambda root, n: serve(root, n, cpus=everywhere),
        NGINX: lambda root, n: nginx(root, n, cpus=everywhere),
    }

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "static").mkdir()
        (root / "static" / "one.bin").write_bytes(os.urandom(1024))
        rates: Rates = {}
        for workers in range(1, cores + 1):
            samples: dict[tuple[str, str], list[float]] = {}
            for round_number in range(rounds):
                order = list(makers.items())
                if round_number % 2:
                    order.reverse()
                for name, make in order:
                    with cpu_quota(workers * share) as procs:
                        results = measure(
                            in_group(make(root, workers), procs),
                            LOADS,
                            connections,
                            duration,
                            wrk_cpus=None,
                            warmup=warmup,
                        )
                    for load, (rate, _) in results.items():
                        samples.setdefault((name, load), []).append(rate)
            for (name, load), values in samples.items():
                rates[(name, load, workers)] = statistics.median(values)
            print(
                f"{workers} worker(s): "
                + ", ".join(f"{name} {load} {statistics.median(v):,.0f}/s" for (name, load), v in samples.items()),
                file=sys.stderr,
            )
    return rates


if __name__ == "__main__":
    main()
