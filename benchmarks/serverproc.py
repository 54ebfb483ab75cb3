"""Start, measure and stop the servers the throughput benchmarks compare (one process each)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which is in parentheses and may
    hold spaces): state, ppid, pgrp, ...; None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of one live process, or None once it is gone."""
    fields = stat_fields(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` first, then every process below it (its children, theirs, and so on)."""
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = stat_fields(int(name))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(parents.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (helpers, nginx workers)."""
    return sum(process_cpu_seconds(member) or 0.0 for member in process_tree(pid))


def rss_bytes(pid: int, descendants: bool = True) -> int:
    """Resident memory of the process, and of its helpers or workers unless told not to."""
    total = 0
    for member in process_tree(pid) if descendants else [pid]:
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


@dataclass
class Server:
    name: str
    command: list[str]
    port: int
    cpus: str = "0"
    process: subprocess.Popen[bytes] | None = None
    cleanup: list[Path] = field(default_factory=list)
    stdout: Path | None = None  # where the server's stdout goes (an access log), else nowhere

    def __enter__(self) -> Server:
        with open(self.stdout, "ab") if self.stdout is not None else open(os.devnull, "wb") as out:
            self.process = subprocess.Popen(
                ["taskset", "-c", self.cpus, *self.command], stdout=out, stderr=subprocess.DEVNULL
            )
        wait_listening(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGQUIT if self.name.startswith("nginx") else signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


def serve_argv(root: Path | str, port: int, *flags: str, python: str = sys.executable) -> list[str]:
    """``flashstatic serve ROOT`` on 127.0.0.1:PORT, logging warnings only: what every
    benchmark starts, with its own flags after."""
    return [python, "-m", "flashstatic", "serve", str(root), "--port", str(port), "--log-level", "warning", *flags]


def checkout_commit(python: str, checkout: Path) -> tuple[str, str]:
    """(the flashstatic a server run from ``checkout`` imports, that checkout's commit), once
    sure the import comes from the checkout (``python -m`` puts the working directory first)."""
    imported = subprocess.run(
        [python, "-c", "import flashstatic; print(flashstatic.__file__)"],
        env={**os.environ, "PYTHONPATH": str(checkout)},
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(imported).resolve().is_relative_to(checkout.resolve()):
        raise SystemExit(f"with PYTHONPATH={checkout}, {python} imports flashstatic from {imported}")
    commit = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return imported, commit


def flashstatic(root: Path, **flags: str) -> Server:
    port = free_port()
    extra = [item for key, value in flags.items() for item in (f"--{key.replace('_', '-')}", value)]
    return Server("flashstatic serve", serve_argv(root, port, "--no-access-log", *extra), port)


def starlette(root: Path) -> Server:
    port = free_port()
    code = (
        "import sys, uvicorn; from starlette.staticfiles import StaticFiles; "
        "uvicorn.run(StaticFiles(directory=sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), "
        "log_level='warning', http='httptools', loop='uvloop', access_log=False)"
    )
    return Server("Starlette StaticFiles", [sys.executable, "-c", code, str(root), str(port)], port)


def raw_asgi(body_size: int) -> Server:
    """An ASGI app answering every request with body_size bytes from memory: the server's ceiling."""
    port = free_port()
    code = (
        "import sys, uvicorn\n"
        "body = b'x' * int(sys.argv[1])\n"
        "headers = [(b'content-type', b'text/plain'), (b'content-length', str(len(body)).encode())]\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http': return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': headers})\n"
        "    await send({'type': 'http.response.body', 'body': body})\n"
        "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[2]), log_level='warning', "
        "http='httptools', loop='uvloop', access_log=False, lifespan='off')\n"
    )
    return Server("raw ASGI app", [sys.executable, "-c", code, str(body_size), str(port)], port)


def nginx(
    root: Path,
    workers: int = 1,
    cpus: str = "0",
    access_log: Path | None = None,
    http2: bool = False,
    gzip: bool = False,
    *,
    aio_threads: bool = False,
    locations: str = "",
) -> Server:
    """nginx, one worker unless told, sendfile and tcp_nopush on: the reference. Its access
    log is off unless a file is given (then its default: Combined lines, one write each).
    ``http2``: cleartext HTTP/2 with prior knowledge (h2c), as h2load speaks it. ``gzip``:
    ``gzip on`` with nginx's defaults (level 1, text/html only), compressing every response.
    ``aio_threads``: file reads (and, with sendfile, the page-ins sendfile would block on) go
    to the worker's thread pool ("default": 32 threads) instead of blocking its event loop.
    ``locations``: extra configuration placed inside the server block (e.g. location blocks)."""
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    log = f"{access_log} combined" if access_log is not None else "off"
    conf = directory / "nginx.conf"
    # The worker reads the files as root too, like our servers, so temp-dir permissions agree.
    conf.write_text(f"""
user root;
worker_processes {workers};
daemon off;
master_process on;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {log};
    sendfile on;
    aio {"threads" if aio_threads else "off"};
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    gzip {"on" if gzip else "off"};
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    types {{ text/plain txt; application/octet-stream bin; text/html html; }}
    default_type application/octet-stream;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{port}{" http2" if http2 else ""};
        root {root};
{locations}
    }}
}}
""")
    name = "nginx" if workers == 1 else f"nginx ({workers} workers)"
    name += " h2c" if http2 else ""
    name += ", gzip on" if gzip else ""
    name += ", aio threads" if aio_threads else ""
    if access_log is not None:
        name += ", access log"
    server = Server(name, ["nginx", "-c", str(conf), "-p", str(directory)], port, cpus=cpus)
    server.cleanup.append(directory)
    return server
