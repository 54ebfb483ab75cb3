"""Real traffic against nginx: access logs on and off, identical requests and no two alike.

Same run, one server process each, server pinned to core 0 and wrk to core 1 (wrk -t1):

- `flashstatic serve` and nginx (one worker, sendfile, open_file_cache) on a 1 KiB file, each
  with its access log off and on (both write Combined lines to a file in the run's directory:
  nginx one write per request, flashstatic serve in batches), for identical requests, for
  requests that differ from one another (benchmarks/unique.lua: a counter header each, as
  browsers' differing cookies do), and for requests whose log lines differ too
  (benchmarks/browsers.lua: a Referer of its own and one of a few User-Agents each, as a
  server's many clients send them);
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
NEW_LINES = "no two log lines alike"
BROWSERS = str(Path(__file__).with_name("browsers.lua"))
LOADS = {IDENTICAL: None, UNIQUE_LOAD: UNIQUE, NEW_LINES: BROWSERS}
MIDDLEWARE, MISS, ALONE = "middleware, stock uvicorn", "middleware, a miss to the app", "the app alone, stock uvicorn"
SERVE, SERVE_LOG, NGINX, NGINX_LOG = "flashstatic serve", "flashstatic serve, access log", "nginx", "nginx, access log"
RAW = "raw ASGI app"

Rows = dict[str, dict[str, list[tuple[float, float]]]]
"""Per server, per load: (requests/s, CPU microseconds per request) of each round."""

RATIOS = [
    # (label, ours, theirs, the loads both were measured with)
    ("flashstatic serve / nginx, access logs off", SERVE, NGINX, list(LOADS)),
    ("flashstatic serve / nginx, access logs on", SERVE_LOG, NGINX_LOG, list(LOADS)),
    ("flashstatic serve, access log on / off", SERVE_LOG, SERVE, list(LOADS)),
    ("nginx, access log on / off", NGINX_LOG, NGINX, list(LOADS)),
    ("middleware, 1 KiB file / raw ASGI app", MIDDLEWARE, RAW, [UNIQUE_LOAD]),
    ("middleware, a miss / the app alone", MISS, ALONE, [UNIQUE_LOAD]),
]
"""The ratios of requests/s the report prints."""

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
    name = SERVE_LOG if log is not None else SERVE
    return Server(name, serve_argv(root / "static", port, *flags), port, stdout=log)


def app(root: Path, name: str, *, wrapped: bool) -> Server:
    port = free_port()
    command = [sys.executable, "-c", APP_CODE, str(root / "static"), str(port), "wrapped" if wrapped else "alone"]
    return Server(name, command, port)


def measure(
    server: Server, paths: dict[str, str], connections: int, duration: int, warmup: int = 2
) -> dict[str, tuple[float, float]]:
    """Per load: (requests/s, the server's CPU microseconds per request)."""
    results = {}
    with server:
        for load, script in LOADS.items():
            if load not in paths:
                continue
            wrk(server.port, paths[load], connections, warmup, script=script)  # warm: fills the caches
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
    rows = run(args.duration, args.connections, args.rounds)
    report(rows, args)
    if args.chart is not None:
        chart(rows, args)


def run(duration: int, connections: int, rounds: int, warmup: int = 2) -> Rows:
    """Every server of the comparison, ``rounds`` times in alternating order."""
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as directory:
        root = Path(directory)
        (root / "static").mkdir()
        (root / "static" / "one.bin").write_bytes(os.urandom(1024))
        both = dict.fromkeys(LOADS, "/static/one.bin")
        rows: Rows = {}
        for round_number in range(rounds):
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
                for load, value in measure(server, paths, connections, duration, warmup).items():
                    rows.setdefault(server.name, {}).setdefault(load, []).append(value)
            for name in ("nginx.log", "serve.log"):
                (logs / name).unlink(missing_ok=True)
            print(f"round {round_number + 1} of {rounds} done", file=sys.stderr, flush=True)
    return rows


def median_rate(rows: Rows, server: str, load: str) -> float:
    return statistics.median(value[0] for value in rows[server][load])


def ratios(rows: Rows) -> dict[str, dict[str, float]]:
    """Each of RATIOS, per load it was measured with: the median requests/s over the other's."""
    return {
        label: {load: median_rate(rows, ours, load) / median_rate(rows, theirs, load) for load in loads}
        for label, ours, theirs, loads in RATIOS
    }


def chart(rows: Rows, args: argparse.Namespace) -> None:
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


def report(rows: Rows, args: argparse.Namespace) -> None:
    def rate(server: str, load: str) -> float:
        return median_rate(rows, server, load)

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

    print("\n| ratio of requests/s | " + " | ".join(LOADS) + " |")
    print("|---|" + "---|" * len(LOADS))
    for label, values in ratios(rows).items():
        cells = [f"{values[load]:.2f}" if load in values else "" for load in LOADS]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
