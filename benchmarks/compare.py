"""Real traffic against nginx: access logs on and off, identical requests and no two alike.

Same run, one server process each, server pinned to core 0 and wrk to core 1 (wrk -t1):

- `flashstatic serve` and nginx (one worker, sendfile, open_file_cache) on a 1 KiB file, each
  with its access log off and on (both write Combined lines to a file in the run's directory:
  nginx one write per request, flashstatic serve in batches), for identical requests and for
  requests that differ from one another (benchmarks/unique.lua: a counter header each, as
  browsers' differing cookies do);
- the access log's own cost: `flashstatic serve` with it on over with it off;
- FlashStatic as middleware under stock uvicorn (httptools, uvloop): the 1 KiB file against a
  raw ASGI app answering 1 KiB from memory, and a miss handed to the wrapped app against that
  app alone (both answer 1 KiB), requests no two alike.

    python -m benchmarks.compare [--duration 10] [--connections 32] [--rounds 3] [--chart PNG]

Prints requests/s (median of the rounds, servers in alternating order) and the ratios; with
``--chart``, draws the requests/s as grouped bars (matplotlib). Needs
wrk, nginx and taskset (benchmarks/setup.sh). On a busy machine the ratios move by tens of
percent between runs; hot_path.py and asgi_instructions.py say more about one server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from .hot_path import UNIQUE, wrk
from .serverproc import Server, cpu_seconds, free_port, nginx, raw_asgi, serve_argv

IDENTICAL = "identical"
UNIQUE_LOAD = "no two alike"
LOADS = {IDENTICAL: None, UNIQUE_LOAD: UNIQUE}
MIDDLEWARE, MISS, ALONE = "middleware, stock uvicorn", "middleware, a miss to the app", "the app alone, stock uvicorn"

# The app behind the middleware and alone: 1 KiB from memory for any path it is given.
APP_CODE = """\
import sys, uvicorn
body = b'x' * 1024
headers = [(b'content-type', b'text/plain'), (b'content-length', b'1024')]
async def app(scope, receive, send):
    if scope['type'] != 'http': return
    await send({'type': 'http.response.start', 'status': 200, 'headers': headers})
    await send({'type': 'http.response.body', 'body': body})
if sys.argv[3] == 'wrapped':
    from flashstatic import FlashStatic
    app = FlashStatic(app, directory=sys.argv[1], prefix='/static')
uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[2]), log_level='warning', http='httptools',
            loop='uvloop', access_log=False)
"""


def serve(root: Path, log: Path | None) -> Server:
    port = free_port()
    flags = ["--prefix", "/static"] + (["--access-log"] if log is not None else ["--no-access-log"])
    name = "flashstatic serve" + (", access log" if log is not None else "")
    return Server(name, serve_argv(root / "static", port, *flags), port, stdout=log)


def app(root: Path, name: str, *, wrapped: bool) -> Server:
    port = free_port()
    command = [sys.executable, "-c", APP_CODE, str(root / "static"), str(port), "wrapped" if wrapped else "alone"]
    return Server(name, command, port)


def measure(server: Server, paths: dict[str, str], connections: int, duration: int) -> dict[str, tuple[float, float]]:
    """Per load: (requests/s, the server's CPU microseconds per request)."""
    results = {}
    with server:
        for load, script in LOADS.items():
            if load not in paths:
                continue
            wrk(server.port, paths[load], connections, 2, script=script)  # warm: fills the caches
            before = cpu_seconds(server.pid)
            rate = wrk(server.port, paths[load], connections, duration, script=script)
            results[load] = (rate, (cpu_seconds(server.pid) - before) / (rate * duration) * 1e6)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chart", type=Path, default=None, help="write a bar chart of the requests/s here (PNG)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-compare-") as directory:
        root = Path(directory)
        (root / "static").mkdir()
        (root / "static" / "one.bin").write_bytes(os.urandom(1024))
        both = {IDENTICAL: "/static/one.bin", UNIQUE_LOAD: "/static/one.bin"}
        rows: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for round_number in range(args.rounds):
            logs = root / f"logs-{round_number}"
            logs.mkdir()
            runs = [
                (nginx(root), both),
                (nginx(root, access_log=logs / "nginx.log"), both),
                (serve(root, None), both),
                (serve(root, logs / "serve.log"), both),
                (raw_asgi(1024), {IDENTICAL: "/", UNIQUE_LOAD: "/"}),
                (app(root, MIDDLEWARE, wrapped=True), {UNIQUE_LOAD: "/static/one.bin"}),
                (app(root, MISS, wrapped=True), {UNIQUE_LOAD: "/dynamic"}),
                (app(root, ALONE, wrapped=False), {UNIQUE_LOAD: "/dynamic"}),
            ]
            if round_number % 2:
                runs.reverse()  # alternate the order, so drift does not favour one server
            for server, paths in runs:
                for load, value in measure(server, paths, args.connections, args.duration).items():
                    rows.setdefault(server.name, {}).setdefault(load, []).append(value)
            for name in ("nginx.log", "serve.log"):
                (logs / name).unlink(missing_ok=True)
            print(f"round {round_number + 1} of {args.rounds} done", file=sys.stderr, flush=True)
        report(rows, args)
        if args.chart is not None:
            chart(rows, args)


def chart(rows: dict[str, dict[str, list[tuple[float, float]]]], args: argparse.Namespace) -> None:
    """Requests/s of each server (median, with the rounds' range), one group per load."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = list(rows)
    figure, axes = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(LOADS)
    for index, load in enumerate(LOADS):
        positions = [number + (index - (len(LOADS) - 1) / 2) * width for number in range(len(servers))]
        rates = [[value[0] for value in rows[server].get(load, [])] for server in servers]
        medians = [statistics.median(rate) if rate else 0.0 for rate in rates]
        below = [median - min(rate) if rate else 0.0 for median, rate in zip(medians, rates, strict=True)]
        above = [max(rate) - median if rate else 0.0 for median, rate in zip(medians, rates, strict=True)]
        axes.bar(positions, medians, width, yerr=[below, above], capsize=3, label=load)
    axes.set_xticks(range(len(servers)), [server.replace(", ", ",\n") for server in servers], fontsize=8)
    axes.set_ylabel("requests/s")
    axes.set_title(
        f"1 KiB file, wrk -t1 -c{args.connections} -d{args.duration}s, server on core 0; "
        f"median and range of {args.rounds} rounds",
        fontsize=9,
    )
    axes.legend()
    figure.tight_layout()
    figure.savefig(args.chart, dpi=110)
    print(f"\nchart: {args.chart}")


def report(rows: dict[str, dict[str, list[tuple[float, float]]]], args: argparse.Namespace) -> None:
    def rate(server: str, load: str) -> float:
        return statistics.median(value[0] for value in rows[server][load])

    def cpu(server: str, load: str) -> float:
        return statistics.median(value[1] for value in rows[server][load])

    print(
        f"\nwrk -t1 -c{args.connections} -d{args.duration}s, a 1 KiB file, server on core 0, wrk on core 1; "
        f"median of {args.rounds} rounds: requests/s (min-max), the server's CPU time per request\n"
    )
    print("| server | " + " | ".join(LOADS) + " |")
    print("|---|" + "---|" * len(LOADS))
    for server, results in rows.items():
        cells = []
        for load in LOADS:
            if load not in results:
                cells.append("")
                continue
            rates = [value[0] for value in results[load]]
            cells.append(
                f"{rate(server, load):,.0f}/s ({min(rates):,.0f}-{max(rates):,.0f}), {cpu(server, load):.1f} us"
            )
        print(f"| {server} | " + " | ".join(cells) + " |")

    def ratio(label: str, ours: str, theirs: str, loads: list[str] | None = None) -> None:
        cells = [
            f"{rate(ours, load) / rate(theirs, load):.2f}" if load in (loads or list(LOADS)) else "" for load in LOADS
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")

    print("\n| ratio of requests/s | " + " | ".join(LOADS) + " |")
    print("|---|" + "---|" * len(LOADS))
    ratio("flashstatic serve / nginx, access logs off", "flashstatic serve", "nginx")
    ratio("flashstatic serve / nginx, access logs on", "flashstatic serve, access log", "nginx, access log")
    ratio("flashstatic serve, access log on / off", "flashstatic serve, access log", "flashstatic serve")
    ratio("nginx, access log on / off", "nginx, access log", "nginx")
    ratio("middleware, 1 KiB file / raw ASGI app", MIDDLEWARE, "raw ASGI app", [UNIQUE_LOAD])
    ratio("middleware, a miss / the app alone", MISS, ALONE, [UNIQUE_LOAD])


if __name__ == "__main__":
    main()
