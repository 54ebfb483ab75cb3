"""Hostile request lines, heads and Range headers over real HTTP: a clear 4xx from the layer
that owns the decision (the HTTP parser for framing, flashstatic for paths), never a 5xx,
never unbounded memory, never more bytes out than the file has."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from flashstatic import FlashStatic
from flashstatic.server import H11Protocol, HttpToolsProtocol
from flashstatic.server.headlimit import MAX_HEAD_BYTES
from support import write_tree

PAGE = os.sysconf("SC_PAGE_SIZE")
# Answers the HTTP parsers give (uvicorn's own text), as opposed to flashstatic's.
PARSER_REFUSAL = b"Invalid HTTP request received."

SERVERS = {
    "ours-httptools": {"http": HttpToolsProtocol},
    "ours-h11": {"http": H11Protocol},
    "stock-httptools": {"http": "httptools"},
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "root", {"hello.txt": "hello", "big.bin": os.urandom(300_000)})


def exchange(url: str, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def request(target: bytes, method: bytes = b"GET", extra: bytes = b"") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + extra + b"\r\n"


# (request bytes, the status, who answers: "parser" or text flashstatic puts in the body)
MALFORMED = {
    "raw non-UTF-8 bytes in the path": (request(b"/\xff\xfe.txt"), 400, "parser"),
    "raw latin-1 byte in the path": (request(b"/hell\xe9.txt"), 400, "parser"),
    "percent-encoded non-UTF-8": (request(b"/%ff%fe.txt"), 400, b"not valid UTF-8"),
    "overlong UTF-8 dot-dot": (request(b"/%c0%ae%c0%ae/hello.txt"), 400, b"not valid UTF-8"),
    "NUL": (request(b"/hello.txt%00.js"), 404, b"NUL in path"),
    "control character": (request(b"/hello.txt%01.js"), 400, b"control character"),
    "OPTIONS *": (request(b"*", b"OPTIONS"), 400, b"must start with '/'"),
    "absolute-form climbing out": (request(b"http://evil.example/../../etc/passwd"), 400, b"climbs above"),
    "space in the target": (request(b"/hel lo.txt"), 400, "parser"),
    "header name with a space": (request(b"/hello.txt", extra=b"Bad Header: 1\r\n"), 400, "parser"),
    "not HTTP at all": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "parser"),
    "CONNECT": (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", None, None),
    "Content-Length and chunked both": (  # h11 lets chunked win and closes after (RFC 9112 6.3)
        request(b"/hello.txt", extra=b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
        None,
        None,
    ),
    "absurd Content-Length": (
        request(b"/hello.txt", extra=b"Content-Length: 99999999999999999999999\r\n"),
        400,
        "parser",
    ),
    "PUT on a file": (request(b"/hello.txt", b"PUT"), 405, b"Method Not Allowed"),
}


@pytest.mark.parametrize("server", SERVERS)
def test_malformed_requests_get_a_clear_4xx(server: str, root: Path, live_server) -> None:
    with live_server(FlashStatic(directory=root), **SERVERS[server]) as url:
        for name, (data, status, who) in MALFORMED.items():
            reply = exchange(url, data)
            if status is None:  # the RFC allows either refusing it or answering and closing
                assert reply == b"" or status_of(reply) < 500, (name, reply[:200])
            else:
                assert status_of(reply) == status, (name, reply[:200])
            if who == "parser" and server != "ours-h11":
                assert reply.endswith(PARSER_REFUSAL), (name, reply[-200:])
            elif isinstance(who, bytes):
                assert who in reply, (name, reply[-200:])
        assert status_of(exchange(url, request(b"/hello.txt"))) == 200  # and it goes on


@pytest.mark.parametrize("server", SERVERS)
def test_absolute_form_is_served_like_origin_form(server: str, root: Path, live_server) -> None:
    with live_server(FlashStatic(directory=root), **SERVERS[server]) as url:
        reply = exchange(url, request(b"http://localhost/hello.txt"))
        assert status_of(reply) == 200 and reply.endswith(b"\r\n\r\nhello"), reply


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def _send_endless_header(url: str, total: int) -> bytes:
    """A header value that keeps coming: returns what the server answered."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nX-Flood: ")
        piece = b"a" * 65536
        try:
            for _ in range(total // len(piece)):
                sock.sendall(piece)
        except OSError:
            pass  # the server closed after its lingering read: what it said is already here
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    return reply


def test_request_heads_are_bounded(root: Path, live_server) -> None:
    with live_server(FlashStatic(directory=root), http=HttpToolsProtocol) as url:
        reply = exchange(url, request(b"/hello.txt", extra=b"X-Big: " + b"b" * 100_000 + b"\r\n"))
        assert status_of(reply) == 431 and b"request head exceeds" in reply
        reply = exchange(url, request(b"/" + b"u" * 100_000))
        assert status_of(reply) == 414
        many = b"".join(b"X-%d: y\r\n" % i for i in range(20_000))
        assert status_of(exchange(url, request(b"/hello.txt", extra=many))) == 431
        # Under the bound, twice on one keep-alive connection: the count starts again per request.
        fat = b"X-Fat: " + b"f" * (MAX_HEAD_BYTES - 4096) + b"\r\n"
        both = request(b"/hello.txt", extra=fat).replace(b"Connection: close\r\n", b"") + request(
            b"/hello.txt", extra=fat
        )
        reply = exchange(url, both)
        assert reply.count(b"HTTP/1.1 200 OK") == 2, reply[:300]

        before = _rss()
        reply = _send_endless_header(url, 48 * 1024 * 1024)
        assert _rss() - before < 16 * 1024 * 1024  # without the bound: more than was sent
        assert reply.startswith(b"HTTP/1.1 431 ")
        assert status_of(exchange(url, request(b"/hello.txt"))) == 200


# -- Range abuse --------------------------------------------------------------------------------


def _parts(reply: bytes) -> tuple[dict[bytes, bytes], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    assert int(headers[b"content-length"]) == len(body)
    return headers, body


RANGE_ABUSE = {
    "5,000 one-byte ranges": ",".join(f"{i}-{i}" for i in range(0, 10_000, 2)),
    "a thousand copies of the whole file": ",".join(["0-"] * 1000),
    "32 overlapping ranges adding up past the size": ",".join(f"{i}-{i + 20_000}" for i in range(0, 32_000, 1000)),
    "31 tiny ranges (the most parts allowed)": ",".join(f"{i * 9000}-{i * 9000}" for i in range(31)),
    "a huge first position": "99999999999999999999999999999-",
    "a thousand-digit position": "1" * 1000 + "-",
    "a huge suffix": "-99999999999999999999999999999",
    "whitespace padding": " " * 30_000 + "0-1",
}


@pytest.mark.parametrize("server", ["ours-httptools", "stock-httptools"])
def test_range_abuse_is_never_amplified(server: str, root: Path, live_server) -> None:
    size = (root / "big.bin").stat().st_size
    data = (root / "big.bin").read_bytes()
    with live_server(FlashStatic(directory=root), **SERVERS[server]) as url:
        for name, spec in RANGE_ABUSE.items():
            reply = exchange(url, request(b"/big.bin", extra=f"Range: bytes={spec}\r\n".encode()))
            headers, body = _parts(reply)
            status = status_of(reply)
            assert status in (200, 206, 416), name
            # At most the file once, plus part headers for at most max_ranges parts.
            assert len(body) <= size + 32 * 200, name
            if status == 200:
                assert body == data, name
            elif status == 206 and b"content-range" in headers:
                first, last = map(
                    int, re.fullmatch(rb"bytes (\d+)-(\d+)/%d" % size, headers[b"content-range"]).groups()
                )
                assert body == data[first : last + 1], name
            elif status == 206:
                boundary = re.search(rb"boundary=(\S+)", headers[b"content-type"]).group(1)
                assert 1 < body.count(b"--" + boundary + b"\r\n") <= 32, name
            else:
                assert headers[b"content-range"] == f"bytes */{size}".encode() and body == b"", name
