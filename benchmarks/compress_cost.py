"""What compress=True costs and saves: a compressible file with ``serve --compress`` on and off,
and nginx with ``gzip on``, which compresses every response anew.

Same run, one server process each, server pinned to core 0 and wrk to core 1 (wrk -t1), every
request with ``Accept-Encoding: gzip``, for one HTML file of ``--size`` bytes (within
small_file_max, so both flashstatic servers answer from memory):

- ``flashstatic serve``: the file as it is (compress off, the default);
- ``flashstatic serve --compress``: the gzip body compressed once, at the first request, and
  sent from the body cache after;
- nginx with gzip off and with ``gzip on`` (its default level 1).

    python -m benchmarks.compress_cost [--duration 5] [--connections 32] [--rounds 3] [--size 49152]

Prints requests/s (median of the rounds, servers in alternating order), the server's CPU per
request, the bytes per response, and the ratios. Needs wrk, nginx and taskset
(benchmarks/setup.sh). Each server is checked to answer as described before it is measured.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

from .hot_path import wrk
from .serverproc import Server, cpu_seconds, free_port, nginx, serve_argv

PATH = "/static/page.html"
OFF, ON = "flashstatic serve", "flashstatic serve --compress"
NGINX, NGINX_GZIP = "nginx", "nginx, gzip on"
# Whether each server's answer is compressed: checked before measuring.
COMPRESSED = {OFF: False, ON: True, NGINX: False, NGINX_GZIP: True}


def page(size: int) -> bytes:
    """HTML that compresses about as a real page does (repeated markup, varying text)."""
    rows = (f'<tr class="row-{i % 7}"><td>{i}</td><td>item number {i * 7919 % 10007}</td></tr>\n' for i in range(size))
    text = "<!doctype html>\n<table>\n" + "".join(rows)
    return text.encode()[:size]


def flashstatic_serve(root: Path, *flags: str) -> Server:
    port = free_port()
    argv = serve_argv(root / "static", port, "--prefix", "/static", "--no-access-log", *flags)
    return Server(ON if flags else OFF, argv, port)


def answer(server: Server) -> tuple[str | None, int]:
    """(Content-Encoding, body bytes) of one request as wrk sends it."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{PATH}", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as response:
        return response.headers["Content-Encoding"], len(response.read())


def measure(server: Server, connections: int, duration: int) -> tuple[float, float, int]:
    """(requests/s, the server's CPU microseconds per request, bytes per response body)."""
    with server:
        encoding, size = answer(server)  # the first request: compress=True compresses here
        if (encoding == "gzip") != COMPRESSED[server.name]:
            raise SystemExit(f"{server.name} answered with Content-Encoding {encoding!r}")
        headers = ["Accept-Encoding: gzip"]
        wrk(server.port, PATH, connections, 2, headers=headers)  # warm
        before = cpu_seconds(server.pid)
        rate = wrk(server.port, PATH, connections, duration, headers=headers)
        return rate, (cpu_seconds(server.pid) - before) / (rate * duration) * 1e6, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=48 * 1024, help="bytes of the file (default: %(default)s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-compress-") as directory:
        root = Path(directory)
        (root / "static").mkdir()
        (root / "static" / "page.html").write_bytes(page(args.size))
        rows: dict[str, list[tuple[float, float, int]]] = {}
        for round_number in range(args.rounds):
            runs = [flashstatic_serve(root), flashstatic_serve(root, "--compress"), nginx(root), nginx(root, gzip=True)]
            if round_number % 2:
                runs.reverse()  # alternate the order, so drift does not favour one server
            for server in runs:
                rows.setdefault(server.name, []).append(measure(server, args.connections, args.duration))
            print(f"round {round_number + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    report(rows, args)


def report(rows: dict[str, list[tuple[float, float, int]]], args: argparse.Namespace) -> None:
    def rate(server: str) -> float:
        return statistics.median(value[0] for value in rows[server])

    print(
        f"\nwrk -t1 -c{args.connections} -d{args.duration}s, Accept-Encoding: gzip, a {args.size}-byte HTML file, "
        f"server on core 0, wrk on core 1; median of {args.rounds} rounds\n"
    )
    print("| server | requests/s (min-max) | CPU per request | body bytes |")
    print("|---|---|---|---|")
    for server, values in rows.items():
        rates = [value[0] for value in values]
        cpu = statistics.median(value[1] for value in values)
        print(
            f"| {server} | {rate(server):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | {cpu:.1f} us | {values[0][2]} |"
        )
    print("\n| ratio of requests/s | |")
    print("|---|---|")
    for label, ours, theirs in (
        ("--compress on / off", ON, OFF),
        ("flashstatic serve --compress / nginx gzip on", ON, NGINX_GZIP),
        ("nginx gzip on / off", NGINX_GZIP, NGINX),
        ("flashstatic serve / nginx, both uncompressed", OFF, NGINX),
    ):
        print(f"| {label} | {rate(ours) / rate(theirs):.2f} |")


if __name__ == "__main__":
    main()
