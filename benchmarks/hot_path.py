"""The hot path: cached small files, against the server's own ceiling and against nginx.

Same run, one server process each, server pinned to core 0 and wrk to core 1:

- `raw ASGI`: an ASGI app answering 1 KiB from memory under stock uvicorn (httptools, uvloop):
  what uvicorn itself can do.
- `middleware`: FlashStatic as middleware under the same stock uvicorn.
- `flashstatic serve`: its own protocol class, which answers cache hits without ASGI.
- `nginx`: one worker, sendfile, open_file_cache.

Workloads: a 1 KiB file, the same with a different header in every request (benchmarks/
unique.lua: no request is a byte-for-byte repeat, which `flashstatic serve` answers without
parsing), a 10 KiB file, a 304 for the 1 KiB file (If-None-Match with the
server's own ETag), and a SPECweb99-like mix (benchmarks/fileset.py, 10 directories, all in the
page cache; 1% of its requests are 100-900 KiB files). Then `flashstatic serve --workers N`
and nginx with N workers for N = 1..cores, unpinned (wrk shares the cores with the workers):
nginx's gain is the machine's ceiling for ours.

    python -m benchmarks.hot_path [--duration 10] [--connections 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from .fileset import FileSet, request_sequence, write_paths
from .serverproc import Server, cpu_seconds, free_port, nginx, raw_asgi

LUA = str(Path(__file__).with_name("paths.lua"))
UNIQUE = str(Path(__file__).with_name("unique.lua"))


def middleware(root: Path) -> Server:
    """FlashStatic wrapping a tiny app, under stock uvicorn."""
    port = free_port()
    code = (
        "import sys, uvicorn\n"
        "from flashstatic import FlashStatic\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http': return\n"
        "    await send({'type': 'http.response.start', 'status': 404, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b''})\n"
        "uvicorn.run(FlashStatic(app, directory=sys.argv[1], prefix='/static'), host='127.0.0.1',\n"
        "            port=int(sys.argv[2]), log_level='warning', http='httptools', loop='uvloop',\n"
        "            access_log=False)\n"
    )
    return Server("middleware, stock uvicorn", [sys.executable, "-c", code, str(root / "static"), str(port)], port)


def serve(root: Path, workers: int = 1, cpus: str = "0") -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "flashstatic",
        "serve",
        str(root / "static"),
        "--prefix",
        "/static",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    return Server(f"flashstatic serve ({workers} worker{'s' if workers > 1 else ''})", command, port, cpus=cpus)


def wrk(
    port: int,
    path: str,
    connections: int,
    duration: int,
    *,
    headers: list[str] = (),
    paths_file: str | None = None,
    script: str | None = None,
    cpus: str | None = "1",
) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
    for header in headers:
        command += ["-H", header]
    if paths_file:
        command += ["-s", LUA]
    elif script:
        command += ["-s", script]
    command.append(f"http://127.0.0.1:{port}{path}")
    if paths_file:
        command += ["--", paths_file, "1"]
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    if re.search(r"Socket errors|Non-2xx", out):  # wrk counts 304s as successes
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def etag_of(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
        return response.headers["ETag"]


def workloads(paths_file: str) -> dict[str, dict[str, object]]:
    return {
        "1 KiB": {"path": "/static/one.bin"},
        "1 KiB, no two requests alike": {"path": "/static/one.bin", "script": UNIQUE},
        "10 KiB": {"path": "/static/ten.bin"},
        "304 (1 KiB)": {"path": "/static/one.bin", "etag": True},
        "SPECweb99 mix": {"path": "/", "paths_file": paths_file},
    }


def measure(
    server: Server,
    loads: dict[str, dict[str, object]],
    connections: int,
    duration: int,
    wrk_cpus: str | None = "1",
    warmup: int = 2,
) -> dict[str, tuple[float, float]]:
    """Per workload: (requests/s, the server's CPU microseconds per request, helpers and workers
    included). CPU per request moves less than throughput when something else shares the machine."""
    results = {}
    with server:
        for name, load in loads.items():
            path = str(load["path"])
            headers = [f"If-None-Match: {etag_of(server.port, path)}"] if load.get("etag") else []
            paths_file = load.get("paths_file")
            script = load.get("script")
            # Warm: fills the caches (and for the mix, every file of the sequence once).
            wrk(
                server.port,
                path,
                connections,
                warmup,
                headers=headers,
                paths_file=paths_file,
                script=script,
                cpus=wrk_cpus,
            )
            cpu_before = cpu_seconds(server.pid)
            rate = wrk(
                server.port,
                path,
                connections,
                duration,
                headers=headers,
                paths_file=paths_file,
                script=script,
                cpus=wrk_cpus,
            )
            cpu = cpu_seconds(server.pid) - cpu_before
            results[name] = (rate, cpu / (rate * duration) * 1e6)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-workers", action="store_true", help="skip the --workers scaling runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        static = root / "static"
        static.mkdir()
        (static / "one.bin").write_bytes(os.urandom(1024))
        (static / "ten.bin").write_bytes(os.urandom(10 * 1024))
        fileset = FileSet(str(static), 10, 1)
        fileset.build()
        paths_file = str(root / "paths.txt")
        write_paths(request_sequence(fileset, 100_000, prefix="/static", seed=1).paths, paths_file)
        loads = workloads(paths_file)

        rows: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for round_number in range(args.rounds):
            servers = [nginx(root), serve(root), middleware(root)]
            if round_number % 2:
                servers.reverse()  # alternate the order, so drift does not favour one server
            for server in servers:
                for name, value in measure(server, loads, args.connections, args.duration).items():
                    rows.setdefault(server.name, {}).setdefault(name, []).append(value)
            raw = raw_asgi(1024)
            raw_loads = {"1 KiB": {"path": "/"}, "1 KiB, no two requests alike": {"path": "/", "script": UNIQUE}}
            for name, value in measure(raw, raw_loads, args.connections, args.duration).items():
                rows.setdefault(raw.name, {}).setdefault(name, []).append(value)
            print(
                f"round {round_number + 1}: "
                + "; ".join(
                    f"{server}: "
                    + ", ".join(
                        f"{name} {values[-1][0]:,.0f}/s {values[-1][1]:.1f} us" for name, values in results.items()
                    )
                    for server, results in rows.items()
                ),
                file=sys.stderr,
            )

        def rate(server: str, name: str) -> float:
            return statistics.median(value[0] for value in rows[server][name])

        def cpu(server: str, name: str) -> float:
            return statistics.median(value[1] for value in rows[server][name])

        print(
            f"\nwrk -t1 -c{args.connections} -d{args.duration}s, server on core 0, wrk on core 1; median of "
            f"{args.rounds} rounds: requests/s (min-max), and the server's CPU time per request\n"
        )
        names = list(loads)
        print("| server | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for server, results in rows.items():
            cells = []
            for n in names:
                if n not in results:
                    cells.append("")
                    continue
                rates = [value[0] for value in results[n]]
                cells.append(f"{rate(server, n):,.0f}/s ({min(rates):,.0f}-{max(rates):,.0f}), {cpu(server, n):.1f} us")
            print(f"| {server} | " + " | ".join(cells) + " |")

        ours, mw = "flashstatic serve (1 worker)", "middleware, stock uvicorn"
        raw = "raw ASGI app"

        def raw_for(name: str) -> str:
            return name if name in rows[raw] else "1 KiB"

        print("\n| ratio (requests/s; CPU per request in brackets, lower is better) | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        print(
            "| flashstatic serve / nginx | "
            + " | ".join(
                f"{rate(ours, n) / rate('nginx', n):.2f} ({cpu(ours, n) / cpu('nginx', n):.1f}x)" for n in names
            )
            + " |"
        )
        print(
            "| middleware / raw ASGI app (1 KiB) | "
            + " | ".join(
                f"{rate(mw, n) / rate(raw, raw_for(n)):.2f} ({cpu(mw, n) / cpu(raw, raw_for(n)):.1f}x)" for n in names
            )
            + " |"
        )

        if not args.no_workers:
            print_scaling(root, loads, args)


def print_scaling(root: Path, loads: dict[str, dict[str, object]], args: argparse.Namespace) -> None:
    """``flashstatic serve --workers N`` next to nginx with N workers, nothing pinned: wrk
    shares the cores with the workers, so nginx's own gain from N workers is what this
    machine lets any server gain, and ours is read against it."""
    cores = os.cpu_count() or 1
    names = ["1 KiB", "1 KiB, no two requests alike"]
    print(
        f"\nN workers, nothing pinned (wrk shares the {cores} cores); median of {args.rounds} rounds, "
        "requests/s and x its own 1 worker\n"
    )
    print("| workers | " + " | ".join(f"flashstatic serve: {n} | nginx: {n}" for n in names) + " |")
    print("|---|" + "---|---|" * len(names))
    everywhere = ",".join(str(core) for core in range(cores))
    base: dict[tuple[str, str], float] = {}
    for workers in range(1, cores + 1):
        samples: dict[tuple[str, str], list[float]] = {}
        for round_number in range(args.rounds):
            servers = [
                ("serve", serve(root, workers, cpus=everywhere)),
                ("nginx", nginx(root, workers, cpus=everywhere)),
            ]
            if round_number % 2:
                servers.reverse()
            for kind, server in servers:
                results = measure(server, {n: loads[n] for n in names}, args.connections, args.duration, wrk_cpus=None)
                for n in names:
                    samples.setdefault((kind, n), []).append(results[n][0])
        cells = []
        for n in names:
            for kind in ("serve", "nginx"):
                value = statistics.median(samples[(kind, n)])
                base.setdefault((kind, n), value)
                cells.append(f"{value:,.0f}/s ({value / base[(kind, n)]:.2f}x)")
        print(f"| {workers} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
