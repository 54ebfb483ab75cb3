"""The hot path: cache hits answered without ASGI must look exactly like the ASGI answers.

``flashstatic serve``'s httptools protocol writes cache hits itself (flashstatic/server/cached.py).
Every test here sends the same bytes to a stock uvicorn and to one with our protocol, both
running the same FlashStatic app over the same tree, and compares what comes back byte for byte
(after masking the Date header and multipart boundaries, which differ by design).
"""

from __future__ import annotations

import gzip
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from support import write_tree

from flashstatic import FlashStatic
from flashstatic.server import HttpToolsProtocol
from flashstatic.server import cached

@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    script = b"console.log('compressible');\n" * 200
    write_tree(root, {
        "small.txt": b"0123456789" * 100,
        "page.html": "<h1>caf\u00e9</h1>",
        "app.js": script,
        "app.js.gz": gzip.compress(script, mtime=0),
        "big.bin": bytes(range(256)) * 1024,  # beyond the small-body cache: never a cache answer
    })
    return root


def _app(root: Path, **options: Any) -> FlashStatic:
    async def dynamic(request: Any) -> PlainTextResponse:
        return PlainTextResponse(f"dynamic {request.url.path}")

    inner = Starlette(routes=[Route("/dynamic", dynamic)])
    return FlashStatic(inner, directory=root, prefix="/static", **options)


def _exchange(url: str, payload: bytes) -> bytes:
    """Send ``payload`` (requests, pipelined) and read until the server closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(payload)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def _request(target: bytes, *headers: bytes, method: bytes = b"GET", version: bytes = b"1.1") -> bytes:
    lines = [method + b" " + target + b" HTTP/" + version, b"Host: localhost", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _close(target: bytes = b"/static/small.txt") -> bytes:
    return _request(target, b"Connection: close")


def _masked(reply: bytes) -> bytes:
    reply = re.sub(rb"(?im)^date: [^\r]*\r$", b"date: *\r", reply)
    return re.sub(rb"[0-9a-f]{32}", b"BOUNDARY", reply)


@pytest.fixture
def servers(live_server: Any, tree: Path) -> Iterator[tuple[str, str, list[int]]]:
    """(stock uvicorn URL, our protocol's URL, a list that grows by one per cache answer)."""
    written: list[int] = []
    original = cached.encode_response

    def counting(response: Any, *args: Any, **kwargs: Any) -> bytes:
        written.append(response[0])
        return original(response, *args, **kwargs)

    with live_server(_app(tree), http="httptools") as stock, \
            live_server(_app(tree), http=HttpToolsProtocol) as ours:
        cached.encode_response = counting
        try:
            yield stock, ours, written
        finally:
            cached.encode_response = original


def _same(servers: tuple[str, str, list[int]], payload: bytes) -> bytes:
    """The second exchange of ``payload``: the first fills the caches with what it needs."""
    stock, ours, written = servers
    for url in (stock, ours):
        _exchange(url, payload)
    written.clear()
    expected, got = _exchange(stock, payload), _exchange(ours, payload)
    assert _masked(got) == _masked(expected)
    return got


def _etag(reply: bytes) -> bytes:
    match = re.search(rb"(?im)^etag: ([^\r]*)\r$", reply)
    assert match is not None
    return match.group(1)


def test_plain_hits_are_answered_from_the_cache_with_uvicorns_bytes(servers: Any) -> None:
    reply = _same(servers, _request(b"/static/small.txt") + _request(b"/static/page.html")
                  + _request(b"/static/small.txt", method=b"HEAD") + _close())
    assert reply.count(b"HTTP/1.1 200 OK") == 4
    assert b"server: uvicorn\r\n" in reply and b"0123456789" * 100 in reply
    assert servers[2] == [200, 200, 200, 200]


def test_revalidation_and_ranges_from_the_cache(servers: Any) -> None:
    etag = _etag(_exchange(servers[0], _close()))
    reply = _same(servers, b"".join([
        _request(b"/static/small.txt", b"If-None-Match: " + etag),
        _request(b"/static/small.txt", b"If-Match: \"other\""),
        _request(b"/static/small.txt", b"Range: bytes=10-19"),
        _request(b"/static/small.txt", b"Range: bytes=0-0,-1"),
        _request(b"/static/small.txt", b"Range: bytes=5000-"),
        _close(),
    ]))
    statuses = [int(code) for code in re.findall(rb"HTTP/1.1 (\d{3})", reply)]
    assert statuses == [304, 412, 206, 206, 416, 200]
    assert servers[2] == statuses


def test_negotiated_encoding_from_the_cache(servers: Any) -> None:
    reply = _same(servers, _request(b"/static/app.js", b"Accept-Encoding: gzip, br;q=0")
                  + _request(b"/static/app.js", b"Connection: close"))
    assert b"content-encoding: gzip\r\n" in reply and b"vary: Accept-Encoding\r\n" in reply
    assert servers[2] == [200, 200]


def test_connection_close_and_http_1_0_close_like_uvicorn(servers: Any) -> None:
    assert b"connection: close\r\n" in _same(servers, _request(b"/static/small.txt", version=b"1.0"))
    assert servers[2] == [200]
    assert b"connection: close\r\n" in _same(servers, _close())
    assert servers[2] == [200]


def test_everything_else_takes_the_asgi_path_in_order(servers: Any) -> None:
    """Misses, large files, the app's routes, other methods and requests with bodies go through
    ASGI; requests pipelined behind one of those wait for it (uvicorn queues them), so the order
    and framing hold whichever way each is answered."""
    reply = _same(servers, b"".join([
        _request(b"/static/small.txt"),
        _request(b"/dynamic"),
        _request(b"/static/small.txt"),
        _request(b"/static/nothing-here.txt"),
        _request(b"/static/big.bin", b"Range: bytes=0-99"),
        _request(b"/static/small.txt", b"Content-Length: 5", method=b"POST") + b"hello",
        _request(b"/static/page.html", b"Content-Length: 3") + b"abc",
        _close(b"/static/page.html"),
    ]))
    statuses = [int(code) for code in re.findall(rb"HTTP/1.1 (\d{3})", reply)]
    assert statuses == [200, 200, 200, 404, 206, 405, 200, 200]
    assert servers[2][:1] == [200]


def test_a_request_body_is_skipped_after_a_cache_answer(servers: Any) -> None:
    reply = _same(servers, _request(b"/static/page.html", b"Content-Length: 3") + b"abc"
                  + _request(b"/static/page.html", b"Transfer-Encoding: chunked") + b"3\r\nabc\r\n0\r\n\r\n"
                  + _close(b"/static/page.html"))
    assert reply.count(b"HTTP/1.1 200 OK") == 3
    assert servers[2] == [200, 200, 200]


def test_many_pipelined_cache_answers(servers: Any) -> None:
    _, ours, written = servers
    _exchange(ours, _close())
    written.clear()
    reply = _exchange(ours, _request(b"/static/small.txt") * 3000 + _close())
    assert reply.count(b"HTTP/1.1 200 OK") == 3001
    assert len(written) == 3001


def test_a_stale_entry_is_revalidated_through_asgi(live_server: Any, tree: Path) -> None:
    """After the revalidation interval the cache may not answer alone: the full path serves
    the stale entry and re-checks the disk, and the change is seen."""
    app = _app(tree, revalidate_interval=0)
    with live_server(app, http=HttpToolsProtocol) as url:
        first = _exchange(url, _close())
        (tree / "small.txt").write_bytes(b"changed")
        second = _exchange(url, _close())
    assert first.endswith(b"0123456789" * 100)
    assert second.endswith(b"changed")


def test_outer_middleware_sees_every_response(live_server: Any, tree: Path) -> None:
    """With FlashStatic wrapped by someone else's middleware, there is no shortcut."""
    seen: list[int] = []
    app = _app(tree)

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen.append(message["status"])
            await send(message)
        await app(scope, receive, spy)

    with live_server(outer, http=HttpToolsProtocol) as url:
        _exchange(url, _request(b"/static/small.txt") + _close())
    assert seen == [200, 200]


def test_access_log_lines_are_uvicorns(live_server: Any, tree: Path, log_lines: Any) -> None:
    lines = log_lines("uvicorn.access")
    payload = _request(b"/static/small.txt?v=1") + _request(b"/static/small.txt", method=b"HEAD") + _close()
    logs = []
    for protocol in ("httptools", HttpToolsProtocol):
        with live_server(_app(tree), http=protocol, log_config=None, log_level="info") as url:
            _exchange(url, payload)
            lines.clear()
            _exchange(url, payload)
        logs.append([re.sub(r":\d+ - ", ":* - ", line) for line in lines])
    assert logs[0] == logs[1]
    assert logs[0][0] == '127.0.0.1:* - "GET /static/small.txt?v=1 HTTP/1.1" 200'


def test_cache_answers_are_logged_and_counted_like_the_others(live_server: Any, tree: Path,
                                                             access_records: list[str]) -> None:
    """The first request goes through ASGI (a miss), the second is answered from the cache: the
    flashstatic.access lines and the traffic counters cannot tell them apart."""
    from flashstatic.server.accounting import TRAFFIC

    request = _request(b"/static/page.html?v=1", b"Referer: http://example.test/", b"User-Agent: probe/1",
                       b"Connection: close")
    with live_server(_app(tree), http=HttpToolsProtocol) as url:
        before = TRAFFIC.as_dict()
        written: list[int] = []
        original = cached.encode_response
        cached.encode_response = lambda response, *a, **k: written.append(1) or original(response, *a, **k)
        try:
            for payload in (request, request, _close(b"/static/page.html")):
                _exchange(url, payload)
        finally:
            cached.encode_response = original
        after = TRAFFIC.as_dict()
    assert len(written) == 2  # the second and third were answered from the cache
    size = len("<h1>caf\u00e9</h1>".encode())
    assert after["responses"] - before["responses"] == 3
    assert after["body_bytes"] - before["body_bytes"] == 3 * size
    masked = [re.sub(r"\[[^\]]*\]", "[time]", line) for line in access_records]
    expected = f'127.0.0.1 - - [time] "GET /static/page.html?v=1 HTTP/1.1" 200 {size} "http://example.test/" "probe/1"'
    assert masked[:2] == [expected, expected]
    assert masked[2].startswith('127.0.0.1 - - [time] "GET /static/page.html HTTP/1.1" 200')
