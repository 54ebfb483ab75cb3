"""Disk-bound static serving: AMPED vs SPED vs MT vs Starlette's StaticFiles vs nginx, over a slow disk.

For each architecture: mount slowfs (a FUSE passthrough that sleeps before each read) over a
SPECweb99-like file set, and for each workload start a fresh server on it (uvicorn with
httptools and uvloop, one process; or nginx, one worker, with blocking sendfile or with
``aio threads``), then measure with wrk (static load, persistent connections) while a probe
requests /dynamic at a fixed rate. The probe's latency says whether static traffic stalls the
event loop. See benchmarks/README.md for the model and every number's meaning.

    python -m benchmarks.disk_bound --quick
    python -m benchmarks.disk_bound --archs amped,nginx,nginx-aio --duration 15 --connections 32
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import pagecache, serverproc
from .fileset import FileSet, RequestSequence, mean_request_bytes, request_sequence, specweb_dirs, write_paths
from .slowfs import SlowFS, is_fuse_mounted

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LUA = os.path.join(HERE, "paths.lua")
DEFAULT_ARCHS = "amped,sped,mt,starlette"
PROTOCOL_ARCHS = {"amped-protocol": "amped"}
"""Archs run under flashstatic's own protocol class instead of uvicorn's httptools one, and the
FlashStatic architecture each stands for."""
MiB = 1024 * 1024


class Stop(BaseException):
    """SIGTERM, turned into an exception so that every cleanup block runs (and no
    ``except Exception`` swallows it)."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- processes we start ---------------------------------------------------------------------------


def _group_members(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        rest = serverproc.stat_fields(int(entry))
        if rest is not None and len(rest) > 2 and rest[0] != "Z" and int(rest[2]) == pgid:
            pids.append(int(entry))
    return pids


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot (/proc/stat); idle and iowait are not busy.
    The fields after steal (guest time) are already counted in user and nice."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


@dataclass
class CpuSnapshot:
    """CPU time so far of the server's process group (the server and its helpers, or nginx's
    master and workers), of the slowfs daemon, and of the whole machine."""

    server: dict[int, float]
    slowfs: float
    machine: tuple[int, int]
    at: float

    @classmethod
    def take(cls, server_group: int, slowfs_pid: int) -> CpuSnapshot:
        members = _group_members(server_group)
        server = {pid: cpu for pid in members if (cpu := serverproc.process_cpu_seconds(pid)) is not None}
        return cls(server, serverproc.process_cpu_seconds(slowfs_pid) or 0.0, _machine_jiffies(), time.monotonic())


def cpu_between(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Percent of one core each used between two snapshots (200: both cores of two), the
    same for the server group's busiest process (near 100, one process holds the server back,
    whatever the others do), and the percent of the machine's CPU time that was busy. A process
    of the server's group that started in between counts whole; one that ended in between is
    left out."""
    seconds = after.at - before.at
    used = [cpu - before.server.get(pid, 0.0) for pid, cpu in after.server.items()]
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    return {
        "server_percent": round(100 * sum(used) / seconds, 1),
        "busiest_percent": round(100 * max(used, default=0.0) / seconds, 1),
        "slowfs_percent": round(100 * (after.slowfs - before.slowfs) / seconds, 1),
        "machine_busy_percent": round(100 * busy / total, 1) if total else 0.0,
    }


def stop_group(proc: subprocess.Popen[Any], *, term_wait: float = 10.0) -> None:
    """Stop a process we started in its own session, and whatever it started (helper processes)."""
    pgid = proc.pid
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=term_wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
    # Children left in the group (helpers of a killed server): TERM, then KILL, bounded.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_members(pgid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + 3
        while _group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)


class ServerFailed(Exception):
    def __init__(self, reason: str, log_tail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_tail = log_tail


@dataclass
class Server:
    arch: str
    directory: str
    logdir: str
    options: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log_path: str = ""

    def start(self, timeout: float = 30.0) -> None:
        self.log_path = os.path.join(self.logdir, f"server-{self.arch}-{time.monotonic_ns()}.log")
        env = dict(
            os.environ,
            BENCH_ARCH=PROTOCOL_ARCHS.get(self.arch, self.arch),
            BENCH_DIR=self.directory,
            BENCH_OPTIONS=json.dumps(self.options),
            PYTHONUNBUFFERED="1",
        )
        env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.bench_app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--http",
            "flashstatic.server:HttpToolsProtocol" if self.arch in PROTOCOL_ARCHS else "httptools",
            "--loop",
            "uvloop",
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "info",
            "--timeout-keep-alive",
            "60",
        ]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pattern = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")

        def listening() -> bool:
            m = pattern.search(self.log())
            if m:
                self.port = int(m.group(1))
            return m is not None

        self.wait_started(listening, self.log, "server", timeout)

    def wait_started(self, ready: Callable[[], bool], output: Callable[[], str], name: str, timeout: float) -> None:
        """Until ``ready()``; if the process exits first or the time is up, stop it and raise
        ServerFailed with the end of ``output()``."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if self.proc.poll() is not None:
                tail = output()[-3000:]
                self.stop()
                raise ServerFailed(_error_line(tail) or f"{name} exited with {self.proc.returncode}", tail)
            time.sleep(0.05)
        tail = self.log()[-3000:]
        self.stop()
        raise ServerFailed(f"{name} did not start within {timeout}s", tail)

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)


NGINX_ARCHS = ("nginx", "nginx-aio")


def nginx_locations(directory: str) -> str:
    """What nginx serves beside its root, matching bench_app's routes: the files under /static,
    and /dynamic answered from the worker's event loop with a small JSON body like the app's."""
    return f"""
        location /static/ {{ alias {directory.rstrip("/")}/; }}
        location = /dynamic {{
            default_type application/json;
            return 200 '{{"n":$connection_requests,"t":$msec}}';
        }}
"""


@dataclass
class NginxServer(Server):
    """nginx on the same mount, started and stopped like the uvicorn servers: its own session,
    the machine's default CPU placement (uvicorn is not pinned here either), one worker.
    ``nginx`` reads with sendfile on its event loop; ``nginx-aio`` adds ``aio threads``."""

    conf_dir: str = ""

    def start(self, timeout: float = 30.0) -> None:
        spec = serverproc.nginx(
            Path(self.directory), aio_threads=self.arch == "nginx-aio", locations=nginx_locations(self.directory)
        )
        self.conf_dir = str(spec.cleanup[0])
        self.port = spec.port
        self.log_path = os.path.join(self.conf_dir, "error.log")
        out_path = os.path.join(self.logdir, f"server-{self.arch}-{time.monotonic_ns()}.log")
        with open(out_path, "wb") as out:
            self.proc = subprocess.Popen(
                spec.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def listening() -> bool:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            return False

        def output() -> str:
            # Configuration errors go to stderr before the error log is opened.
            with open(out_path, errors="replace") as f:
                return f.read() + self.log()

        self.wait_started(listening, output, "nginx", timeout)

    def stop(self) -> None:
        super().stop()
        if self.conf_dir:
            shutil.rmtree(self.conf_dir, ignore_errors=True)


def make_server(arch: str, directory: str, logdir: str, options: dict[str, Any]) -> Server:
    if arch in NGINX_ARCHS:
        return NginxServer(arch, directory, logdir)
    return Server(arch, directory, logdir, options)


def _error_line(text: str) -> str:
    """The exception line of a traceback in a log, e.g. 'ValueError: architecture must be ...'."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*", line):
            return line[:300]
    return lines[-1][:300] if lines else ""


# -- load generators ------------------------------------------------------------------------------


def start_wrk(
    port: int, paths_file: str, *, threads: int, connections: int, duration: float, timeout_s: float = 10.0
) -> subprocess.Popen[str]:
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(max(connections, threads)),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        f"{int(timeout_s)}s",
        "-s",
        LUA,
        f"http://127.0.0.1:{port}",
        "--",
        paths_file,
        str(threads),
    ]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def finish_wrk(proc: subprocess.Popen[str], duration: float) -> dict[str, Any]:
    try:
        out, _ = proc.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        stop_group(proc, term_wait=2)
        out, _ = proc.communicate()
        raise RuntimeError("wrk did not finish in time") from None
    m = re.search(r"^WRK_JSON (\{.*\})$", out, re.MULTILINE)
    if not m:
        raise RuntimeError(f"wrk printed no summary (exit {proc.returncode}):\n{out[-2000:]}")
    data: dict[str, Any] = json.loads(m.group(1))
    secs = data["duration_us"] / 1e6
    data["rps"] = data["requests"] / secs if secs else 0.0
    data["mib_s"] = data["bytes"] / MiB / secs if secs else 0.0
    data["errors"] = sum(
        data[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout")
    )
    return data


def start_probe(port: int, *, rate: float, duration: float) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.probe",
        "--port",
        str(port),
        "--rate",
        str(rate),
        "--duration",
        str(duration),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def finish_probe(proc: subprocess.Popen[str], duration: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        stop_group(proc, term_wait=2)
        raise RuntimeError("probe did not finish in time") from None
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed ({proc.returncode}): {err[-2000:]}")
    return json.loads(out)


class Evictor:
    """--evict-every: drop the whole file set from the page cache every K seconds, in a thread."""

    def __init__(self, paths: list[str], every: float, duration: float) -> None:
        self.paths, self.every, self.duration = paths, every, duration
        self.stop_event = threading.Event()
        self.rounds = 0
        self.thread = threading.Thread(target=self._run, name="evictor", daemon=True)

    def _run(self) -> None:
        end = time.monotonic() + self.duration
        for _ in range(int(self.duration / self.every) + 1):  # bounded in count and in time
            if self.stop_event.wait(self.every) or time.monotonic() >= end:
                return
            pagecache.evict(self.paths)
            self.rounds += 1

    def __enter__(self) -> Evictor:
        if self.every > 0:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)


# -- one measured run -----------------------------------------------------------------------------


@dataclass
class Workload:
    name: str  # "cached", "disk-bound", "sweep-<dirs>"
    dirs: int
    miss_ratio: float = 0.0
    memory_bytes: int | None = None  # LRU emulation (sweep)


def sample(items: list[str], k: int) -> list[str]:
    if len(items) <= k:
        return items
    step = len(items) / k
    return [items[int(i * step)] for i in range(k)]


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.backing = os.path.join(args.workdir, "files")
        os.makedirs(self.backing, exist_ok=True)
        self.rundir = tempfile.mkdtemp(prefix="run-", dir=args.workdir)
        self.mountpoint = os.path.join(self.rundir, "mnt")
        self.rate_cap: dict[str, float] = {}
        self.fs: SlowFS | None = None

    # sequences -------------------------------------------------------------------------------
    def sequence(self, wl: Workload, n: int) -> tuple[RequestSequence, str]:
        fset = FileSet(self.backing, wl.dirs, self.args.seed)
        # The warm-up draws from its own stream, so it does not replay the measured requests.
        seed = self.args.seed + 7919 if wl.name == "warmup" else self.args.seed
        seq = request_sequence(fset, n, seed=seed, miss_ratio=wl.miss_ratio, memory_bytes=wl.memory_bytes)
        if seq.cold_counts:
            written = fset.build_cold(seq.cold_counts)
            if written:
                log(f"  wrote {written} cold copies")
        name = f"paths-{wl.name}-{n}.txt"
        path = os.path.join(self.rundir, name)
        write_paths(seq.paths, path)
        return seq, path

    def requests_needed(self, arch: str, duration: float) -> int:
        # Enough that the sequence doesn't wrap: 1.2x the cached rate (the fastest this server
        # goes), or a generous guess before that is known. Sequences are prefix-stable, so a
        # longer one for another architecture starts with the same requests.
        rate = self.rate_cap.get(arch, self.args.rate_guess)
        return int(max(2000, 1.2 * rate * duration + 1000))

    # one run ---------------------------------------------------------------------------------
    def measure(self, arch: str, wl: Workload, first: bool) -> dict[str, Any]:
        a = self.args
        assert self.fs is not None
        mnt = self.mountpoint
        result: dict[str, Any] = {"workload": wl.name, "dirs": wl.dirs, "data_set_mib": wl.dirs * 5119488 / MiB}
        server = make_server(arch, mnt, self.rundir, a.options)
        server.start()
        try:
            status, body = server.get("/dynamic")
            if status != 200:
                raise ServerFailed(f"/dynamic answered {status}", body[:300].decode(errors="replace"))
            probe_file = FileSet(self.backing, 1, a.seed).relpath(0, 1, 4)
            status, body = server.get(f"/static/{probe_file}")
            if status != 200 or len(body) != os.path.getsize(os.path.join(self.backing, probe_file)):
                raise ServerFailed(
                    f"/static/{probe_file} answered {status} with {len(body)} bytes", server.log()[-2000:]
                )
            if first:
                log(f"  idle /dynamic probe, {a.idle_duration:g}s at {a.rate:g}/s")
                result["idle"] = _strip(
                    finish_probe(start_probe(server.port, rate=a.rate, duration=a.idle_duration), a.idle_duration)
                )

            # The sequence and its files.
            hot_seq, hot_file = self.sequence(Workload("warmup", wl.dirs), self.requests_needed(arch, a.warmup))
            seq, seq_file = self.sequence(wl, self.requests_needed(arch, a.duration))
            hit_mnt = [os.path.join(mnt, p) for p in sorted(seq.hit_files | hot_seq.hit_files)]
            cold_rel = seq.cold_files()
            cold_mnt = [os.path.join(mnt, p) for p in cold_rel]
            cold_back = [os.path.join(self.backing, p) for p in cold_rel]
            t0 = time.monotonic()
            pagecache.warm(hit_mnt, threads=a.fuse_threads)
            result["warm_s"] = round(time.monotonic() - t0, 3)

            # Warm-up load (hot files only): fills the server's own caches.
            if a.warmup > 0:
                wu = finish_wrk(
                    start_wrk(server.port, hot_file, threads=a.threads, connections=a.connections, duration=a.warmup),
                    a.warmup,
                )
                result["warmup_rps"] = round(wu["rps"], 1)

            # Make the misses misses: evict the cold copies (under the mount and in the backing dir).
            if cold_rel:
                pagecache.evict(cold_mnt)
                pagecache.evict(cold_back)
            everything = hit_mnt + cold_mnt
            result["resident_before"] = {
                "hit_files": round(pagecache.residency(sample(hit_mnt, 400)), 4),
                "cold_files": round(pagecache.residency(sample(cold_mnt, 400)), 4) if cold_mnt else None,
            }
            result["sequence"] = {
                "requests": len(seq.paths),
                "misses": seq.misses,
                "miss_ratio": round(seq.miss_ratio, 5),
                "hit_files": len(seq.hit_files),
                "cold_files": len(cold_rel),
            }

            before = self.fs.stats()
            started = time.time()
            probe = start_probe(server.port, rate=a.rate, duration=a.duration)
            wrk = start_wrk(server.port, seq_file, threads=a.threads, connections=a.connections, duration=a.duration)
            cpu_before, cpu_after = self._cpu_snapshot(server), None
            try:
                evict_every = a.evict_every if wl.name != "cached" else 0.0
                with Evictor(
                    everything + [os.path.join(self.backing, p) for p in cold_rel], evict_every, a.duration
                ) as evictor:
                    w = finish_wrk(wrk, a.duration)
                    cpu_after = self._cpu_snapshot(server)
                p = finish_probe(probe, a.duration)
            finally:
                for proc in (wrk, probe):
                    if proc.poll() is None:
                        stop_group(proc, term_wait=2)
            after = self.fs.stats()
            result["evictions"] = evictor.rounds
            result["static"] = {
                k: w[k]
                for k in (
                    "rps",
                    "mib_s",
                    "requests",
                    "bytes",
                    "errors",
                    "errors_status",
                    "errors_timeout",
                    "latency_p50_us",
                    "latency_p99_us",
                    "latency_max_us",
                    "issued",
                    "wraps",
                )
            }
            if cpu_before is not None and cpu_after is not None:
                result["cpu"] = cpu_between(cpu_before, cpu_after)
            result["dynamic"] = _strip(p)
            result["dynamic_samples"] = p.get("samples", [])
            reads = after.get("reads", 0) - before.get("reads", 0)
            busy = after.get("delayed_s", 0.0) - before.get("delayed_s", 0.0)
            result["disk"] = {
                "reads": reads,
                "mib": round((after.get("bytes", 0) - before.get("bytes", 0)) / MiB, 2),
                "reads_per_request": round(reads / w["requests"], 5) if w["requests"] else None,
                # Little's law: reads in their delay at once, on average (the "disk
                # heads" the server kept busy).
                "mean_inflight": round(busy / (w["duration_us"] / 1e6), 3),
            }
            # The requests actually sent, and how many of them went to cold copies.
            issued = min(w["issued"], len(seq.paths))
            sent_misses = sum(1 for path in seq.paths[:issued] if "/cold/" in path)
            result["sent_miss_ratio"] = round(sent_misses / issued, 5) if issued else None
            if w["wraps"] and seq.misses:
                result["warning"] = "the request sequence wrapped: later cold requests were cache hits"
            ended = time.time()
            with contextlib.suppress(Exception):
                st, body = server.get("/_bench/stats", timeout=5)
                if st == 200:
                    result["server_stats"] = json.loads(body)
            with contextlib.suppress(Exception):
                st, body = server.get("/_bench/collections", timeout=30)
                if st == 200:  # the Python servers' (bench_app.py), not nginx
                    result["full_collections"] = full_collections_between(json.loads(body), started, ended)
            # The fastest this server has gone sizes its later sequences.
            self.rate_cap[arch] = max(self.rate_cap.get(arch, 0.0), w["rps"])
        finally:
            server.stop()
        return result

    def _cpu_snapshot(self, server: Server) -> CpuSnapshot | None:
        if server.proc is None or self.fs is None or self.fs.proc is None:
            return None
        return CpuSnapshot.take(server.proc.pid, self.fs.proc.pid)

    def run_arch(self, arch: str, workloads: list[Workload]) -> dict[str, Any]:
        a = self.args
        out: dict[str, Any] = {"arch": arch, "status": "ok", "runs": {}}
        log(f"== {arch}: mounting slowfs ({a.delay_ms:g} ms per read)")
        with SlowFS(
            self.backing,
            self.mountpoint,
            delay_ms=a.delay_ms,
            threads=a.fuse_threads,
            disk_queue=a.disk_queue,
            workdir=self.rundir,
        ) as fs:
            self.fs = fs
            try:
                for i, wl in enumerate(workloads):
                    log(
                        f"  {arch} / {wl.name}: {wl.dirs} dirs"
                        + (f", miss ratio {wl.miss_ratio:g}" if wl.miss_ratio else "")
                        + (f", LRU memory {wl.memory_bytes // MiB} MiB" if wl.memory_bytes else "")
                    )
                    try:
                        r = self.measure(arch, wl, first=(i == 0))
                    except ServerFailed as exc:
                        if i == 0:
                            out.update(status="skipped", reason=exc.reason, log=exc.log_tail[-1500:])
                            log(f"  {arch}: SKIPPED ({exc.reason})")
                            return out
                        r = {"workload": wl.name, "status": "failed", "reason": exc.reason}
                        log(f"  {arch} / {wl.name}: FAILED ({exc.reason})")
                    except (RuntimeError, OSError, ValueError) as exc:
                        r = {"workload": wl.name, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:500]}
                        log(f"  {arch} / {wl.name}: FAILED ({r['reason']})")
                    if "idle" in r:
                        out["idle"] = r.pop("idle")
                    out["runs"][wl.name] = r
                    if "static" in r:
                        s, d = r["static"], r["dynamic"]
                        log(
                            f"    {s['rps']:.0f} req/s, {s['mib_s']:.1f} MiB/s, errors {s['errors']}, "
                            f"disk reads/request {r['disk']['reads_per_request']}, "
                            f"reads in flight {r['disk']['mean_inflight']}; /dynamic p50 "
                            f"{_fmt(d['p50_ms'])} p99 {_fmt(d['p99_ms'])} max {_fmt(d['max_ms'])} ms" + _load_notes(r)
                        )
            finally:
                self.fs = None
        return out

    def cleanup(self) -> None:
        """Remove this run's directory (paths files, logs, mountpoint); the file set stays for reuse."""
        if is_fuse_mounted(self.mountpoint):
            log(f"warning: {self.mountpoint} is still mounted; leaving {self.rundir} in place")
            return
        shutil.rmtree(self.rundir, ignore_errors=True)


def full_collections_between(report: dict[str, Any], started: float, ended: float) -> dict[str, Any]:
    """The server's full garbage collections that ended while the load ran (bench_app.py's
    report): how many, their summed pause, the longest and its CPU time, and the objects the
    collector tracks in its oldest generation at the end, which a full collection walks."""
    pauses = [(seconds, cpu) for end, seconds, cpu in report["pauses"] if started <= end <= ended]
    longest = max(pauses, default=(0.0, 0.0))
    return {
        "count": len(pauses),
        "total_ms": round(sum(seconds for seconds, _ in pauses) * 1000, 1),
        "max_ms": round(longest[0] * 1000, 1),
        "max_cpu_ms": round(longest[1] * 1000, 1),
        "tracked": report["tracked"],
    }


def _strip(probe: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in probe.items() if k != "samples"}


def _load_notes(run: dict[str, Any]) -> str:
    """The progress line's notes on what a Python server's full garbage collections and every
    server's processes cost during the load, where they were measured."""
    notes = []
    collections = run.get("full_collections")
    if collections:
        notes.append(
            f"full GCs {collections['count']}, longest {collections['max_ms']:.1f} ms "
            f"({collections['max_cpu_ms']:.1f} ms CPU), {collections['tracked']:,} objects tracked"
        )
    cpu = run.get("cpu")
    if cpu:
        notes.append(
            f"CPU: server {cpu['server_percent']:.0f}% (its busiest process {cpu['busiest_percent']:.0f}%), "
            f"slowfs {cpu['slowfs_percent']:.0f}% "
            f"(of one core), machine {cpu['machine_busy_percent']:.0f}% busy"
        )
    return "".join(f"; {note}" for note in notes)


def _fmt(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


# -- report ---------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b:
        return "n/a"
    return f"{a / b:.2f}"


def _quotient(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def amped_vs_nginx(archs: dict[str, Any], name: str) -> dict[str, dict[str, float | None]]:
    """AMPED's static req/s and /dynamic p99 over each nginx's, in workload ``name``, keyed
    "amped / nginx-aio" and so on (for each AMPED arch and nginx variant that ran it). Above 1
    for req/s, below 1 for p99: AMPED did better."""
    out = {}
    for arch in ("amped", *PROTOCOL_ARCHS):
        amped = archs.get(arch, {}).get("runs", {}).get(name, {})
        if "static" not in amped:
            continue
        for ref in ("nginx-aio", "nginx"):
            run = archs.get(ref, {}).get("runs", {}).get(name, {})
            if "static" in run:
                out[f"{arch} / {ref}"] = {
                    "static_rps": _quotient(amped["static"]["rps"], run["static"]["rps"]),
                    "dynamic_p99": _quotient(amped["dynamic"]["p99_ms"], run["dynamic"]["p99_ms"]),
                }
    return out


def markdown(results: dict[str, Any]) -> str:
    cfg = results["config"]
    archs = results["archs"]
    names: list[str] = []
    for r in archs.values():
        for name in r.get("runs", {}):
            if name not in names:
                names.append(name)
    lines = [
        f"# Disk-bound benchmark, {results['started']}",
        "",
        f"slowfs {cfg['delay_ms']:g} ms per read; wrk -t{cfg['threads']} -c{cfg['connections']} "
        f"-d{cfg['duration']:g}s; /dynamic probe at {cfg['rate']:g}/s; file set {cfg['dirs']} dirs "
        f"({cfg['dirs'] * 5119488 / MiB:.0f} MiB); disk-bound miss ratio {cfg['miss_ratio']:g}.",
        "",
    ]
    skipped = [f"- **{a}**: skipped: {r.get('reason')}" for a, r in archs.items() if r.get("status") != "ok"]
    for name in names:
        lines += [
            f"## {name}",
            "",
            "| architecture | static req/s | MiB/s | static p99 ms | errors | miss ratio sent | disk reads/req "
            "| reads in flight | /dynamic p50 ms | p99 ms | max ms | p99 / idle p99 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rps: dict[str, float] = {}
        for arch, r in archs.items():
            run = r.get("runs", {}).get(name)
            if r.get("status") != "ok":
                lines.append(f"| {arch} | skipped | | | | | | | | | | |")
                continue
            if not run or "static" not in run:
                lines.append(f"| {arch} | failed: {run.get('reason', '?') if run else 'not run'} | | | | | | | | | | |")
                continue
            s, d, idle = run["static"], run["dynamic"], r.get("idle", {})
            rps[arch] = s["rps"]
            lines.append(
                f"| {arch} | {s['rps']:.0f} | {s['mib_s']:.1f} | {s['latency_p99_us'] / 1000:.1f} | {s['errors']} "
                f"| {_fmt(run.get('sent_miss_ratio'), 3)} | {_fmt(run['disk']['reads_per_request'], 3)} "
                f"| {_fmt(run['disk']['mean_inflight'], 2)} "
                f"| {_fmt(d['p50_ms'])} | {_fmt(d['p99_ms'])} | {_fmt(d['max_ms'])} "
                f"| {ratio(d['p99_ms'], idle.get('p99_ms'))} |"
            )
        lines += [
            "",
            f"Throughput ratios: AMPED/SPED {ratio(rps.get('amped'), rps.get('sped'))}, "
            f"AMPED/MT {ratio(rps.get('amped'), rps.get('mt'))}, "
            f"AMPED/starlette {ratio(rps.get('amped'), rps.get('starlette'))}, "
            f"MT/SPED {ratio(rps.get('mt'), rps.get('sped'))}.",
            "",
        ]
        against = amped_vs_nginx(archs, name)
        if against:
            lines += [
                "AMPED against nginx (static req/s ratio, above 1: AMPED faster; /dynamic p99 ratio, "
                "below 1: AMPED's app answers sooner): "
                + "; ".join(
                    f"{ref}: req/s {_fmt(r['static_rps'], 2)}, p99 {_fmt(r['dynamic_p99'], 2)}"
                    for ref, r in against.items()
                )
                + ".",
                "",
            ]
        warnings = [
            f"- {arch}: {r['runs'][name]['warning']}"
            for arch, r in archs.items()
            if r.get("runs", {}).get(name, {}).get("warning")
        ]
        lines += warnings + ([""] if warnings else [])
    sweep = results.get("sweep")
    ok = [a for a, r in archs.items() if r.get("status") == "ok"]
    if sweep and ok:
        lines += [
            f"## Sweep summary (emulated page cache {sweep['memory_mib']:g} MiB, LRU)",
            "",
            "| data set MiB | miss ratio | " + " | ".join(f"{a} req/s | {a} dyn p99 ms" for a in ok) + " |",
            "|---:|---:|" + "---:|---:|" * len(ok),
        ]
        for d in sweep["dirs"]:
            name = f"sweep-{d}"
            runs = [archs[a]["runs"].get(name, {}) for a in ok]
            seq = next((r["sequence"] for r in runs if "sequence" in r), None)
            cells = []
            for r in runs:
                if "static" in r:
                    cells.append(f"{r['static']['rps']:.0f} | {_fmt(r['dynamic']['p99_ms'])}")
                else:
                    cells.append("failed | ")
            lines.append(
                f"| {d * 5119488 / MiB:.0f} | {_fmt(seq['miss_ratio'] if seq else None, 4)} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    lines += [
        "## Idle /dynamic latency (no static load)",
        "",
        "| architecture | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|",
    ]
    for arch, r in archs.items():
        idle = r.get("idle")
        if idle:
            lines.append(
                f"| {arch} | {_fmt(idle['p50_ms'], 2)} | {_fmt(idle['p99_ms'], 2)} | {_fmt(idle['max_ms'], 2)} |"
            )
        else:
            lines.append(f"| {arch} | {r.get('status')} | | |")
    if skipped:
        lines += ["", "Skipped:", *skipped]
    return "\n".join(lines) + "\n"


def plots(results: dict[str, Any], outdir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = [a for a, r in results["archs"].items() if r.get("status") == "ok"]
    names = [n for n in ("cached", "disk-bound") if any(n in results["archs"][a]["runs"] for a in archs)]
    written = []
    if archs and names:
        width = 0.8 / len(archs)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for k, arch in enumerate(archs):
            runs = results["archs"][arch]["runs"]
            xs = [i + k * width for i in range(len(names))]
            axes[0].bar(xs, [runs.get(n, {}).get("static", {}).get("rps", 0) for n in names], width, label=arch)
            axes[1].bar(xs, [runs.get(n, {}).get("static", {}).get("mib_s", 0) for n in names], width, label=arch)
        for ax, title in zip(axes, ("static requests/s", "static MiB/s"), strict=True):
            ax.set_xticks([i + width * (len(archs) - 1) / 2 for i in range(len(names))], names)
            ax.set_title(title)
            ax.legend()
        fig.suptitle(f"Static throughput (slowfs {results['config']['delay_ms']:g} ms/read)")
        fig.tight_layout()
        path = os.path.join(outdir, "throughput.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        groups = ["idle", *names]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for k, arch in enumerate(archs):
            r = results["archs"][arch]
            xs = [i + k * width for i in range(len(groups))]
            for ax, key in zip(axes, ("p50_ms", "p99_ms"), strict=True):
                vals = [
                    (r.get("idle") if g == "idle" else r["runs"].get(g, {}).get("dynamic", {})) or {} for g in groups
                ]
                ax.bar(xs, [max(v.get(key) or 0, 1e-3) for v in vals], width, label=arch)
        for ax, title in zip(axes, ("/dynamic p50 latency (ms)", "/dynamic p99 latency (ms)"), strict=True):
            ax.set_xticks([i + width * (len(archs) - 1) / 2 for i in range(len(groups))], groups)
            ax.set_yscale("log")
            ax.set_title(title)
            ax.legend()
        fig.suptitle("Dynamic-endpoint latency beside static load (log scale)")
        fig.tight_layout()
        path = os.path.join(outdir, "latency.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    sweep = results.get("sweep")
    if sweep and archs:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for arch in archs:
            pts = [
                (p["data_set_mib"], p["static"]["rps"], p["dynamic"]["p99_ms"] or 0)
                for name, p in sorted(results["archs"][arch]["runs"].items())
                if name.startswith("sweep-") and "static" in p
            ]
            pts.sort()
            if pts:
                axes[0].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=arch)
                axes[1].plot([p[0] for p in pts], [p[2] for p in pts], marker="o", label=arch)
        first = results["archs"][archs[0]]["runs"]
        for name, p in first.items():
            if name.startswith("sweep-") and "sequence" in p:
                axes[0].annotate(
                    f"{100 * p['sequence']['miss_ratio']:.1f}% miss",
                    (p["data_set_mib"], 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, 4),
                    textcoords="offset points",
                    ha="center",
                    fontsize=8,
                    color="gray",
                )
        axes[0].set_ylim(bottom=0)
        axes[0].set_title("static requests/s")
        axes[1].set_title("/dynamic p99 ms")
        axes[1].set_yscale("log")
        for ax in axes:
            ax.set_xlabel(f"data-set size, MiB (emulated memory {sweep['memory_mib']} MiB)")
            ax.legend()
        fig.suptitle("Data-set-size sweep (LRU-emulated page cache)")
        fig.tight_layout()
        path = os.path.join(outdir, "sweep.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# -- main -----------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    for mod in ("uvicorn", "starlette", "uvloop", "httptools", "mfusepy"):
        with contextlib.suppress(Exception):
            env[mod] = __import__(mod).__version__
    with contextlib.suppress(Exception):
        env["nginx"] = subprocess.run(["nginx", "-v"], capture_output=True, text=True, timeout=5).stderr.strip()
    with contextlib.suppress(Exception):
        env["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5).stdout.split("\n")[0]
    with contextlib.suppress(Exception):
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "flashstatic"], cwd=REPO, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        env["flashstatic_git"] = rev + ("+dirty" if dirty else "")
    return env


def check_prerequisites(archs: list[str]) -> list[str]:
    problems = []
    tools = ["wrk", "fusermount3"] + (["nginx"] if any(a in NGINX_ARCHS for a in archs) else [])
    for tool in tools:
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not installed")
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse is missing")
    for mod in ("mfusepy", "matplotlib", "uvloop", "httptools"):
        try:
            __import__(mod)
        except Exception as exc:  # mfusepy raises OSError when libfuse is missing
            problems.append(f"python module {mod}: {exc}")
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.disk_bound",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--archs",
        default=DEFAULT_ARCHS,
        help="comma-separated: amped, sped, mt, starlette, nginx, nginx-aio, amped-protocol (amped under "
        "flashstatic.server:HttpToolsProtocol)",
    )
    p.add_argument("--delay-ms", type=float, default=5.0, help="slowfs sleep before each FUSE read")
    p.add_argument("--duration", type=float, default=15.0, help="seconds of measured load per run")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument(
        "--dirs",
        type=int,
        default=None,
        help="file set size in SPECweb99 directories of 5 MB (default: SPECweb99's count for --connections)",
    )
    p.add_argument(
        "--miss-ratio",
        type=float,
        default=0.1,
        help="disk-bound workload: fraction of requests sent to never-touched, evicted files",
    )
    p.add_argument("--workloads", default="cached,disk-bound", help="which of: cached, disk-bound")
    p.add_argument("--rate", type=float, default=50.0, help="/dynamic probe requests per second")
    p.add_argument("--idle-duration", type=float, default=5.0, help="seconds of idle /dynamic baseline")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of hot-only wrk load before each run")
    p.add_argument(
        "--evict-every",
        type=float,
        default=0.0,
        help="also evict the whole file set every K seconds during disk-bound runs (0: never)",
    )
    p.add_argument(
        "--sweep", action="store_true", help="also run the data-set-size sweep (LRU-emulated memory, see README)"
    )
    p.add_argument("--sweep-dirs", default="10,20,40,80,160", help="data-set sizes of the sweep, in directories")
    p.add_argument("--memory-mb", type=float, default=32.0, help="emulated page-cache size for the sweep")
    p.add_argument("--fuse-threads", type=int, default=16, help="slowfs libfuse threads")
    p.add_argument("--disk-queue", type=int, default=0, help="slowfs: reads in their delay at once (0: no limit)")
    p.add_argument("--options", type=json.loads, default={}, help="JSON of extra FlashStatic keyword arguments")
    p.add_argument(
        "--rate-guess",
        type=float,
        default=8000.0,
        help="req/s assumed to size request sequences before a cached run has measured one",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "flashstatic-bench"),
        help="where the file set (reused between runs) and the mount live",
    )
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="output directory")
    p.add_argument("--quick", action="store_true", help="tiny settings for a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 4.0)
        args.idle_duration = min(args.idle_duration, 2.0)
        args.warmup = min(args.warmup, 1.0)
        args.connections = min(args.connections, 16)
        args.dirs = args.dirs or 5
        args.sweep_dirs = "2,5,10"
        args.memory_mb = min(args.memory_mb, 8.0)
    if args.dirs is None:
        args.dirs = specweb_dirs(args.connections)
    args.arch_list = [a.strip() for a in args.archs.split(",") if a.strip()]
    args.workload_list = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in args.workload_list:
        if w not in ("cached", "disk-bound"):
            p.error(f"unknown workload {w!r}")
    if not 0 <= args.miss_ratio <= 1:
        p.error("--miss-ratio must be in [0, 1]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problems = check_prerequisites(args.arch_list)
    if problems:
        print("missing prerequisites (run: bash benchmarks/setup.sh):\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    catch_signals()
    os.makedirs(args.out, exist_ok=True)
    results, interrupted = collect(args)

    samples = {
        a: {n: run.pop("dynamic_samples", None) for n, run in r.get("runs", {}).items()}
        for a, r in results["archs"].items()
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    md = markdown(results)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.out, "dynamic-samples.json"), "w") as f:
        json.dump(samples, f)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    with contextlib.suppress(Exception):
        shutil.copy(os.path.join(args.out, "results.json"), os.path.join(args.out, f"results-{stamp}.json"))
    pngs = []
    try:
        pngs = plots(results, args.out)
    except Exception as exc:  # a plot must not lose the numbers
        log(f"plotting failed: {exc!r}")
    print()
    print(md)
    log(f"wrote {args.out}/results.json, results.md" + "".join(f", {os.path.basename(p)}" for p in pngs))
    return 130 if interrupted else 0


def catch_signals() -> None:
    """SIGTERM and SIGINT as exceptions, so that slowfs is unmounted and the servers stopped."""

    def on_term(signum: int, frame: Any) -> None:
        raise Stop(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    # Started in the background by a non-interactive shell, SIGINT arrives ignored: restore it.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def collect(args: argparse.Namespace) -> tuple[dict[str, Any], BaseException | None]:
    """Every server of ``args.arch_list`` in every workload: the results (each run's /dynamic
    samples included, under "dynamic_samples"), and the interruption that cut them short, if any."""
    os.makedirs(args.workdir, exist_ok=True)
    workloads = [
        Workload(w, args.dirs, miss_ratio=args.miss_ratio if w == "disk-bound" else 0.0) for w in args.workload_list
    ]
    sweep_dirs = [int(x) for x in args.sweep_dirs.split(",") if x.strip()] if args.sweep else []
    workloads += [Workload(f"sweep-{d}", d, memory_bytes=int(args.memory_mb * MiB)) for d in sweep_dirs]

    max_dirs = max([args.dirs, *sweep_dirs])
    fset = FileSet(os.path.join(args.workdir, "files"), max_dirs, args.seed)
    t0 = time.monotonic()
    written = fset.build()
    fset.clear_cold()  # this run's cold copies are written as its sequences need them
    log(
        f"file set: {max_dirs} dirs, {fset.total_bytes / MiB:.0f} MiB in {fset.root} "
        f"({written} files written in {time.monotonic() - t0:.1f}s); mean request {mean_request_bytes():.0f} B"
    )

    results: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "config": {k: v for k, v in vars(args).items() if k not in ("arch_list", "workload_list")},
        "environment": environment(),
        "archs": {},
    }
    if sweep_dirs:
        results["sweep"] = {"dirs": sweep_dirs, "memory_mib": args.memory_mb}
    runner = Runner(args)
    interrupted = None
    try:
        for arch in args.arch_list:
            results["archs"][arch] = runner.run_arch(arch, workloads)
    except (KeyboardInterrupt, Stop) as exc:
        interrupted = exc
        log(f"interrupted ({type(exc).__name__}); partial results follow")
    finally:
        runner.cleanup()
    names = {name for r in results["archs"].values() for name in r.get("runs", {})}
    results["amped_vs_nginx"] = {name: v for name in sorted(names) if (v := amped_vs_nginx(results["archs"], name))}
    return results, interrupted


if __name__ == "__main__":
    sys.exit(main())
