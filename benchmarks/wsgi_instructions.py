"""WSGI: instructions per request in the gunicorn worker, flashstatic against WhiteNoise.

wsgi_vs_whitenoise.py measures throughput, which on this VM spreads 15-20% between runs of the
same server; a difference of a few percent in what one request costs cannot show there. This
counts it instead. gunicorn runs under callgrind (one gthread worker, as in the throughput
benchmark) and one client sends N identical keep-alive requests, one at a time; the worker's
user-space instructions for N2 requests minus those for N1, over N2 - N1, are what one request
costs, start-up excluded. Repeated runs agree to about 1k instructions per request (thread
hand-offs under valgrind vary a little). The kernel's share is not counted: both servers make
the same system calls per request (docs/benchmarks.md, "WSGI").

With --replay, each app is also run wrapped so that it answers every request with its first
response replayed from memory: gunicorn's cost for that response with the app loaded but not
deciding anything. Real minus replay is the app's own cost in place; replay minus the other
app's replay is what merely having each app loaded costs, and the difference in their headers.
(Replayed bodies are bytes, so for a body WhiteNoise sends through the file wrapper the replay
takes a different gunicorn path: compare replays for bodiless answers such as 304s.)

    python -m benchmarks.wsgi_instructions [--cases 304 "1 KiB"] [--requests 500 3000] [--replay]

Needs valgrind (benchmarks/setup.sh installs it). About a minute per run, four runs per app
and case (eight with --replay).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from .serverproc import free_port, wait_listening
from .wsgi_vs_whitenoise import APPS, CASES, check_status, etag, make_tree, selected_cases

REPO = Path(__file__).resolve().parent.parent


def send_requests(port: int, path: str, headers: dict[str, str], count: int) -> None:
    """``count`` identical requests on one connection, each read whole before the next."""
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (head + "\r\n").encode("latin-1")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        pending = b""
        for _ in range(count):
            sock.sendall(request)
            while b"\r\n\r\n" not in pending:
                pending += _receive(sock)
            response_head, pending = pending.split(b"\r\n\r\n", 1)
            if not response_head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 206", b"HTTP/1.1 304")):
                raise RuntimeError(f"unexpected response: {response_head[:200]!r}")
            match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", response_head)
            length = int(match.group(1)) if match and not response_head.startswith(b"HTTP/1.1 304") else 0
            while len(pending) < length:  # the body is counted, not kept
                length -= len(pending)
                pending = _receive(sock)
            pending = pending[length:]


def _receive(sock: socket.socket) -> bytes:
    data = sock.recv(1 << 20)
    if not data:
        raise RuntimeError("the server closed the connection")
    return data


def worker_instructions(spec: str, root: Path, path: str, headers: dict[str, str], count: int) -> int:
    """Instructions of the gunicorn worker that served ``count`` requests (the busiest of the
    processes callgrind saw: the master idles, and start-up helpers are short)."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as out:
        port = free_port()
        env = dict(
            os.environ,
            BENCH_ROOT=str(root),
            PYTHONHASHSEED="0",
            PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        )
        command = [
            "valgrind",
            "--tool=callgrind",
            "--trace-children=yes",
            f"--callgrind-out-file={out}/cg.%p",
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
            "--keep-alive",
            "600",
            "--timeout",
            "600",
            spec,
        ]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
        try:
            wait_listening(port, timeout=300)
            sent = {key: value.format(etag=etag(port, path)) for key, value in headers.items()}
            status = check_status(port, path, sent)
            send_requests(port, path, sent, count)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(300)
        totals = []
        for dump in Path(out).glob("cg.*"):
            match = re.search(r"^(?:summary|totals):\s*(\d+)", dump.read_text(errors="replace"), re.MULTILINE)
            if match:
                totals.append(int(match.group(1)))
        print(f"  {spec} | {status} | {count} requests | {max(totals):,} instructions", flush=True)
        return max(totals)


def per_request(spec: str, root: Path, case: tuple[str, str, dict[str, str]], counts: tuple[int, int]) -> float:
    _, path, headers = case
    low, high = (worker_instructions(spec, root, path, headers, count) for count in counts)
    return (high - low) / (counts[1] - counts[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["304", "1 KiB"],
        metavar="NAME",
        help=f"cases whose names contain one of these; all: {[case[0] for case in CASES]}",
    )
    parser.add_argument("--requests", nargs=2, type=int, default=[500, 3000], metavar=("N1", "N2"))
    parser.add_argument("--replay", action="store_true", help="also run each app answering with a replayed response")
    args = parser.parse_args()
    counts = (args.requests[0], args.requests[1])
    specs = dict(APPS)
    if args.replay:
        specs.update({f"{name}, replayed": f"benchmarks.wsgi_apps:replayed({name!r})" for name in APPS})

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        make_tree(root)
        for case in selected_cases(args.cases):
            print(f"{case[0]}:", flush=True)
            costs = {name: per_request(spec, root, case, counts) for name, spec in specs.items()}
            rows.append((case[0], costs))

    names = list(specs)
    print(f"\ninstructions per request in the gunicorn worker ({counts[1]} - {counts[0]} requests)\n")
    print("| case | " + " | ".join(names) + " | flashstatic / WhiteNoise |")
    print("|---|" + "---:|" * (len(names) + 1))
    for case, costs in rows:
        cells = " | ".join(f"{costs[name] / 1000:.1f}k" for name in names)
        print(f"| {case} | {cells} | {costs['flashstatic'] / costs['WhiteNoise']:.3f} |")


if __name__ == "__main__":
    main()
