"""ASGI: instructions per request in the server process, one checkout against another.

Throughput on this VM spreads 15-25% between runs of the same server, so a hot path that got a
few percent slower cannot show there. This counts what one request costs instead, as
wsgi_instructions.py does for gunicorn: the server runs under callgrind and one client sends
N keep-alive requests on one connection, one at a time; the process's user-space instructions
for N2 requests minus those for N1, over N2 - N1, are what one request costs, start-up excluded.

Servers and cases (a 1 KiB file, cached after the first request):

- `flashstatic serve DIR --no-access-log` (flashstatic's own protocol class): identical
  requests (answered by its repeats cache), requests that differ from one another (an
  `X-Req: <counter>` header each, as browsers' differing cookies do, so none is a byte-for-byte
  repeat and each one is parsed),
  and a 304 (If-None-Match with the file's ETag, differing requests); differing requests each
  with a Referer of its own and one of three User-Agents in turn, as a server's many clients
  send them; the first two and that one with its access log on (written to /dev/null), where
  no two log lines of the last are alike; and a 1 KiB file of its own for every request, so
  that each is a first request: looked up (by a helper), its entry and headers built, its
  body read and cached;
- stock uvicorn (`--http httptools`, its own protocol) running a plain ASGI app wrapped in
  `FlashStatic(app, directory=DIR, prefix="/static")`: the file with differing requests, and a
  miss that FlashStatic hands to the app (`/dynamic`), and a file of its own for every
  request; and the same app without FlashStatic for `/dynamic`, the floor (it imports no
  flashstatic, so its two columns should agree).

Features' cost when on (`--cases feature`; run against checkouts that have them, and compare
with the serve rows above): `--cors ORIGIN` with requests from that origin (the Origin is then
read into the request fields and the echoed header added to the plan), `--cors '*'` (a header
decided once per file), `--cache-control GLOB=VALUE` (matched once per file), the JSON access
log, and a trusted proxy's X-Forwarded-For (with `--no-proxy-headers` as its baseline).

Each server runs with PYTHONPATH set to a checkout and in that directory, so `python -m`
imports that checkout's flashstatic (checked before anything runs); AMPED helpers are exec'd
processes that callgrind does not follow, and a cached file never reaches them. With
`--helpers` it follows them too, and each case has a row more for what its helpers did: a first
request's lookup, open and read.

    python -m benchmarks.asgi_instructions --compare OLD_CHECKOUT NEW_CHECKOUT \
        [--cases serve middleware] [--requests 200 1200]

Needs valgrind (benchmarks/setup.sh installs it). Each case costs two server runs per
checkout (N1 and N2 requests), about 15 s each. Counts drift a little with wall time (uvicorn's
0.1 s tick, FlashStatic's 1 s revalidation); the floor's B/A shows by how much in each run.
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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from .serverproc import checkout_commit, free_port, process_tree, serve_argv, wait_listening

HERE = Path(__file__).resolve().parent.parent
FILE_NAME = "file-1k.txt"
# The distinct cases' files, one per request number: the server's caches have seen none of them.
COLD_PATH = "cold/{:05d}.txt"
APP_MODULE = "asgi_instructions_app"

# The wrapped app: plain ASGI, so the floor is uvicorn plus next to nothing. It is written to a
# directory of its own because the checkouts compared need not have this script's package.
APP_SOURCE = """\
import os

BODY = b'{"dynamic": true}'


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


def wrapped():
    from flashstatic import FlashStatic

    return FlashStatic(app, directory=os.environ["BENCH_ROOT"], prefix="/static")
"""


@dataclass(frozen=True)
class Case:
    name: str
    server: str  # "serve", "middleware" or "floor"
    path: str
    differing: bool  # an X-Req header that changes with every request
    conditional: bool = False  # If-None-Match with the file's ETag: a 304
    access_log: bool = False  # serve's access log on (to /dev/null: the line and its write are paid)
    flags: tuple[str, ...] = ()  # more `flashstatic serve` flags
    headers: tuple[tuple[str, str], ...] = ()  # more request headers
    distinct: bool = False  # ``path`` names a file of its own for each request number
    new_lines: bool = False  # a Referer of its own and one of a few User-Agents: no log line alike


ORIGIN = "https://app.example"
FORWARDED = (("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"))
PROXY = ("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")
CASES = [
    Case("serve: 1 KiB, identical requests", "serve", f"/{FILE_NAME}", differing=False),
    Case("serve: 1 KiB, differing requests", "serve", f"/{FILE_NAME}", differing=True),
    Case("serve: 304, differing requests", "serve", f"/{FILE_NAME}", differing=True, conditional=True),
    Case("serve: a new 1 KiB file each request", "serve", f"/{COLD_PATH}", differing=True, distinct=True),
    Case("serve: 1 KiB, each with a Referer of its own", "serve", f"/{FILE_NAME}", differing=True, new_lines=True),
    Case("serve, access log: 1 KiB, identical requests", "serve", f"/{FILE_NAME}", differing=False, access_log=True),
    Case("serve, access log: 1 KiB, differing requests", "serve", f"/{FILE_NAME}", differing=True, access_log=True),
    Case(
        "serve, access log: 1 KiB, no two lines alike",
        "serve",
        f"/{FILE_NAME}",
        differing=True,
        access_log=True,
        new_lines=True,
    ),
    Case("middleware: 1 KiB, differing requests", "middleware", f"/static/{FILE_NAME}", differing=True),
    Case(
        "middleware: a new 1 KiB file each request", "middleware", f"/static/{COLD_PATH}", differing=True, distinct=True
    ),
    Case("middleware: miss to the app (/dynamic)", "middleware", "/dynamic", differing=True),
    Case("app alone: /dynamic (the floor)", "floor", "/dynamic", differing=True),
]


def _feature(
    label: str,
    *,
    differing: bool = True,
    flags: tuple[str, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    access_log: bool = False,
) -> Case:
    """A `flashstatic serve` case on the 1 KiB file, with a feature's flags."""
    requests = "differing requests" if differing else "identical requests"
    return Case(
        f"feature {label}: 1 KiB, {requests}",
        "serve",
        f"/{FILE_NAME}",
        differing=differing,
        access_log=access_log,
        flags=flags,
        headers=headers,
    )


FROM_ORIGIN = (("Origin", ORIGIN),)
GZIP = (("Accept-Encoding", "gzip"),)
# Only when asked for by name (--cases feature): a checkout without the flags cannot run them.
FEATURE_CASES = [
    Case(
        "feature off (the baseline): 1 KiB, differing requests with an Origin",
        "serve",
        f"/{FILE_NAME}",
        differing=True,
        headers=FROM_ORIGIN,
    ),
    _feature("--cors ORIGIN", differing=False, flags=("--cors", ORIGIN), headers=FROM_ORIGIN),
    _feature("--cors ORIGIN", flags=("--cors", ORIGIN), headers=FROM_ORIGIN),
    _feature("--cors '*'", flags=("--cors", "*"), headers=FROM_ORIGIN),
    _feature("--cache-control", flags=("--cache-control", "/assets/*=no-store", "--cache-control", "*.txt=no-cache")),
    _feature("--access-log-format json", access_log=True, flags=("--access-log-format", "json")),
    # Features that answer requests of their own: what they cost a file's hit when on.
    _feature("--listing", flags=("--listing",)),
    _feature("--health-path", flags=("--health-path", "/_health")),
    _feature("--fallback", flags=("--fallback", FILE_NAME)),
    _feature("off, gzip accepted", headers=GZIP),
    _feature("--compress, gzip accepted (compressed once, then from the cache)", flags=("--compress",), headers=GZIP),
    # Behind a proxy: its baseline carries the same headers, ignored (serve, like uvicorn,
    # trusts 127.0.0.1 unless told not to).
    _feature("off (--no-proxy-headers), proxy headers sent", flags=("--no-proxy-headers",), headers=FORWARDED),
    _feature(
        "off (--no-proxy-headers), proxy headers sent, access log",
        access_log=True,
        flags=("--no-proxy-headers",),
        headers=FORWARDED,
    ),
    _feature("--proxy-headers", flags=PROXY, headers=FORWARDED),
    _feature("--proxy-headers, access log", access_log=True, flags=PROXY, headers=FORWARDED),
]


# -- the client ----------------------------------------------------------------------------------


# The User-Agents of a case whose log lines differ, one after another.
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1",
)


def request_bytes(path: str, headers: dict[str, str], counter: int | None, new_lines: bool = False) -> bytes:
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if counter is not None:
        head += f"X-Req: {counter:08d}\r\n"  # fixed width: every request is the same size
        if new_lines:  # as browsers' requests: every access-log line a new one
            head += f"User-Agent: {AGENTS[counter % len(AGENTS)]}\r\nReferer: https://example.com/a/{counter:08d}\r\n"
    return (head + "\r\n").encode("latin-1")


class Client:
    """One keep-alive connection; each response is read whole before the next request."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.pending = b""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """The status and the head of the answer; its body is counted, not kept."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.pending:
            self.pending += self._receive()
        head, self.pending = self.pending.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        length = int(match.group(1)) if match and status != 304 else 0
        while len(self.pending) < length:
            length -= len(self.pending)
            self.pending = self._receive()
        self.pending = self.pending[length:]
        return status, head

    def _receive(self) -> bytes:
        data = self.sock.recv(1 << 20)
        if not data:
            raise RuntimeError("the server closed the connection")
        return data


def case_headers(port: int, case: Case) -> dict[str, str]:
    """The case's fixed request headers; for a 304 this asks the server for the file's ETag."""
    headers = dict(case.headers)
    if not case.conditional:
        return headers
    with Client(port) as client:
        status, head = client.exchange(request_bytes(case.path, headers, None))
    match = re.search(rb"(?i)\r\netag:\s*([^\r\n]+)", head)
    if status != 200 or not match:
        raise RuntimeError(f"{case.path}: no ETag in {head[:300]!r}")
    return {**headers, "If-None-Match": match.group(1).decode("latin-1")}


def send_requests(port: int, case: Case, headers: dict[str, str], count: int) -> int:
    """``count`` requests of the case on one connection; the status they all got."""
    expected = 304 if case.conditional else 200
    with Client(port) as client:
        for number in range(count):
            path = case.path.format(number) if case.distinct else case.path
            counter = number if case.differing else None
            status, head = client.exchange(request_bytes(path, headers, counter, case.new_lines))
            if status != expected:
                raise RuntimeError(f"{case.name}: expected {expected}, got {head[:300]!r}")
    return expected


# -- the server ----------------------------------------------------------------------------------


def server_env(checkout: Path, root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(checkout), "BENCH_ROOT": str(root), "PYTHONHASHSEED": "0"}


def server_command(case: Case, python: str, root: Path, app_dir: Path, port: int) -> list[str]:
    if case.server == "serve":
        log = "--access-log" if case.access_log else "--no-access-log"
        return serve_argv(root, port, log, *case.flags, python=python)
    app = f"{APP_MODULE}:wrapped" if case.server == "middleware" else f"{APP_MODULE}:app"
    factory = ["--factory"] if case.server == "middleware" else []
    return [
        python,
        "-m",
        "uvicorn",
        "--app-dir",
        str(app_dir),
        *factory,
        app,
        "--port",
        str(port),
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-keep-alive",
        "600",
    ]


def wait_serving(server: subprocess.Popen[bytes], port: int, timeout: float = 300) -> None:
    """Until the server listens; an error at once if it exits first (say, a broken checkout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}) before listening")
        try:
            wait_listening(port, timeout=1)
            return
        except RuntimeError:
            continue
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def server_instructions(
    case: Case, python: str, checkout: Path, root: Path, app_dir: Path, count: int, *, helpers: bool = False
) -> tuple[int, int]:
    """Instructions of the server process (all its threads) that answered ``count`` requests,
    and of its AMPED helpers if ``helpers`` (else 0: they are fork+exec'd and run natively)."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as out:
        port = free_port()
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--trace-children={'yes' if helpers else 'no'}",
            f"--callgrind-out-file={out}/cg.%p",
            *server_command(case, python, root, app_dir, port),
        ]
        log = Path(out, "server.log")
        with log.open("wb") as errors:
            server = subprocess.Popen(
                command, env=server_env(checkout, root), cwd=checkout, stdout=subprocess.DEVNULL, stderr=errors
            )
        try:
            wait_serving(server, port)
            headers = case_headers(port, case)
            status = send_requests(port, case, headers, count)
            if helpers:
                dump_children(server.pid, Path(out))
        except BaseException:
            server.kill()
            server.wait(60)
            sys.stderr.write(log.read_text(errors="replace")[-3000:])
            raise
        server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown; callgrind then writes its dump
        server.wait(300)
        totals: dict[int, int] = {}
        for dump in Path(out).glob("cg.*"):  # cg.PID at exit, cg.PID.N when asked for
            match = re.search(r"^(?:summary|totals):\s*(\d+)", dump.read_text(errors="replace"), re.MULTILINE)
            if match:
                pid = int(dump.name.split(".")[1])
                totals[pid] = totals.get(pid, 0) + int(match.group(1))
        if server.pid not in totals:
            raise RuntimeError(f"{case.name}: callgrind wrote no totals")
        # valgrind runs the server in its own process: every other dump is a helper's.
        own = totals.pop(server.pid)
        others = sum(totals.values())
        note = f"{own:,} instructions" + (f", helpers {others:,}" if helpers else "")
        print(f"  {checkout.name or checkout} | {status} | {count} requests | {note}", flush=True)
        return own, others


def dump_children(parent: int, out: Path, timeout: float = 120) -> None:
    """Have callgrind write what the server's children (its helpers) did so far: the server
    kills them when it stops, and a killed process writes nothing."""
    children = process_tree(parent)[1:]  # itself first
    for pid in children:
        subprocess.run(["callgrind_control", "--dump", str(pid)], capture_output=True, timeout=timeout, check=False)
    deadline = time.monotonic() + timeout
    while any(not list(out.glob(f"cg.{pid}.*")) for pid in children):
        if time.monotonic() > deadline:
            raise RuntimeError(f"callgrind wrote no dump for the helpers {children}")
        time.sleep(0.5)


def per_request(
    case: Case, python: str, checkout: Path, root: Path, app_dir: Path, counts: tuple[int, int], *, helpers: bool
) -> tuple[float, float]:
    """Instructions a request costs the server, and its helpers (0 unless ``helpers``)."""
    low, high = (server_instructions(case, python, checkout, root, app_dir, count, helpers=helpers) for count in counts)
    span = counts[1] - counts[0]
    return (high[0] - low[0]) / span, (high[1] - low[1]) / span


def describe_checkout(python: str, checkout: Path) -> str:
    """The commit of the checkout, once sure its servers import flashstatic from it."""
    imported, commit = checkout_commit(python, checkout)
    return f"{checkout.resolve()}: {commit[:72] or 'not a git checkout'} (imports {imported})"


def checkout_state(checkout: Path) -> str:
    """Its committed flashstatic/ tree and any uncommitted change to it: a checkout others work
    in may move during a run, which would mix two versions in one column."""
    git = ["git", "-C", str(checkout)]
    head = subprocess.run([*git, "rev-parse", "HEAD:flashstatic"], capture_output=True, text=True, check=False).stdout
    changes = subprocess.run(
        [*git, "status", "--porcelain", "--", "flashstatic"], capture_output=True, text=True, check=False
    ).stdout
    return head + changes


def selected_cases(words: list[str] | None) -> list[Case]:
    if not words:
        return CASES
    chosen = [case for case in CASES + FEATURE_CASES if any(word.lower() in case.name.lower() for word in words)]
    if not chosen:
        raise SystemExit(f"no case matches {words}; cases: {[case.name for case in CASES + FEATURE_CASES]}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--compare",
        "--pythonpath",
        nargs="+",
        type=Path,
        default=[HERE],
        metavar="DIR",
        help="checkouts to run the servers from (default: this one); the table compares each with the first",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        default=None,
        metavar="WORD",
        help=f"cases whose names contain one of these words (default: all but the features'); "
        f"all: {[c.name for c in CASES + FEATURE_CASES]}",
    )
    parser.add_argument("--requests", nargs=2, type=int, default=[200, 1200], metavar=("N1", "N2"))
    parser.add_argument("--python", default=sys.executable, help="the interpreter the servers run with")
    parser.add_argument(
        "--helpers",
        action="store_true",
        help="count AMPED helpers too (run under callgrind): a row more per case, for a first request's lookup",
    )
    args = parser.parse_args()
    counts = (args.requests[0], args.requests[1])
    if not 0 < counts[0] < counts[1]:
        parser.error("--requests needs 0 < N1 < N2")
    checkouts = [Path(directory).resolve() for directory in args.compare]
    labels = [chr(ord("A") + index) for index in range(len(checkouts))]
    for label, checkout in zip(labels, checkouts, strict=True):
        print(f"{label}: {describe_checkout(args.python, checkout)}", flush=True)
    states = [checkout_state(checkout) for checkout in checkouts]

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-asgi-instr-") as directory:
        root = Path(directory, "files")
        root.mkdir()
        (root / FILE_NAME).write_bytes(bytes(range(256)) * 4)
        (root / "cold").mkdir()
        for number in range(counts[1]):
            (root / COLD_PATH.format(number)).write_bytes(bytes(range(256)) * 4)
        app_dir = Path(directory, "app")
        app_dir.mkdir()
        (app_dir / f"{APP_MODULE}.py").write_text(APP_SOURCE)
        for case in selected_cases(args.cases):
            print(f"{case.name}:", flush=True)
            measured = [
                per_request(case, args.python, checkout, root, app_dir, counts, helpers=args.helpers)
                for checkout in checkouts
            ]
            rows.append((case.name, [own for own, _ in measured]))
            if args.helpers:
                rows.append((f"{case.name}, its helpers", [others for _, others in measured]))

    for label, checkout, state in zip(labels, checkouts, states, strict=True):
        if checkout_state(checkout) != state:
            print(f"\nWARNING: {label} ({checkout}) changed during the run: its column mixes versions")
        elif state.count("\n") > 1:
            print(f"\nnote: {label} ({checkout}) has uncommitted changes under flashstatic/")
    where = "the server process and, in rows of their own, its helpers" if args.helpers else "the server process"
    print(f"\ninstructions per request in {where} ({counts[1]} - {counts[0]} requests)\n")
    ratios = [f"{label}/A" for label in labels[1:]]
    print("| case | " + " | ".join(labels + ratios) + " |")
    print("|---|" + "---:|" * (len(labels) + len(ratios)))
    for name, costs in rows:
        cells = [f"{cost / 1000:.1f}k" for cost in costs] + [f"{cost / costs[0]:.3f}" for cost in costs[1:]]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
