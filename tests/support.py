"""Helpers the tests import (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from pathlib import Path


def write_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
    return root


def raw_request(url: str, target: bytes, method: bytes = b"GET", extra: bytes = b"") -> tuple[int, bytes]:
    """Send a request-target exactly as given (clients normalise "../"); return status, raw reply."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            method + b" " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + extra + b"\r\n"
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), reply


async def call_asgi(
    app,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    on_send=None,
    disconnect_after: int | None = None,
) -> list[dict]:
    """Run one http request through ``app`` in-process and return every message it sent.

    ``on_send(message)`` runs after each message; ``disconnect_after=N`` makes receive()
    report http.disconnect once N body messages have gone out.
    """
    import asyncio

    sent: list[dict] = []
    body_sent = asyncio.Event()
    request_given = False

    async def receive() -> dict:
        nonlocal request_given
        if not request_given:
            request_given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        while disconnect_after is None or sum(m["type"] == "http.response.body" for m in sent) < disconnect_after:
            body_sent.clear()
            await body_sent.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        body_sent.set()
        await asyncio.sleep(0)
        if on_send is not None:
            on_send(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return sent


def body_of(messages: list[dict]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def completed(messages: list[dict]) -> bool:
    last = messages[-1]
    return last["type"] == "http.response.body" and not last.get("more_body", False)


def read_responses(sock, count: int) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Read ``count`` HTTP/1.1 responses (Content-Length framed) from a blocking socket."""
    buffer = b""
    responses = []
    for _ in range(count):
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed after {len(responses)} responses")
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(b":", 1) for line in lines[1:])}
        length = int(headers.get(b"content-length", b"0"))
        while len(buffer) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed mid-body")
            buffer += chunk
        responses.append((status, headers, buffer[:length]))
        buffer = buffer[length:]
    return responses


def assert_truncation_cuts_the_response(client, url: str, file_path, keep: int = 1024 * 1024) -> None:
    """Truncate the file after the first bytes arrived: the response must end cut (never a
    short body presented as complete), and the next request must get the new, shorter file."""
    import os

    import httpx
    import pytest

    with client.stream("GET", url) as response:
        stream = response.iter_raw()
        next(stream)
        os.truncate(file_path, keep)
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in stream:
                pass
    again = client.get(url)
    assert again.status_code == 200 and len(again.content) == keep


def wait_listening(process: subprocess.Popen, port: int, name: str, timeout: float = 30) -> None:  # type: ignore[type-arg]
    """Return once something listens on 127.0.0.1:``port``; RuntimeError if ``process`` exits
    first or ``timeout`` passes."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{name} did not start") from None
            time.sleep(0.05)


@contextlib.contextmanager
def flashstatic_serve(root, *flags: str, nofile: int | None = None):
    """``flashstatic serve ROOT`` in a subprocess on a free port of 127.0.0.1 (its own protocol
    classes, zero copy included); yields (process, port) once it listens. ``nofile`` lowers
    its descriptor limit. A traceback in its log fails the test even if every response looked
    right."""
    import resource
    import socket
    import sys

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flashstatic",
            "serve",
            str(root),
            "--port",
            str(port),
            "--log-level",
            "warning",
            *flags,
        ],
        preexec_fn=limit,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(process, port, "flashstatic serve")
        yield process, port
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert b"Traceback" not in stderr, stderr.decode(errors="replace")[-3000:]


class ServerProcess:
    """A server started as a command line, as a user would; its stderr log kept in ``log``."""

    URL = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")

    def __init__(self, argv: list[str], cwd: Path, timeout: float = 30) -> None:
        self.log: list[str] = []
        self._started = threading.Event()
        self.url = ""
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        # Drained to the end, so that a chatty server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._started.wait(timeout):
            self.stop()
            raise AssertionError(f"{argv} did not start:\n" + "".join(self.log))
        self.wait_for_log("Application startup complete", timeout=timeout)

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            match = self.URL.search(line)
            if match and not self.url:
                self.url = match.group(1)
                self._started.set()

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in list(self.log)) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{text!r} x{count} never logged:\n" + "".join(self.log))
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)
