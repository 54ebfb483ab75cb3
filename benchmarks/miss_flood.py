"""Legitimate requests during a flood of misses: do requests for missing paths starve real files?

`flashstatic serve` (the default configuration, core 0) serves a tree of small real files under
static/js, static/css and static/img. A legitimate client (core 1, a few keep-alive connections,
paced at --rate requests per second) asks only for files it never asked for before, so each one
must be translated. Three phases:

1. baseline: the legitimate client alone for --seconds;
2. flood: an attacker process (core 1) keeps --flood-concurrency requests in flight for distinct
   missing paths (random names in existing and in non-existing directories) while the legitimate
   client goes on with other never-requested files for --seconds. Only misses answered 404 were
   translated and can take pathname cache entries; if the flood got fewer than the cache holds
   (--pathname-cache-size), a top-up of misses at --topup-concurrency in flight follows, with
   no legitimate traffic, until it did (at most --topup-seconds);
3. eviction: with the flood over, the legitimate client requests the phase-1 files again. Had the
   misses not pushed them out of the pathname cache, every one would be a cache hit.

The server runs with --metrics-path /_m, and its pathname-cache and helper-queue counters are read
before and after each phase. --compare DIR_A DIR_B runs the whole thing against two checkouts
(server started with PYTHONPATH=DIR) one after the other and prints them side by side.

    python -m benchmarks.miss_flood [--seconds 15] [--compare OLD_CHECKOUT NEW_CHECKOUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from .rawclient import Connection, Cut, percentile, raise_fd_limit, use_uvloop
from .serverproc import Server, checkout_commit, free_port, serve_argv, wait_listening

HERE = Path(__file__).resolve().parent.parent
DIRECTORIES = ("static/js", "static/css", "static/img")
EXTENSIONS = {"static/js": "js", "static/css": "css", "static/img": "svg"}
METRICS_PATH = "/_m"
IDLE_REUSE_SECONDS = 2.0
PINNED = shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


# -- the tree ------------------------------------------------------------------------------------


def make_tree(root: Path, count: int, seed: int) -> list[str]:
    """count small files spread over the directories, plus one warm-up file; their URL paths."""
    rng = random.Random(seed)
    for directory in DIRECTORIES:
        (root / directory).mkdir(parents=True)
    (root / "warmup.txt").write_text("warm\n")
    paths = []
    for i in range(count):
        directory = DIRECTORIES[i % len(DIRECTORIES)]
        name = f"{directory}/f{i:06d}.{EXTENSIONS[directory]}"
        (root / name).write_bytes(rng.randbytes(rng.randrange(200, 4000)))
        paths.append("/" + name)
    rng.shuffle(paths)
    return paths


# -- the server ----------------------------------------------------------------------------------


@dataclass
class FlashServer(Server):
    """Server pinned to core 0 where taskset exists, unpinned where it does not, started in the
    checkout it runs from (python -m puts the working directory first on the path)."""

    cwd: Path = HERE

    def __enter__(self) -> FlashServer:
        prefix = ["taskset", "-c", self.cpus] if PINNED else []
        self.process = subprocess.Popen(
            [*prefix, *self.command], cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_listening(self.port)
        return self


def describe_checkout(python: str, pythonpath: Path) -> dict[str, str]:
    """Which flashstatic the server will import, and the commit of its checkout, if any."""
    imported, commit = checkout_commit(python, pythonpath)
    return {"pythonpath": str(pythonpath.resolve()), "imports": imported, "commit": commit[:72]}


def start_server(root: Path, python: str, pythonpath: Path) -> FlashServer:
    port = free_port()
    flags = ("--no-access-log", "--metrics-path", METRICS_PATH)
    command = ["env", f"PYTHONPATH={pythonpath}", *serve_argv(root, port, *flags, python=python)]
    return FlashServer("flashstatic serve", command, port, cwd=pythonpath)


async def read_metrics(port: int) -> dict[str, float]:
    """The metrics endpoint as {sample with labels: value}; empty if the server has none."""
    try:
        conn = await Connection.open(port)
        try:
            response = await asyncio.wait_for(conn.get(METRICS_PATH), 10)
        finally:
            conn.close()
    except (OSError, Cut, asyncio.TimeoutError):
        return {}
    if response.status != 200:
        return {}
    samples = {}
    for line in response.body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


COUNTERS = {
    "pathname hits": 'flashstatic_cache_hits_total{cache="pathname"}',
    "pathname misses": 'flashstatic_cache_misses_total{cache="pathname"}',
    "pathname evictions": 'flashstatic_cache_evictions_total{cache="pathname"}',
    "helper jobs dispatched": "flashstatic_helper_jobs_dispatched_total",
    "helper jobs rejected": "flashstatic_helper_jobs_rejected_total",
    "loop stalls": "flashstatic_loop_stalls_total",
}
GAUGES = {
    "pathname entries": "flashstatic_pathname_cache_entries",
    "helper queue peak": "flashstatic_helper_queue_peak",
}


def metric_changes(before: dict[str, float], after: dict[str, float]) -> dict[str, float | None]:
    """Counters as their change over the phase, gauges as their value at its end."""
    changes: dict[str, float | None] = {}
    for label, sample in COUNTERS.items():
        changes[label] = after[sample] - before.get(sample, 0) if sample in after else None
    for label, sample in GAUGES.items():
        changes[label] = after.get(sample)
    return changes


async def wait_queue_drained(port: int, timeout: float = 10) -> None:
    """Until no helper job waits: the flood's leftovers must not count against phase 3."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await read_metrics(port)).get("flashstatic_helper_queue_depth", 0) == 0:
            return
        await asyncio.sleep(0.2)


# -- the legitimate client -----------------------------------------------------------------------


@dataclass
class PhaseTally:
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        total = sum(self.statuses.values())
        return {
            "requests": total,
            "statuses": dict(self.statuses),
            "success %": 100 * self.statuses["200"] / total if total else float("nan"),
            "p50 ms": percentile(self.latencies, 50) * 1000,
            "p99 ms": percentile(self.latencies, 99) * 1000,
            "max ms": max(self.latencies, default=float("nan")) * 1000,
        }


class LegitClient:
    """Requests sent on a fixed schedule (open loop), each on an idle keep-alive connection, or
    on a new one when all are busy, as a browser would.

    Latency counts from each request's scheduled time; a timeout (connecting included) or a cut
    connection is a failure, counted at the time it was noticed.
    """

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.idle: list[tuple[Connection, float]] = []  # with the time each became idle
        self.opened = 0

    def idle_connection(self) -> Connection | None:
        """The most recently used idle connection; ones idle too long are closed instead, since
        the server may be closing them right now (uvicorn's keep-alive timeout is 5 s)."""
        while self.idle:
            conn, since = self.idle.pop()
            if time.monotonic() - since < IDLE_REUSE_SECONDS:
                return conn
            conn.close()
        return None

    async def exchange(self, path: str, stage: list[str]) -> str:
        conn = self.idle_connection()
        if conn is None:
            stage[0] = "connecting"
            conn = await Connection.open(self.port)
            self.opened += 1
        stage[0] = "waiting"
        try:
            response = await conn.get(path)
        except BaseException:
            conn.close()  # cut, or abandoned at the timeout: never reused
            raise
        if response.headers.get(b"connection", b"").lower() == b"close":
            conn.close()
        else:
            self.idle.append((conn, time.monotonic()))
        return str(response.status)

    async def fetch(self, path: str, tally: PhaseTally, scheduled: float) -> None:
        stage = ["connecting"]
        try:
            outcome = await asyncio.wait_for(self.exchange(path, stage), self.timeout)
        except asyncio.TimeoutError:
            outcome = f"timeout {stage[0]}"
        except (Cut, OSError):
            outcome = f"error {stage[0]}"
        tally.statuses[outcome] += 1
        tally.latencies.append(time.monotonic() - scheduled)

    async def run(self, paths: list[str], rate: float) -> dict[str, Any]:
        tally = PhaseTally()
        opened = self.opened
        start = time.monotonic() + 0.05
        requests = []
        for index, path in enumerate(paths):
            scheduled = start + index / rate
            await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
            requests.append(asyncio.ensure_future(self.fetch(path, tally, scheduled)))
        await asyncio.gather(*requests)
        result = tally.summary()
        result["seconds"] = time.monotonic() - start
        result["connections opened"] = self.opened - opened
        return result

    def close(self) -> None:
        while self.idle:
            self.idle.pop()[0].close()


# -- the attacker (its own process) -----------------------------------------------------------------


def miss_path(rng: random.Random, serial: int) -> str:
    """A path nothing answers: a fresh name in an existing directory, or in a made-up one."""
    name = f"{serial:x}{rng.getrandbits(40):010x}"
    kind = serial % 4
    if kind < 2:
        directory = DIRECTORIES[serial % len(DIRECTORIES)]
        return f"/{directory}/{name}.{EXTENSIONS[directory]}"
    if kind == 2:
        return f"/static/{name}/app.js"
    return f"/{name}/{name}.css"


async def flood(
    port: int,
    concurrency: int,
    max_requests: int,
    timeout: float,
    stop: Any,
    not_found: Synchronized[int],
    connected: Synchronized[int],
    seed: int,
) -> dict[str, Any]:
    rng = random.Random(seed)
    statuses: Counter[str] = Counter()
    sent = 0
    stopping = False
    opening = asyncio.Semaphore(200)

    async def attacker() -> None:
        nonlocal sent
        conn: Connection | None = None
        while not stopping and sent < max_requests:
            try:
                if conn is None:
                    async with opening:
                        conn = await Connection.open(port)
                    with connected.get_lock():
                        connected.value += 1
                sent += 1
                response = await asyncio.wait_for(conn.get(miss_path(rng, sent)), timeout)
                statuses[str(response.status)] += 1
                if response.headers.get(b"connection", b"").lower() == b"close":
                    conn.close()
                    conn = None
            except asyncio.TimeoutError:
                statuses["timeout"] += 1
            except (Cut, OSError):
                statuses["error"] += 1
            else:
                continue
            if conn is not None:
                conn.close()
                conn = None
            await asyncio.sleep(0.01)  # a refused connect must not spin
        if conn is not None:
            conn.close()

    started = time.monotonic()
    tasks = [asyncio.ensure_future(attacker()) for _ in range(concurrency)]
    while not all(task.done() for task in tasks):
        not_found.value = statuses["404"]
        if stop.is_set():
            stopping = True
            # Requests still in flight are abandoned: the flood ends now, not in `timeout`.
            await asyncio.wait(tasks, timeout=0.5)
            break
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    seconds = time.monotonic() - started
    total = sum(statuses.values())
    return {
        "concurrency": concurrency,
        "sent": sent,
        "answered": total,
        "statuses": dict(statuses),
        "seconds": seconds,
        "req/s": total / seconds,
    }


def attacker_process(
    port: int,
    concurrency: int,
    max_requests: int,
    timeout: float,
    stop: Any,
    not_found: Synchronized[int],
    connected: Synchronized[int],
    seed: int,
    results: Any,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us (stop event, then kill)
    use_uvloop()
    results.put(asyncio.run(flood(port, concurrency, max_requests, timeout, stop, not_found, connected, seed)))


class Flood:
    """The attacker process: started, waited on and always reaped."""

    def __init__(self, port: int, concurrency: int, seed: int, args: argparse.Namespace) -> None:
        self.concurrency = concurrency
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.not_found: Synchronized[int] = context.Value("q", 0)  # type: ignore[assignment]
        self.connected: Synchronized[int] = context.Value("q", 0)  # type: ignore[assignment]
        self.results = context.Queue()
        self.process = context.Process(
            target=attacker_process,
            daemon=True,
            args=(
                port,
                concurrency,
                args.flood_requests,
                args.flood_timeout,
                self.stop,
                self.not_found,
                self.connected,
                seed,
                self.results,
            ),
        )

    def __enter__(self) -> Flood:
        self.process.start()
        return self

    async def ramped(self, timeout: float = 10) -> None:
        """Until every attacker connection is open (or timeout): the flood is at full strength."""
        deadline = time.monotonic() + timeout
        # The counters live in another process: no asyncio.Event can be set from there, so poll.
        while self.connected.value < self.concurrency and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def answered_404(self, count: int, deadline: float) -> None:
        """Until more than count misses were answered 404 (or the deadline, or the flood ended)."""
        while self.not_found.value <= count and time.monotonic() < deadline and self.process.is_alive():  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    async def finish(self) -> dict[str, Any]:
        self.stop.set()
        for _ in range(300):
            if not self.results.empty():
                return self.results.get()  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)
        return {"error": "the attacker did not report"}

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# -- one run against one checkout ------------------------------------------------------------------


async def phase(
    client: LegitClient, paths: list[str], args: argparse.Namespace, before: dict[str, float]
) -> dict[str, Any]:
    result = await client.run(paths, args.rate)
    result["server"] = metric_changes(before, await read_metrics(client.port))
    return result


async def fresh_connections(client: LegitClient, count: int) -> None:
    """Idle connections the server may have closed meanwhile are replaced by count new ones
    (a cached file each), so that no phase starts with a stale connection."""
    client.close()
    await client.run(["/warmup.txt"] * count, rate=1e6)


async def measure(server: Server, files: list[str], args: argparse.Namespace) -> dict[str, Any]:
    port = server.port
    per_phase = int(args.rate * args.seconds)
    baseline_files, flood_files = files[:per_phase], files[per_phase : 2 * per_phase]
    client = LegitClient(port, args.timeout)
    phases: dict[str, dict[str, Any]] = {}
    try:
        await fresh_connections(client, args.connections)  # the helpers are up, too
        phases["1 baseline"] = await phase(client, baseline_files, args, await read_metrics(port))

        await fresh_connections(client, args.connections)
        before = await read_metrics(port)
        with Flood(port, args.flood_concurrency, args.seed, args) as attack:
            await attack.ramped()
            phases["2 flood"] = await client.run(flood_files, args.rate)
            flood = await attack.finish()
        # Only a miss answered 404 was translated and can take a pathname cache entry. A flood
        # that got mostly 503s answered too few to fill the cache, so more follow, at a
        # concurrency the helper queue holds, until the cache has seen more than its size.
        not_found = flood.get("statuses", {}).get("404", 0)
        if not_found <= args.pathname_cache_size:
            with Flood(port, args.topup_concurrency, args.seed + 1, args) as attack:
                await attack.answered_404(args.pathname_cache_size - not_found, time.monotonic() + args.topup_seconds)
                flood["top-up"] = await attack.finish()
        phases["2 flood"]["attacker"] = flood
        await wait_queue_drained(port)
        phases["2 flood"]["server"] = metric_changes(before, await read_metrics(port))

        await fresh_connections(client, args.connections)
        phases["3 after flood"] = await phase(client, baseline_files, args, await read_metrics(port))
    finally:
        client.close()
    return phases


def run_one(root: Path, files: list[str], python: str, pythonpath: Path, args: argparse.Namespace) -> dict[str, Any]:
    checkout = describe_checkout(python, pythonpath)
    print(f"-- {checkout['pythonpath']} ({checkout['commit'] or 'not a git checkout'})", flush=True)
    with start_server(root, python, pythonpath) as server:
        phases = asyncio.run(measure(server, files, args))
    for name, phase in phases.items():
        print(
            f"   {name}: {phase['requests']} requests, {phase['success %']:.1f} % 200, "
            f"p50 {phase['p50 ms']:.1f} ms, p99 {phase['p99 ms']:.1f} ms",
            flush=True,
        )
    return {"checkout": checkout, "phases": phases}


# -- the table -----------------------------------------------------------------------------------


def rows(run: dict[str, Any]) -> list[tuple[str, float | None]]:
    """(label, value) for every line of the table, in order."""
    lines: list[tuple[str, float | None]] = []
    for name, phase in run["phases"].items():
        server, statuses = phase["server"], phase["statuses"]
        lines += [
            (f"{name}: legitimate 200 %", phase["success %"]),
            (f"{name}: legitimate p50 ms", phase["p50 ms"]),
            (f"{name}: legitimate p99 ms", phase["p99 ms"]),
            (f"{name}: legitimate 503", statuses.get("503", 0)),
            (
                f"{name}: legitimate timeouts/errors",
                sum(count for outcome, count in statuses.items() if outcome.startswith(("timeout", "error"))),
            ),
        ]
        attacker = phase.get("attacker")
        if attacker and "statuses" in attacker:
            flood = attacker["statuses"]
            other = sum(count for status, count in flood.items() if status not in ("404", "503"))
            lines += [
                (f"{name}: attacker 404", flood.get("404", 0)),
                (f"{name}: attacker 503", flood.get("503", 0)),
                (f"{name}: attacker other/timeouts/errors", other),
                (f"{name}: attacker answers/s", attacker["req/s"]),
                (f"{name}: attacker seconds", attacker["seconds"]),
            ]
            topup = attacker.get("top-up", {})
            lines += [
                (
                    f"{name}: top-up 404 ({topup.get('concurrency', 0)} in flight)",
                    topup.get("statuses", {}).get("404", 0),
                ),
                (f"{name}: top-up seconds", topup.get("seconds", 0)),
                (f"{name}: pathname cache evictions", server["pathname evictions"]),
            ]
        if name.startswith("3"):
            hits, misses = server["pathname hits"], server["pathname misses"]
            counted = hits is not None and misses is not None and hits + misses > 0
            lines.append((f"{name}: pathname cache hit %", 100 * hits / (hits + misses) if counted else None))
        lines += [
            (f"{name}: helper jobs rejected", server["helper jobs rejected"]),
            (f"{name}: loop stalls > 0.1 s", server["loop stalls"]),
        ]
    return lines


def fmt(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.1f}"


def table(runs: list[dict[str, Any]]) -> str:
    labels = [
        f"{Path(run['checkout']['pythonpath']).name} {run['checkout']['commit'].split(' ')[0]}".strip() for run in runs
    ]
    header = "| | " + " | ".join(labels) + (" | B/A |" if len(runs) == 2 else " |")
    out = [header, "|---" * (len(runs) + 1 + (len(runs) == 2)) + "|"]
    columns = [rows(run) for run in runs]
    for index, (label, _) in enumerate(columns[0]):
        values = [column[index][1] for column in columns]
        line = f"| {label} | " + " | ".join(fmt(value) for value in values) + " |"
        if len(runs) == 2:
            a, b = values
            line += f" {b / a:.2f} |" if a and b is not None and a == a and b == b else " - |"
        out.append(line)
    return "\n".join(out)


# -- main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="legitimate traffic per phase (default 15)")
    parser.add_argument("--rate", type=float, default=100, help="legitimate requests per second (default 100)")
    parser.add_argument(
        "--connections",
        type=int,
        default=8,
        help="legitimate keep-alive connections opened first; more when all are busy (default 8)",
    )
    parser.add_argument("--timeout", type=float, default=5, help="a legitimate request failing after (s)")
    parser.add_argument("--flood-concurrency", type=int, default=1500, help="miss requests in flight (default 1500)")
    parser.add_argument("--flood-requests", type=int, default=500_000, help="at most this many miss requests")
    parser.add_argument("--flood-timeout", type=float, default=10, help="a miss request failing after (s)")
    parser.add_argument(
        "--topup-concurrency",
        type=int,
        default=64,
        help="misses in flight after the flood, until the 404s exceed the pathname cache (default 64)",
    )
    parser.add_argument("--topup-seconds", type=float, default=30, help="at most this long (default 30)")
    parser.add_argument(
        "--pathname-cache-size",
        type=int,
        default=10_000,
        help="the server's pathname cache size: phase 2 sends more misses than this",
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter for the server")
    parser.add_argument(
        "--pythonpath", type=Path, default=HERE, help="checkout the server imports flashstatic from (default: this one)"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("DIR_A", "DIR_B"),
        help="run against two checkouts, one after the other, and print ratios B/A",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if min(args.seconds, args.rate, args.connections, args.flood_concurrency, args.topup_concurrency) <= 0:
        parser.error("--seconds, --rate, --connections and the concurrencies must be positive")
    for directory in args.compare or [args.pythonpath]:
        if not (directory / "flashstatic" / "__init__.py").is_file():
            parser.error(f"{directory} is not a flashstatic checkout (no flashstatic/__init__.py)")
    return args


def raise_on_sigterm() -> None:
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def main() -> None:
    args = parse_args()
    raise_fd_limit()
    raise_on_sigterm()
    use_uvloop()
    if PINNED:
        os.sched_setaffinity(0, {1})  # the server has core 0; the attacker process inherits core 1
    checkouts = args.compare or [args.pythonpath]
    per_phase = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="miss-flood-") as directory:
        root = Path(directory)
        files = make_tree(root, max(2000, 2 * per_phase), args.seed)
        print(
            f"{len(files)} files; {per_phase} legitimate requests per phase at {args.rate:g}/s on "
            f"{args.connections} connections; flood of {args.flood_concurrency} in flight; "
            f"{'server on core 0, clients on core 1' if PINNED else 'unpinned'}",
            flush=True,
        )
        runs = [run_one(root, files, args.python, checkout, args) for checkout in checkouts]
    result = {
        "settings": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "files": len(files),
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "miss_flood.json").write_text(json.dumps(result, indent=1, default=str))
    print()
    print(table(runs))
    print(f"\n(results in {args.out / 'miss_flood.json'})")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: the servers and the attacker were stopped")
