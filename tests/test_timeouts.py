"""Connections that hold a descriptor without making progress: half a request head, nothing at
all, a response nobody reads, more connections than descriptors. Over real HTTP, with raw
sockets: heads get a 408, stalled sends are cut, idle connections make room for new ones, and
live clients, slow bodies and slow apps are left alone."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from flashstatic.server import H11Protocol, HttpToolsProtocol
from support import flashstatic_serve, read_responses, write_tree

MIB = 1024 * 1024
BIG = 50 * MIB
TIMEOUT = 0.5  # the header and send timeouts of these tests
QUICK = ("--header-timeout", str(TIMEOUT), "--send-timeout", str(TIMEOUT))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(
        tmp_path_factory.mktemp("timeouts"),
        {"hello.txt": "hello", "big.bin": os.urandom(BIG), "mid.bin": os.urandom(8 * MIB)},
    )


def connect(port: int, *, rcvbuf: int | None = None, timeout: float = 5) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:  # before connecting, so that the window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything until the server closes (EOF or reset), and when that happened."""
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except ConnectionResetError:
        pass
    return reply, time.monotonic()


def get(port: int, path: str) -> tuple[int, bytes]:
    with connect(port) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _, body = read_responses(sock, 1)[0]
    return status, body


def fetch_size(port: int, path: str) -> int:
    """GET ``path`` and count its body bytes (a large body is not kept)."""
    with connect(port) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
        size = len(reply.split(b"\r\n\r\n", 1)[1])
        while chunk := sock.recv(1 << 20):
            size += len(chunk)
    return size


def port_of(url: str) -> int:
    return urlsplit(url).port  # type: ignore[return-value]


# -- the header timeout ----------------------------------------------------------------------------


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_half_a_head_gets_a_408_and_the_connection_closes(http: str, root: Path) -> None:
    with flashstatic_serve(root, "--http", http, *QUICK) as (_, port):
        with connect(port) as sock:
            began = time.monotonic()
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
            reply, ended = read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 408 "), reply
        assert b"connection: close" in reply.lower()
        assert TIMEOUT * 0.8 <= ended - began < TIMEOUT + 1.5
        # On a kept-alive connection, the clock starts with the first byte of the next head.
        with connect(port) as sock:
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_responses(sock, 1)[0][2] == b"hello"
            time.sleep(TIMEOUT * 1.5)  # idle longer than the header timeout: still open
            began = time.monotonic()
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\n")
            reply, ended = read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 408 "), reply
        assert TIMEOUT * 0.8 <= ended - began < TIMEOUT + 1.5


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_connection_that_sends_nothing_is_closed(http: str, root: Path) -> None:
    with flashstatic_serve(root, "--http", http, *QUICK) as (_, port):
        with connect(port) as sock:
            began = time.monotonic()
            reply, ended = read_until_closed(sock)
        assert reply == b""  # nothing was asked: nothing is answered
        assert TIMEOUT * 0.8 <= ended - began < TIMEOUT + 1.5
        assert get(port, "/hello.txt") == (200, b"hello")


# -- the send timeout ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "http, warm",
    [("httptools", False), ("httptools", True), ("h11", False)],
    ids=["asgi-zero-copy", "direct-file", "h11-zero-copy"],
)
def test_a_client_that_never_reads_is_cut_after_the_send_timeout(http: str, warm: bool, root: Path) -> None:
    with flashstatic_serve(root, "--http", http, *QUICK) as (process, port):
        if warm:  # the file's entry fresh and its descriptor kept: the protocol sends it itself
            assert fetch_size(port, "/big.bin") == BIG
        with connect(port, rcvbuf=16 * 1024) as sock:
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(TIMEOUT + 2)  # reads nothing
            reply, _ = read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 200 ")
        assert len(reply) < BIG // 2  # cut, not sent whole once the client read again
        # The server goes on serving.
        assert get(port, "/hello.txt") == (200, b"hello")
        assert get(port, "/mid.bin")[1] == (root / "mid.bin").read_bytes()
        assert process.poll() is None


def slow_reader(sock: socket.socket, total: int, piece: int, pause: float) -> int:
    """Read ``piece`` bytes every ``pause`` seconds until ``total`` arrived or the server closed."""
    got = 0
    while got < total:
        try:
            chunk = sock.recv(piece)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += len(chunk)
        time.sleep(pause)
    return got


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_slow_but_live_reader_is_not_cut(http: str, root: Path) -> None:
    size = (root / "mid.bin").stat().st_size
    with flashstatic_serve(root, "--http", http, *QUICK) as (_, port):
        for _ in range(2):  # through ASGI, then (httptools) from the protocol itself
            with connect(port, rcvbuf=64 * 1024) as sock:
                sock.sendall(b"GET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                # About 3 MiB/s for 4 MiB: more than two send timeouts, never a pause of one.
                assert slow_reader(sock, 4 * MIB, 64 * 1024, 0.02) >= 4 * MIB
        assert size > 4 * MIB


# -- the protocol classes under your own uvicorn ---------------------------------------------------


class QuickHttpTools(HttpToolsProtocol):
    header_timeout = TIMEOUT
    send_timeout = TIMEOUT


class QuickH11(H11Protocol):
    header_timeout = TIMEOUT
    send_timeout = TIMEOUT


PROTOCOLS = {"httptools": QuickHttpTools, "h11": QuickH11}


class StreamingApp:
    """Body messages only (no zero copy): 50 MiB in 1 MiB messages at /big, and for anything
    else the request body echoed after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.finished: list[int] = []  # bytes each /big response handed to send()

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/big":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(BIG).encode())]}
            )
            piece, sent = b"x" * MIB, 0
            while sent < BIG:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                sent += len(piece)
            await send({"type": "http.response.body", "body": b""})
            self.finished.append(sent)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await asyncio.sleep(self.delay)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]}
        )
        await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_body_messages_to_a_client_that_never_reads_are_cut(http: str, live_server) -> None:
    app = StreamingApp()
    with live_server(app, http=PROTOCOLS[http]) as url:
        port = port_of(url)
        with connect(port, rcvbuf=16 * 1024) as sock:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(TIMEOUT + 2)
            reply, _ = read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 200 ") and len(reply) < BIG // 2
        deadline = time.monotonic() + 5
        while not app.finished and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.finished == [BIG]  # the app's sends returned: the response ended, cut short
        # A slow but steady reader of the same body messages is not cut, although at about
        # 1.5 MiB/s each 1 MiB message keeps writing paused for longer than the send timeout.
        with connect(port, rcvbuf=64 * 1024) as sock:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            assert slow_reader(sock, 3 * MIB, 32 * 1024, 0.02) >= 3 * MIB


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_only_heads_are_timed_not_bodies_or_apps(http: str, live_server) -> None:
    with live_server(StreamingApp(delay=TIMEOUT * 2.5), http=PROTOCOLS[http]) as url:
        port = port_of(url)
        with connect(port) as sock:  # the class's header timeout holds
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
            assert read_until_closed(sock)[0].startswith(b"HTTP/1.1 408 ")
        with connect(port) as sock:
            # The head on time, the body slower than the header timeout, the app slower still.
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
            for byte in b"body":
                time.sleep(TIMEOUT * 0.6)
                sock.sendall(bytes([byte]))
            assert read_responses(sock, 1)[0][:1] == (200,)


# -- the connection cap ----------------------------------------------------------------------------


def test_idle_connections_cannot_lock_out_a_client(root: Path) -> None:
    # 320 silent connections against a limit of 300 descriptors (and a default header timeout
    # far longer than this test): the cap closes the longest idle ones to make room.
    with flashstatic_serve(root, nofile=300) as (_, port):
        held = []
        for _ in range(320):
            try:
                held.append(connect(port))
            except OSError:
                pass
        time.sleep(0.5)
        assert get(port, "/hello.txt") == (200, b"hello")
        assert get(port, "/mid.bin")[1] == (root / "mid.bin").read_bytes()
        # The oldest were closed to make room; the newest are still open.
        assert read_until_closed(held[0])[0] == b""
        held[-1].sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_responses(held[-1], 1)[0][2] == b"hello"
        for sock in held:
            sock.close()


def test_at_the_cap_with_nothing_idle_a_newcomer_gets_a_503(root: Path) -> None:
    with flashstatic_serve(root, "--max-connections", "4") as (_, port):
        busy = [connect(port) for _ in range(4)]
        for sock in busy:  # each in the middle of a head: none is idle
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\n")
        time.sleep(0.3)
        with connect(port) as sock:
            began = time.monotonic()
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            reply, ended = read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 503 ") and b"connection: close" in reply.lower(), reply
        assert ended - began < 2
        # Once they finish their heads, the busy ones are answered, and room is made again.
        for sock in busy:
            sock.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
            assert read_until_closed(sock)[0].startswith(b"HTTP/1.1 200 ")
            sock.close()
        time.sleep(0.2)
        assert get(port, "/hello.txt") == (200, b"hello")


# -- the command line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--header-timeout", "0"),
        ("--header-timeout", "soon"),
        ("--send-timeout", "-1"),
        ("--send-timeout", "nan"),
        ("--max-connections", "0"),
        ("--max-connections", "1.5"),
    ],
)
def test_bad_limits_are_refused_in_one_line(flag: str, value: str, root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flashstatic", "serve", str(root), flag, value],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and flag in errors[0] and "must be" in errors[0], done.stderr


def test_no_server_header(root: Path) -> None:
    with flashstatic_serve(root) as (_, port), connect(port) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_responses(sock, 1)[0][1].get(b"server") == b"uvicorn"
    with flashstatic_serve(root, "--no-server-header") as (_, port):
        for path in ("/hello.txt", "/hello.txt", "/mid.bin", "/mid.bin", "/nothing"):
            with connect(port) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                status, headers, _ = read_responses(sock, 1)[0]
                assert b"server" not in headers and b"date" in headers, (path, status)
