"""WSGI: gunicorn + FlashStaticWSGI against gunicorn + WhiteNoise, same workers, same run.

gunicorn (one gthread worker, --threads 4 by default) is pinned to core 0 and wrk to core 1.
Each repeat starts both servers afresh, side by side (one idles while the other is measured),
and runs every case on both, back to back, the one going first alternating: whole files of
1 KiB, 10 KiB, 1 MiB and 100 MiB, a single range of the 1 MiB file, a precompressed file asked
for with Accept-Encoding (.gz and .br siblings present), and 304s (If-None-Match with the ETag
each server gave). The case order is shuffled per repeat (from --seed, printed), so no case
always follows the 100 MiB one. The two halves of a pair are seconds apart, so this VM's slow
drift (25% between runs of the same server) falls on both alike; the paired ratios are the
comparison. Prints req/s, MiB/s and the server's CPU per request for every run, then medians,
the ratio of the medians and the paired ratios (median, range, each); by MiB/s for 100 MiB.

    python -m benchmarks.wsgi_vs_whitenoise [--duration 4] [--repeats 3] [--threads 4] [--seed 1]
        [--cases 304 "1 KiB"]   # only the cases whose names contain one of these (any case)
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from .serverproc import Server, cpu_seconds, free_port

KIB = 1024
MIB = 1024 * KIB
APPS = {"flashstatic": "benchmarks.wsgi_apps:flashstatic_app()", "WhiteNoise": "benchmarks.wsgi_apps:whitenoise_app()"}
# (name, path, request headers; "{etag}" is the ETag the server gave for the path)
CASES = [
    ("1 KiB", "/1k.txt", {}),
    ("10 KiB", "/10k.txt", {}),
    ("1 MiB", "/1m.bin", {}),
    ("100 MiB", "/100m.bin", {}),
    ("range 100 KB of 1 MiB", "/1m.bin", {"Range": "bytes=1000-100999"}),
    ("precompressed .br (js, 300 KiB)", "/app.js", {"Accept-Encoding": "gzip, br"}),
    ("precompressed .gz (js, 300 KiB)", "/app.js", {"Accept-Encoding": "gzip"}),
    ("304 (If-None-Match)", "/10k.txt", {"If-None-Match": "{etag}"}),
]
# Compared by MiB/s, not req/s: wrk counts a response when it ends but every byte as it is
# read, and at about 20 responses a second the 8 still in flight when a run stops are up to a
# tenth of the run; the bytes have no such step.
BY_BYTES = {"100 MiB"}


def make_tree(root: Path) -> None:
    rng = random.Random(1)
    (root / "1k.txt").write_bytes(bytes(rng.choice(b"abcdefgh\n") for _ in range(KIB)))
    (root / "10k.txt").write_bytes(bytes(rng.choice(b"abcdefgh\n") for _ in range(10 * KIB)))
    (root / "1m.bin").write_bytes(rng.randbytes(MIB))
    (root / "100m.bin").write_bytes(os.urandom(100 * MIB))
    script = b"".join(b"function f%d(a, b) { return a + b * %d; }\n" % (i, i) for i in range(7000))[: 300 * KIB]
    (root / "app.js").write_bytes(script)
    (root / "app.js.gz").write_bytes(gzip.compress(script, 9, mtime=0))
    # A stand-in for brotli output (brotli itself is not a dependency): smaller than the .gz.
    (root / "app.js.br").write_bytes(gzip.compress(script, 9, mtime=0)[: len(script) // 12])


def gunicorn(name: str, root: Path, threads: int) -> Server:
    port = free_port()
    command = [
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
        str(threads),
        "--log-level",
        "warning",
        "--keep-alive",
        "30",
        APPS[name],
    ]
    os.environ["BENCH_ROOT"] = str(root)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]
    )
    return Server(f"gunicorn + {name}", command, port)


def etag(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
        return response.headers["ETag"]


def run_wrk(port: int, path: str, headers: dict[str, str], connections: int, duration: int) -> tuple[float, float]:
    flags = [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
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
            *flags,
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=duration + 90,
        check=True,
    ).stdout
    if re.search(r"Socket errors", out) or (re.search(r"Non-2xx", out) and "If-None-Match" not in headers):
        raise RuntimeError(f"wrk saw errors:\n{out}")
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out).groups()
    return requests, float(value) * {"B": 1 / MIB, "KB": 1 / KIB, "MB": 1, "GB": KIB}[unit]


def check_status(port: int, path: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


Case = tuple[str, str, dict[str, str]]
Measured = tuple[float, float, float]  # req/s, MiB/s, server CPU us per request
Results = dict[tuple[str, str], list[Measured]]


def selected_cases(patterns: list[str] | None) -> list[Case]:
    """The cases whose names contain one of ``patterns`` (case-insensitive); all without any."""
    if not patterns:
        return list(CASES)
    chosen = [case for case in CASES if any(p.lower() in case[0].lower() for p in patterns)]
    if not chosen:
        raise SystemExit(f"no case matches {patterns}; the cases: {[case[0] for case in CASES]}")
    return chosen


def measure(server: Server, path: str, headers: dict[str, str], args: argparse.Namespace) -> Measured:
    """req/s, MiB/s and the server's CPU microseconds per request over one wrk run."""
    run_wrk(server.port, path, headers, args.connections, 1)  # warm caches
    cpu_before = cpu_seconds(server.pid)
    requests, mib = run_wrk(server.port, path, headers, args.connections, args.duration)
    cpu_us = (cpu_seconds(server.pid) - cpu_before) * 1e6 / max(requests * args.duration, 1)
    return requests, mib, cpu_us


def run_repeat(repeat: int, cases: list[Case], root: Path, args: argparse.Namespace, results: Results) -> None:
    """Both servers started afresh, side by side; each case measured on one and then at once
    on the other (which goes first alternates), so that the two measurements of a pair are
    seconds apart and this VM's drift falls on both alike."""
    order = random.Random(f"{args.seed}/{repeat}").sample(cases, len(cases))
    print(f"repeat {repeat + 1} case order: {', '.join(case for case, _, _ in order)}", flush=True)
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(gunicorn(name, root, args.threads)) for name in APPS}
        for index, (case, path, headers) in enumerate(order):
            names = list(APPS) if (repeat + index) % 2 == 0 else list(reversed(APPS))
            for name in names:
                server = servers[name]
                sent = {key: value.format(etag=etag(server.port, path)) for key, value in headers.items()}
                status = check_status(server.port, path, sent)
                measured = measure(server, path, sent, args)
                results.setdefault((case, name), []).append(measured)
                print(
                    f"repeat {repeat + 1} | {name} | {case} | {status} | {measured[0]:.0f} req/s | "
                    f"{measured[1]:.1f} MiB/s | {measured[2]:.1f} us CPU per request",
                    flush=True,
                )


def print_summary(cases: list[Case], results: Results) -> None:
    print(
        "\n| case | flashstatic req/s | WhiteNoise req/s | ratio of medians | paired ratios: median "
        "(range) | CPU us per request, flashstatic / WhiteNoise | ratio per repeat |"
    )
    print("|---|---|---|---|---|---|---|")
    for case, _, _ in cases:
        ours_runs, theirs_runs = results[(case, "flashstatic")], results[(case, "WhiteNoise")]
        ours = [statistics.median(v) for v in zip(*ours_runs, strict=True)]
        theirs = [statistics.median(v) for v in zip(*theirs_runs, strict=True)]
        by = 1 if case in BY_BYTES else 0
        # Paired by repeat: both servers ran the case back to back.
        paired = [a[by] / b[by] for a, b in zip(ours_runs, theirs_runs, strict=True)]
        unit = " MiB/s" if by else ""
        print(
            f"| {case} | {ours[by]:.0f}{unit} | {theirs[by]:.0f}{unit} | {ours[by] / theirs[by]:.2f} | "
            f"{statistics.median(paired):.2f} ({min(paired):.2f}-{max(paired):.2f}) | "
            f"{ours[2]:.0f} / {theirs[2]:.0f} | {' '.join(f'{r:.2f}' for r in paired)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn gthread threads (both servers)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seed", default="1", help="seeds the case order of every repeat")
    parser.add_argument("--cases", nargs="+", metavar="NAME", help="run only cases whose names contain one of these")
    args = parser.parse_args()
    cases = selected_cases(args.cases)

    results: Results = {}
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        make_tree(root)
        print(
            f"gunicorn -w 1 -k gthread --threads {args.threads} on core 0; "
            f"wrk -t1 -c{args.connections} -d{args.duration}s on core 1; seed {args.seed}\n"
        )
        for repeat in range(args.repeats):
            run_repeat(repeat, cases, root, args, results)
    print_summary(cases, results)


if __name__ == "__main__":
    main()
