"""Real WSGI servers for the tests, each on 127.0.0.1 with a port the kernel chose.

gunicorn runs as a subprocess and is handed a socket the test bound itself (``--bind
fd://N``), so there is no port to guess or to read back from its log; wsgiref runs in a
thread. Both context managers yield the base URL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

TESTS = Path(__file__).resolve().parent
WORKTREE = TESTS.parent


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


def wait_until_serving(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url + "/__flashstatic_probe__", timeout=2)
            return
        except httpx.TransportError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.05)


@contextlib.contextmanager
def gunicorn(
    app: str,
    *,
    worker_class: str = "sync",
    threads: int = 1,
    env: dict[str, str] | None = None,
    extra: Sequence[str] = (),
    cwd: Path | None = None,
    prefix_command: Sequence[str] = (),
    stderr: Any = subprocess.DEVNULL,
) -> Iterator[str]:
    """``app`` is gunicorn's "module:variable"; tests/ and the worktree are on its path."""
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = os.pathsep.join([str(WORKTREE), str(TESTS), os.environ.get("PYTHONPATH", "")])
    command = [
        *prefix_command,
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"fd://{sock.fileno()}",
        "--workers",
        "1",
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        *extra,
        app,
    ]
    process = subprocess.Popen(
        command,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        pass_fds=(sock.fileno(),),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        # The whole session: under strace the master is strace's child, not ours.
        _signal_session(process, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            _signal_session(process, signal.SIGKILL)
            process.wait()
        sock.close()


def _signal_session(process: subprocess.Popen[bytes], number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, number)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def without_file_wrapper(app: Any) -> Any:
    """The app as a server without ``wsgi.file_wrapper`` would run it."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        environ.pop("wsgi.file_wrapper", None)
        return app(environ, start_response)

    return wrapped


@contextlib.contextmanager
def wsgiref_server(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def uvicorn_process(app: str, *, cwd: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """uvicorn in a subprocess on a socket bound here (``--fd``), for apps that need their own
    process (a Django project configures itself once per process)."""
    sock = bound_socket()
    sock.listen(128)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = os.pathsep.join([str(WORKTREE), str(cwd), os.environ.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--fd", str(sock.fileno()), "--log-level", "warning", app],
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        pass_fds=(sock.fileno(),),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        _signal_session(process, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            _signal_session(process, signal.SIGKILL)
            process.wait()
        sock.close()
