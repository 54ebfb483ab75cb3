"""Proof that a file body leaves through sendfile, not write: syscalls of one response.

Runs `flashstatic serve` under strace, fetches one 50 MiB file once with curl, and sums what
each kind of send syscall returned (bytes) in the server and its helpers. The same for
Starlette's StaticFiles under stock uvicorn, as the baseline, in the same run.

    python -m benchmarks.prove_zero_copy [--size-mib 50]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from .serverproc import free_port, serve_argv, wait_listening

SEND_CALLS = ("sendfile", "write", "writev", "sendto", "sendmsg")  # counted only on TCP sockets
_LINE = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+)")


def traced(command: list[str], port: int, url_path: str, trace: Path) -> dict[str, list[int]]:
    """Run ``command`` under strace, fetch one URL, return {syscall: [calls, bytes]}."""
    server = subprocess.Popen(
        [
            "strace",
            "-f",
            "-qq",
            "-yy",
            "-e",
            "trace=" + ",".join(SEND_CALLS),
            "-e",
            "signal=none",
            "-o",
            str(trace),
            *command,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
        subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "--noproxy", "*", f"http://127.0.0.1:{port}{url_path}"],
            check=True,
            timeout=120,
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in trace.read_text().splitlines():
        match = _LINE.match(line)
        # -yy names each descriptor: count what went to TCP sockets, not logs or .pyc files.
        if match and match.group(1) in SEND_CALLS and match.group(2).split(",", 1)[0].find("TCP") >= 0:
            totals[match.group(1)][0] += 1
            totals[match.group(1)][1] += max(0, int(match.group(3)))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=50)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "files"
        root.mkdir()
        (root / "big.bin").write_bytes(os.urandom(size))
        runs = {}
        port = free_port()
        runs["flashstatic serve"] = traced(
            serve_argv(root, port, "--no-access-log"),
            port,
            "/big.bin",
            Path(directory) / "flashstatic.trace",
        )
        port = free_port()
        starlette = (
            "import sys, uvicorn; from starlette.staticfiles import StaticFiles; "
            "uvicorn.run(StaticFiles(directory=sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), "
            "log_level='warning')"
        )
        runs["Starlette StaticFiles, stock uvicorn"] = traced(
            [sys.executable, "-c", starlette, str(root), str(port)],
            port,
            "/big.bin",
            Path(directory) / "starlette.trace",
        )

    print(f"One GET of a {args.size_mib} MiB file; syscalls that wrote to TCP sockets (server and helpers):\n")
    print("| server | syscall | calls | bytes returned |")
    print("|---|---|---|---|")
    for server, totals in runs.items():
        for call in SEND_CALLS:
            if call in totals:
                calls, sent = totals[call]
                print(f"| {server} | {call} | {calls} | {sent:,} |")
    ours = runs["flashstatic serve"]
    share = ours.get("sendfile", [0, 0])[1] / size
    print(f"\nflashstatic: {share:.1%} of the body's bytes left through sendfile.")


if __name__ == "__main__":
    main()
