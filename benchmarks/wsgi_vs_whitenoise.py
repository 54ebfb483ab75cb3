"""WSGI: gunicorn + FlashStaticWSGI against gunicorn + WhiteNoise, same workers, same run.

gunicorn (one gthread worker, --threads 4 by default) is pinned to core 0 and wrk to core 1.
Each repeat starts both servers afresh, in turn (the order alternates between repeats), and
runs every case on each: whole files of 1 KiB, 10 KiB, 1 MiB and 100 MiB, a single range of
the 1 MiB file, a precompressed file asked for with Accept-Encoding (.gz and .br siblings
present), and 304s (If-None-Match with the ETag each server gave). The case order is shuffled
per repeat (the same order for both servers, from --seed, printed), so no case always follows
the 100 MiB one or always runs on a server that has already served the others. Prints req/s
and MiB/s per repeat, then medians, the ratio flashstatic / WhiteNoise of the medians and the
ratio within each repeat.

    python -m benchmarks.wsgi_vs_whitenoise [--duration 4] [--repeats 3] [--threads 4] [--seed 1]
        [--cases 304 "1 KiB"]   # only the cases whose names contain one of these (any case)
"""

from __future__ import annotations

import argparse
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

from .serverproc import Server, free_port

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


def make_tree(root: Path) -> None:
    rng = random.Random(1)
    (root / "1k.txt").write_bytes(bytes(rng.choice(b"abcdefgh\n") for _ in range(KIB)))
    (root / "10k.txt").write_bytes(bytes(rng.choice(b"abcdefgh\n") for _ in range(10 * KIB)))
    (root / "1m.bin").write_bytes(rng.randbytes(MIB))
    (root / "100m.bin").write_bytes(os.urandom(100 * MIB))
    script = b"".join(b"function f%d(a, b) { return a + b * %d; }\n" % (i, i) for i in range(7000))[:300 * KIB]
    (root / "app.js").write_bytes(script)
    (root / "app.js.gz").write_bytes(gzip.compress(script, 9, mtime=0))
    # A stand-in for brotli output (brotli itself is not a dependency): smaller than the .gz.
    (root / "app.js.br").write_bytes(gzip.compress(script, 9, mtime=0)[: len(script) // 12])


def gunicorn(name: str, root: Path, threads: int) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
               "--worker-class", "gthread", "--threads", str(threads), "--log-level", "warning",
               "--keep-alive", "30", APPS[name]]
    os.environ["BENCH_ROOT"] = str(root)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                os.environ.get("PYTHONPATH", "")])
    return Server(f"gunicorn + {name}", command, port)


def etag(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
        return response.headers["ETag"]


def run_wrk(port: int, path: str, headers: dict[str, str], connections: int, duration: int) -> tuple[float, float]:
    flags = [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "60s",
                          *flags, f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, timeout=duration + 90, check=True).stdout
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
Results = dict[tuple[str, str], list[tuple[float, float]]]


def selected_cases(patterns: list[str] | None) -> list[Case]:
    """The cases whose names contain one of ``patterns`` (case-insensitive); all without any."""
    if not patterns:
        return list(CASES)
    chosen = [case for case in CASES if any(p.lower() in case[0].lower() for p in patterns)]
    if not chosen:
        raise SystemExit(f"no case matches {patterns}; the cases: {[case[0] for case in CASES]}")
    return chosen


def run_repeat(repeat: int, cases: list[Case], root: Path, args: argparse.Namespace, results: Results) -> None:
    """Both servers, each started afresh, on the repeat's shuffled case order."""
    order = random.Random(f"{args.seed}/{repeat}").sample(cases, len(cases))
    print(f"repeat {repeat + 1} case order: {', '.join(case for case, _, _ in order)}", flush=True)
    apps = list(APPS) if repeat % 2 == 0 else list(reversed(APPS))
    for name in apps:
        with gunicorn(name, root, args.threads) as server:
            for case, path, headers in order:
                sent = {key: value.format(etag=etag(server.port, path)) for key, value in headers.items()}
                status = check_status(server.port, path, sent)
                run_wrk(server.port, path, sent, args.connections, 1)  # warm caches
                measured = run_wrk(server.port, path, sent, args.connections, args.duration)
                results.setdefault((case, name), []).append(measured)
                print(f"repeat {repeat + 1} | {name} | {case} | {status} | "
                      f"{measured[0]:.0f} req/s | {measured[1]:.1f} MiB/s", flush=True)


def print_summary(cases: list[Case], results: Results) -> None:
    print("\n| case | flashstatic req/s | WhiteNoise req/s | flashstatic MiB/s | WhiteNoise MiB/s "
          "| ratio (req/s) | ratio per repeat |")
    print("|---|---|---|---|---|---|---|")
    for case, _, _ in cases:
        ours_runs, theirs_runs = results[(case, "flashstatic")], results[(case, "WhiteNoise")]
        ours = [statistics.median(v) for v in zip(*ours_runs)]
        theirs = [statistics.median(v) for v in zip(*theirs_runs)]
        # Paired by repeat: both servers ran the case in the same repeat, under the same order.
        paired = " ".join(f"{a[0] / b[0]:.2f}" for a, b in zip(ours_runs, theirs_runs))
        print(f"| {case} | {ours[0]:.0f} | {theirs[0]:.0f} | {ours[1]:.1f} | {theirs[1]:.1f} | "
              f"{ours[0] / theirs[0]:.2f} | {paired} |")


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
        print(f"gunicorn -w 1 -k gthread --threads {args.threads} on core 0; "
              f"wrk -t1 -c{args.connections} -d{args.duration}s on core 1; seed {args.seed}\n")
        for repeat in range(args.repeats):
            run_repeat(repeat, cases, root, args, results)
    print_summary(cases, results)


if __name__ == "__main__":
    main()
