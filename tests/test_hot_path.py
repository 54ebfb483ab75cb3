"""The hot path: cache hits answered without ASGI must look exactly like the ASGI answers.

``flashstatic serve``'s httptools protocol writes cache hits itself (flashstatic/server/cached.py).
Every test here sends the same bytes to a stock uvicorn and to one with our protocol, both
running the same FlashStatic app over the same tree, and compares what comes back byte for byte
(after masking the Date header and multipart boundaries, which differ by design).
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from flashstatic import FlashStatic
from flashstatic.server import HttpToolsProtocol, cached
from flashstatic.server.uvicorn_range import release
from support import read_responses, write_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    script = b"console.log('compressible');\n" * 200
    write_tree(
        root,
        {
            "small.txt": b"0123456789" * 100,
            "page.html": "<h1>caf\u00e9</h1>",
            "app.js": script,
            "app.js.gz": gzip.compress(script, mtime=0),
            "big.bin": bytes(range(256)) * 1024,  # beyond the small-body cache: never a cache answer
        },
    )
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
        reply = bytearray()
        while chunk := sock.recv(1 << 20):
            reply += chunk
    return bytes(reply)


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
    with (
        live_server(_app(tree), http="httptools") as stock,
        live_server(_app(tree), http=HttpToolsProtocol) as ours,
        counting_cache_answers() as written,
    ):
        yield stock, ours, written


@contextmanager
def counting_cache_answers() -> Iterator[list[int]]:
    """The statuses of the responses our protocol writes from the cache (repeats included)."""
    written: list[int] = []
    original = cached.CachedAnswersMixin.send_hit

    def counting(self: Any, hit: cached.AnsweredHit, wire: bytes, line: str | None = None) -> None:
        written.append(hit.status)
        original(self, hit, wire, line)

    cached.CachedAnswersMixin.send_hit = counting  # type: ignore[method-assign]
    try:
        yield written
    finally:
        cached.CachedAnswersMixin.send_hit = original  # type: ignore[method-assign]


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
    reply = _same(
        servers,
        _request(b"/static/small.txt")
        + _request(b"/static/page.html")
        + _request(b"/static/small.txt", method=b"HEAD")
        + _close(),
    )
    assert reply.count(b"HTTP/1.1 200 OK") == 4
    assert b"server: uvicorn\r\n" in reply and b"0123456789" * 100 in reply
    assert servers[2] == [200, 200, 200, 200]


def test_revalidation_and_ranges_from_the_cache(servers: Any) -> None:
    etag = _etag(_exchange(servers[0], _close()))
    reply = _same(
        servers,
        b"".join(
            [
                _request(b"/static/small.txt", b"If-None-Match: " + etag),
                _request(b"/static/small.txt", b'If-Match: "other"'),
                _request(b"/static/small.txt", b"Range: bytes=10-19"),
                _request(b"/static/small.txt", b"Range: bytes=0-0,-1"),
                _request(b"/static/small.txt", b"Range: bytes=5000-"),
                _close(),
            ]
        ),
    )
    statuses = [int(code) for code in re.findall(rb"HTTP/1.1 (\d{3})", reply)]
    assert statuses == [304, 412, 206, 206, 416, 200]
    assert servers[2] == statuses


def test_negotiated_encoding_from_the_cache(servers: Any) -> None:
    reply = _same(
        servers,
        _request(b"/static/app.js", b"Accept-Encoding: gzip, br;q=0")
        + _request(b"/static/app.js", b"Connection: close"),
    )
    assert b"content-encoding: gzip\r\n" in reply and b"vary: Accept-Encoding\r\n" in reply
    assert servers[2] == [200, 200]


def test_bodies_compressed_here_from_the_cache(live_server: Any, tree: Path) -> None:
    """compress=True: once a file is compressed, its gzip answers (GET, HEAD, a 304 for its own
    ETag) come from the cache as the ASGI path gives them, and a Range still gets identity."""
    gzip_request = b"Accept-Encoding: gzip"
    with (
        live_server(_app(tree, compress=True), http="httptools") as stock,
        live_server(_app(tree, compress=True), http=HttpToolsProtocol) as ours,
        counting_cache_answers() as written,
    ):
        etag = _etag(_exchange(stock, _request(b"/static/small.txt", gzip_request, b"Connection: close")))
        reply = _same(
            (stock, ours, written),
            b"".join(
                [
                    _request(b"/static/small.txt", gzip_request),
                    _request(b"/static/small.txt", gzip_request, method=b"HEAD"),
                    _request(b"/static/small.txt", gzip_request, b"If-None-Match: " + etag),
                    _request(b"/static/small.txt", gzip_request, b"Range: bytes=10-19"),
                    _close(),
                ]
            ),
        )
    statuses = [int(code) for code in re.findall(rb"HTTP/1.1 (\d{3})", reply)]
    assert statuses == [200, 200, 304, 206, 200]
    assert written == statuses
    assert reply.count(b"content-encoding: gzip\r\n") == 2 and reply.count(b"vary: Accept-Encoding\r\n") == 5
    assert etag.endswith(b'-gzip"')
    head, rest = reply.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?im)^content-length: (\d+)\r$", head + b"\r\n").group(1))  # type: ignore[union-attr]
    assert gzip.decompress(rest[:length]) == b"0123456789" * 100


def test_connection_close_and_http_1_0_close_like_uvicorn(servers: Any) -> None:
    # uvicorn announces the close HTTP/1.0 implies from 0.53 on; before, only a requested one.
    implied = release(uvicorn.__version__) >= (0, 53)
    assert (b"connection: close\r\n" in _same(servers, _request(b"/static/small.txt", version=b"1.0"))) == implied
    assert servers[2] == [200]
    assert b"connection: close\r\n" in _same(
        servers, _request(b"/static/small.txt", b"Connection: close", version=b"1.0")
    )
    assert servers[2] == [200]
    assert b"connection: close\r\n" in _same(servers, _close())
    assert servers[2] == [200]


def test_everything_else_takes_the_asgi_path_in_order(servers: Any) -> None:
    """Misses, large files, the app's routes, other methods and requests with bodies go through
    ASGI; requests pipelined behind one of those wait for it (uvicorn queues them), so the order
    and framing hold whichever way each is answered."""
    reply = _same(
        servers,
        b"".join(
            [
                _request(b"/static/small.txt"),
                _request(b"/dynamic"),
                _request(b"/static/small.txt"),
                _request(b"/static/nothing-here.txt"),
                _request(b"/static/big.bin", b"Range: bytes=0-99"),
                _request(b"/static/small.txt", b"Content-Length: 5", method=b"POST") + b"hello",
                _request(b"/static/page.html", b"Content-Length: 3") + b"abc",
                _close(b"/static/page.html"),
            ]
        ),
    )
    statuses = [int(code) for code in re.findall(rb"HTTP/1.1 (\d{3})", reply)]
    assert statuses == [200, 200, 200, 404, 206, 405, 200, 200]
    assert servers[2][:1] == [200]


def test_a_request_body_is_skipped_after_a_cache_answer(servers: Any) -> None:
    reply = _same(
        servers,
        _request(b"/static/page.html", b"Content-Length: 3")
        + b"abc"
        + _request(b"/static/page.html", b"Transfer-Encoding: chunked")
        + b"3\r\nabc\r\n0\r\n\r\n"
        + _close(b"/static/page.html"),
    )
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


class _Passing:
    """A middleware that changes no response of the static app it wraps, and says so by
    passing the app's shortcut on."""

    def __init__(self, app: FlashStatic) -> None:
        self.app = app
        self.seen = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen += 1
        await self.app(scope, receive, send)

    def server_shortcut(self) -> Any:
        return self.app.server_shortcut()


def test_a_middleware_may_pass_the_shortcut_on(live_server: Any, tree: Path) -> None:
    """The protocol finds the shortcut by asking the app for it, not by the app's class, so a
    wrapper that offers it gets cache hits answered without ASGI; its own routes still run."""
    app = _Passing(_app(tree))
    with live_server(app, http=HttpToolsProtocol) as url, counting_cache_answers() as written:
        _exchange(url, _close())  # a miss: through the wrapper, and it fills the caches
        through_asgi = app.seen
        hit, dynamic = _exchange(url, _close()), _exchange(url, _close(b"/dynamic"))
    assert hit.startswith(b"HTTP/1.1 200 OK") and hit.endswith(b"0123456789" * 100)
    assert dynamic.startswith(b"HTTP/1.1 200 OK") and dynamic.endswith(b"dynamic /dynamic")
    assert written == [200]
    assert app.seen == through_asgi + 1  # /dynamic only


def test_an_app_offering_something_else_gets_no_shortcut(live_server: Any, tree: Path) -> None:
    """An attribute of that name on some other app is not taken for the shortcut."""
    static = _app(tree)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await static(scope, receive, send)

    app.server_shortcut = lambda: static  # type: ignore[attr-defined]
    with live_server(app, http=HttpToolsProtocol) as url, counting_cache_answers() as written:
        replies = [_exchange(url, _close()) for _ in range(2)]
    assert all(reply.startswith(b"HTTP/1.1 200 OK") for reply in replies)
    assert written == []


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


def test_cache_answers_are_logged_and_counted_like_the_others(
    live_server: Any, tree: Path, access_records: list[str]
) -> None:
    """The first request goes through ASGI (a miss), the second is answered from the cache: the
    flashstatic.access lines and the traffic counters cannot tell them apart."""
    from flashstatic.server.accounting import TRAFFIC

    request = _request(
        b"/static/page.html?v=1", b"Referer: http://example.test/", b"User-Agent: probe/1", b"Connection: close"
    )
    with live_server(_app(tree), http=HttpToolsProtocol) as url:
        before = TRAFFIC.as_dict()
        with counting_cache_answers() as written:
            for payload in (request, request, _close(b"/static/page.html")):
                _exchange(url, payload)
        after = TRAFFIC.as_dict()
    assert len(written) == 2  # the second and third were answered from the cache
    size = len("<h1>caf\u00e9</h1>".encode())
    assert after["responses"] - before["responses"] == 3
    assert after["body_bytes"] - before["body_bytes"] == 3 * size
    masked = [re.sub(r"\[[^\]]*\]", "[time]", line) for line in access_records]
    expected = f'127.0.0.1 - - [time] "GET /static/page.html?v=1 HTTP/1.1" 200 {size} "http://example.test/" "probe/1"'
    assert masked[:2] == [expected, expected]
    assert masked[2].startswith('127.0.0.1 - - [time] "GET /static/page.html HTTP/1.1" 200')


# Requests repeated byte for byte on a keep-alive connection (flashstatic/server/repeats.py).


class _Connection:
    """One keep-alive connection, one request at a time, each response read whole."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.buffer = b""

    def ask(self, request: bytes) -> bytes:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        match = re.search(rb"(?im)^content-length: (\d+)\r?$", head)
        size = int(match.group(1)) if match and not request.startswith(b"HEAD") else 0
        while len(self.buffer) < size:
            self._read()
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return head + b"\r\n\r\n" + body

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


@contextmanager
def counting_lane_results(method: str) -> Iterator[list[bool]]:
    """What each call of one of the fast lane's methods answered (fastlane.py): whether it
    answered the read it was given."""
    from flashstatic.server import fastlane

    results: list[bool] = []
    original = getattr(fastlane.FastLaneMixin, method)

    def counting(self: Any, *arguments: Any, **keywords: Any) -> bool:
        results.append(original(self, *arguments, **keywords))
        return results[-1]

    setattr(fastlane.FastLaneMixin, method, counting)
    try:
        yield results
    finally:
        setattr(fastlane.FastLaneMixin, method, original)


def counting_repeats() -> Any:
    """Whether each read looked up as a repeat (by its bytes, or by its answer key) was
    answered again."""
    return counting_lane_results("_answer_again")


REPEATED = [
    _request(b"/static/small.txt", b"User-Agent: repeat/1", b"Accept: */*"),
    _request(b"/static/app.js", b"Accept-Encoding: gzip"),
    _request(b"/static/small.txt", method=b"HEAD"),
    _request(b"/static/small.txt", b"Range: bytes=10-19"),
    _request(b"/static/small.txt?v=3"),
    _request(b"/static/big.bin"),  # a large file: the head again, the body by sendfile (direct.py)
    _request(b"/static/big.bin", b"Range: bytes=100-200000"),
]


@pytest.mark.parametrize(
    "request_bytes", REPEATED, ids=["plain", "gzip", "head", "range", "query", "file", "file-range"]
)
def test_a_repeated_request_gets_uvicorns_bytes_again(live_server: Any, tree: Path, request_bytes: bytes) -> None:
    replies: dict[str, list[bytes]] = {}
    with counting_repeats() as repeated:
        for name, protocol in (("stock", "httptools"), ("ours", HttpToolsProtocol)):
            with live_server(_app(tree), http=protocol) as url:
                connection = _Connection(url)
                replies[name] = [_masked(connection.ask(request_bytes)) for _ in range(7)]
                connection.close()
    assert replies["ours"] == replies["stock"]
    assert len(set(replies["ours"])) == 1
    # The first read may be a miss (ASGI); the next is answered by the cache alone, the one
    # after that too and remembered (a request is remembered when seen again), every later
    # one repeated.
    assert repeated[-4:] == [True] * 4


def test_a_repeat_is_not_given_after_the_file_changed(live_server: Any, tree: Path) -> None:
    request = _request(b"/static/small.txt")
    with (
        live_server(_app(tree, revalidate_interval=0.5), http=HttpToolsProtocol) as url,
        counting_repeats() as repeated,
    ):
        connection = _Connection(url)
        # Until the request is repeated by its bytes: remembered by its key, then by them.
        for _ in range(10):
            assert connection.ask(request).endswith(b"0123456789" * 100)
            if repeated.count(True) >= 3:
                break
        assert repeated.count(True) >= 3
        (tree / "small.txt").write_bytes(b"changed")
        time.sleep(0.6)
        repeated.clear()
        looks_before: list[int] = []  # the repeats' looks before each request after the change

        def ask() -> bytes:
            looks_before.append(len(repeated))
            return connection.ask(request)

        # After the interval the full path serves the stale entry while a helper checks the
        # disk (stale-while-revalidate); once the change is seen, never the old bytes again.
        replies = [ask() for _ in range(3)]
        while not replies[-1].endswith(b"changed") and len(replies) < 200:
            time.sleep(0.01)
            replies.append(ask())
        first_new = len(replies) - 1
        replies += [ask() for _ in range(6)]
        connection.close()
    assert all(reply.endswith(b"changed") for reply in replies[first_new:])
    # Both remembered ways (bytes, key) were looked at and refused the old response.
    assert looks_before[1] - looks_before[0] == 2
    assert not any(repeated[: looks_before[first_new]]) and any(repeated[looks_before[first_new] :])


def test_repeats_renew_the_date(live_server: Any, tree: Path) -> None:
    request = _request(b"/static/small.txt")
    with live_server(_app(tree, revalidate_interval=60), http=HttpToolsProtocol) as url, counting_repeats() as repeated:
        connection = _Connection(url)
        connection.ask(request)  # a miss, through ASGI
        connection.ask(request)  # a cache answer: remembered by its answer key
        connection.ask(request)  # answered again by its key
        dates = []
        for _ in range(3):
            reply = connection.ask(request)
            dates.append(re.search(rb"(?im)^date: ([^\r]*)\r$", reply).group(1))  # type: ignore[union-attr]
            time.sleep(1.1)
        connection.close()
    assert repeated == [True] * 4
    assert len(set(dates)) == 3


def test_repeats_keep_a_connection_alive_and_an_idle_one_still_times_out(live_server: Any, tree: Path) -> None:
    request = _request(b"/static/small.txt")
    app = _app(tree, revalidate_interval=60)
    with live_server(app, http=HttpToolsProtocol, timeout_keep_alive=1) as url, counting_repeats() as repeated:
        connection = _Connection(url)
        start = time.monotonic()
        # Well past the 1 s timeout, never idle for 1 s: only repeats after the first three,
        # so only the timer armed for the third response, which must not close the connection.
        while time.monotonic() - start < 2.5:
            time.sleep(0.25)
            assert connection.ask(request).endswith(b"0123456789" * 100)
        idle_from = time.monotonic()
        assert len(repeated) >= 6 and all(repeated)
        connection.sock.settimeout(3)
        assert connection.closed_by_server()
        assert 0.9 < time.monotonic() - idle_from < 2.0
        connection.close()


def test_one_keep_alive_timer_per_connection_keeps_uvicorns_timeout(live_server: Any, tree: Path) -> None:
    """The keep-alive timer is armed once per connection (server/keepalive.py): parsed cache
    answers and the app's responses keep a connection alive past the timeout, a response
    slower than the timeout is not cut, and an idle connection still closes after it."""

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(1.6 if scope["path"] == "/slow" else 0)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    app = FlashStatic(slow, directory=tree, prefix="/static", revalidate_interval=60)
    with live_server(app, http=HttpToolsProtocol, timeout_keep_alive=1) as url, counting_repeats() as repeated:
        connection = _Connection(url)
        start, number = time.monotonic(), 0
        while time.monotonic() - start < 2.5:
            time.sleep(0.25)
            number += 1
            # Never the same target twice, so each is parsed: cache answers and the app's.
            assert connection.ask(_request(b"/static/small.txt?n=%d" % number)).endswith(b"0123456789" * 100)
            assert connection.ask(_request(b"/app", b"X-N: %d" % number)).endswith(b"ok")
        assert connection.ask(_request(b"/slow")).endswith(b"ok")  # busy longer than the timeout
        idle_from = time.monotonic()
        connection.sock.settimeout(3)
        assert connection.closed_by_server()
        assert 0.9 < time.monotonic() - idle_from < 2.0
        connection.close()
    assert not any(repeated)


def test_a_request_split_across_reads_or_pipelined_is_not_a_repeat(servers: Any) -> None:
    """Only a read holding exactly one whole request is remembered or repeated."""
    stock, ours, _ = servers
    request = _request(b"/static/small.txt")
    with counting_repeats() as repeated:
        for url in (stock, ours):
            connection = _Connection(url)
            connection.ask(request)
            connection.sock.sendall(request[:10])
            time.sleep(0.05)
            split = connection.ask(request[10:])
            both = connection.ask(request + request) + connection.ask(b"")
            connection.close()
            if url == ours:
                ours_replies = [_masked(split), _masked(both)]
            else:
                stock_replies = [_masked(split), _masked(both)]
    assert ours_replies == stock_replies
    assert not any(repeated)


def test_a_read_holding_only_a_remembered_request_line_waits_for_the_rest(servers: Any) -> None:
    """A plain request's answer key is its request line: a read of just that line is not a
    request to answer, whatever the rest of the head will ask."""
    stock, ours, _ = servers
    request = _request(b"/static/small.txt")
    line_end = request.find(b"\r\n")
    replies = []
    for url in (stock, ours):
        connection = _Connection(url)
        etag = _etag(connection.ask(request))
        connection.ask(request)  # remembered by its key, and by its bytes
        connection.sock.sendall(request[:line_end])
        time.sleep(0.05)
        rest = request[line_end:-2] + b"If-None-Match: " + etag + b"\r\nConnection: close\r\n\r\n"
        connection.sock.sendall(rest)
        reply = bytearray()
        while chunk := connection.sock.recv(1 << 16):
            reply += chunk
        connection.close()
        replies.append(_masked(bytes(reply)))
    assert replies[0].startswith(b"HTTP/1.1 304 ") and replies[1] == replies[0]


# The fast lane: a read holding one whole head, parsed by a parser of its own (fastlane.py).


def counting_lane() -> Any:
    """Whether each read the fast lane parsed was answered there."""
    return counting_lane_results("_answer_head")


def test_requests_that_differ_take_the_fast_lane_with_uvicorns_bytes(servers: Any) -> None:
    stock, ours, written = servers
    variants = [_request(b"/static/small.txt", b"X-Req: %d" % n, b"User-Agent: lane/%d" % n) for n in range(12)] + [
        _request(b"/static/small.txt", b"X-Req: head", method=b"HEAD"),
        _request(b"/static/small.txt", b"Range: bytes=5-9", b"X-Req: range"),
        _request(b"/static/app.js", b"Accept-Encoding: gzip", b"X-Req: gzip"),
        _request(b"/static/small.txt", b"X-Req: close", b"Connection: close"),
    ]
    replies: dict[str, list[bytes]] = {}
    with counting_lane() as lane, counting_repeats() as repeated:
        for url in (stock, ours):
            for warm in (_request(b"/static/small.txt"), variants[-2]):
                _Connection(url).ask(warm)  # fills the caches, compressed body included
            connection = _Connection(url)
            replies[url] = [_masked(connection.ask(request)) for request in variants]
            assert connection.closed_by_server()
            connection.close()
    assert replies[ours] == replies[stock]
    # No two were the same bytes, and each was answered in the lane: the first of each answer
    # key parsed and answered from the caches, the other eleven plain ones by their key.
    assert lane[-5:] == [True] * 5
    assert repeated[-11:] == [True] * 11
    assert written[-len(variants) :] == [200] * 13 + [206, 200, 200]


def test_what_the_fast_lane_declines_takes_uvicorns_way(servers: Any) -> None:
    """A head split across reads, two requests in one read, a body, bare LF line ends and a
    request the parser refuses: never answered in the lane, each as stock uvicorn answers it."""
    stock, ours, _ = servers
    request = _request(b"/static/small.txt", b"X-Req: 1")
    with_body = b"GET /static/small.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nabcd"
    bare_lf = b"GET /static/small.txt HTTP/1.1\nHost: localhost\n\n"
    smuggled = b"GET /static/small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
    replies: dict[str, list[bytes]] = {}
    with counting_lane() as lane:
        for url in (stock, ours):
            connection = _Connection(url)
            connection.ask(request)  # fills the caches
            connection.ask(request)
            connection.sock.sendall(request[:10])
            time.sleep(0.05)
            got = [connection.ask(request[10:])]
            got.append(connection.ask(request + request) + connection.ask(b""))
            got.append(connection.ask(with_body))
            got.append(connection.ask(bare_lf))
            connection.close()
            got.append(_exchange(url, smuggled))
            replies[url] = [_masked(reply) for reply in got]
    assert replies[ours] == replies[stock]
    assert replies[ours][-1].startswith(b"HTTP/1.1 400 ")
    # The lane parsed the first two reads (a miss, then a hit); its first parser refused the
    # refused one, and a head split or followed by more bytes never reached it.
    assert lane == [False, True]


# Large files kept open, sent by the protocol with sendfile (flashstatic/server/direct.py).

BIG = bytes(range(256)) * 1024  # the tree's big.bin: over the small-body cache's limit


def _direct_count(app: FlashStatic) -> int:
    return app.stats()["transmissions"].get("direct", 0)


def test_a_large_file_kept_open_is_sent_directly_with_uvicorns_head(live_server: Any, tree: Path) -> None:
    payload = b"".join(
        [
            _request(b"/static/big.bin"),
            _request(b"/static/big.bin", b"Range: bytes=1000-70000"),
            _request(b"/static/small.txt"),
            _request(b"/dynamic"),
            _request(b"/static/big.bin", b"Range: bytes=0-9,20-29"),  # multipart: the ASGI way
            _request(b"/static/big.bin", b'If-Range: "other"', b"Range: bytes=5-9"),
            _close(b"/static/big.bin"),
        ]
    )
    replies = {}
    ours = _app(tree)
    with live_server(_app(tree), http="httptools") as stock_url, live_server(ours, http=HttpToolsProtocol) as url:
        for name, address in (("stock", stock_url), ("ours", url)):
            _exchange(address, _close(b"/static/big.bin"))  # opened (and kept) by the first request
            replies[name] = _exchange(address, payload)
    assert _masked(replies["ours"]) == _masked(replies["stock"])
    statuses = [int(code) for code in re.findall(rb"HTTP/1.1 (\d{3})", replies["ours"])]
    assert statuses == [200, 206, 200, 200, 206, 200, 200]
    assert replies["ours"].count(BIG) == 3 and BIG[1000:70001] in replies["ours"]
    # The first two; the rest were pipelined behind /dynamic, which uvicorn queues them behind.
    assert _direct_count(ours) == 2


def test_direct_responses_keep_pipelined_requests_in_order(live_server: Any, tree: Path) -> None:
    """A client slower than the file: the rest goes out from a task while the requests
    pipelined behind it wait their turn, as behind any response."""
    app = _app(tree)
    with live_server(app, http=HttpToolsProtocol) as url:
        _exchange(url, _close(b"/static/big.bin"))
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # the server must wait
            sock.sendall(
                _request(b"/static/big.bin") * 3
                + _request(b"/dynamic")
                + _request(b"/static/small.txt")
                + _close(b"/static/big.bin")
            )
            time.sleep(0.2)
            responses = read_responses(sock, 6)
    assert [status for status, _, _ in responses] == [200] * 6
    bodies = [body for _, _, body in responses]
    assert bodies == [BIG, BIG, BIG, b"dynamic /dynamic", b"0123456789" * 100, BIG]
    assert _direct_count(app) >= 1


def test_a_client_gone_mid_file_ends_one_response_and_nothing_leaks(live_server: Any, tree: Path) -> None:
    (tree / "large.bin").write_bytes(os.urandom(16 * 1024 * 1024))
    app = _app(tree)
    with live_server(app, http=HttpToolsProtocol) as url:
        _exchange(url, _close(b"/static/large.bin"))
        before = len(os.listdir("/proc/self/fd"))
        parts = urlsplit(url)
        for _ in range(100):
            with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
                sock.sendall(_request(b"/static/large.bin"))
                sock.recv(1000)
        deadline = time.monotonic() + 5
        while len(os.listdir("/proc/self/fd")) > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(os.listdir("/proc/self/fd")) <= before
        assert _exchange(url, _close(b"/static/large.bin")).endswith((tree / "large.bin").read_bytes()[-1000:])
    assert _direct_count(app) >= 100


def test_a_cold_window_is_paged_in_by_a_helper_first(live_server: Any, tree: Path) -> None:
    path = tree / "large.bin"
    data = os.urandom(8 * 1024 * 1024)
    path.write_bytes(data)
    app = _app(tree)
    with live_server(app, http=HttpToolsProtocol) as url:
        _exchange(url, _close(b"/static/large.bin"))
        before = app.stats()["disk"]["helper_reads"]
        with open(path, "rb") as file:
            os.fsync(file.fileno())
            os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        assert _exchange(url, _close(b"/static/large.bin")).endswith(data)
    assert _direct_count(app) == 1
    assert app.stats()["disk"]["helper_reads"] > before


def test_a_file_shrinking_under_a_direct_response_cuts_it(live_server: Any, tree: Path) -> None:
    path = tree / "large.bin"
    path.write_bytes(os.urandom(32 * 1024 * 1024))
    app = _app(tree)
    with live_server(app, http=HttpToolsProtocol) as url:
        _exchange(url, _close(b"/static/large.bin"))
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(_request(b"/static/large.bin"))
            reply = bytearray(sock.recv(65536))
            os.truncate(path, 1024 * 1024)
            while chunk := sock.recv(1 << 20):
                reply += chunk
        assert len(reply) < 32 * 1024 * 1024  # cut short, never padded: the connection closed
        assert _exchange(url, _close(b"/static/small.txt")).endswith(b"0123456789" * 100)
    assert _direct_count(app) == 1


def test_direct_responses_are_logged_and_counted(live_server: Any, tree: Path, access_records: list[str]) -> None:
    from flashstatic.server.accounting import TRAFFIC

    app = _app(tree)
    with live_server(app, http=HttpToolsProtocol) as url:
        _exchange(url, _close(b"/static/big.bin"))
        access_records.clear()
        before = TRAFFIC.as_dict()
        _exchange(
            url,
            _request(b"/static/big.bin?x=1", b"User-Agent: probe/2")
            + _close(
                b"/static/big.bin",
            ),
        )
        after = TRAFFIC.as_dict()
    assert _direct_count(app) == 2
    assert after["responses"] - before["responses"] == 2
    assert after["sendfile_bytes"] - before["sendfile_bytes"] == 2 * len(BIG)
    masked = [re.sub(r"\[[^\]]*\]", "[time]", line) for line in access_records]
    assert masked[0] == f'127.0.0.1 - - [time] "GET /static/big.bin?x=1 HTTP/1.1" 200 {len(BIG)} "-" "probe/2"'


def test_a_slow_repeated_file_response_outlives_the_keep_alive_timeout(live_server: Any, tree: Path) -> None:
    """A repeat skips uvicorn's data_received, which disarms the keep-alive timer when a
    request arrives: a large file going out slowly must not be cut when the timer fires."""
    data = os.urandom(8 * 1024 * 1024)
    (tree / "large.bin").write_bytes(data)
    request = _request(b"/static/large.bin")
    app = _app(tree, revalidate_interval=60)
    with live_server(app, http=HttpToolsProtocol, timeout_keep_alive=1) as url, counting_repeats() as repeated:
        connection = _Connection(url)
        for _ in range(2):  # a miss, then a direct answer: remembered by its answer key
            assert connection.ask(request).endswith(data[-1000:])
        connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        connection.sock.sendall(request)
        received = bytearray()
        started = time.monotonic()
        while len(received) < len(data) + 200:
            chunk = connection.sock.recv(256 * 1024)
            if not chunk:
                break
            received += chunk
            time.sleep(0.03)  # about 2.5 s in all: past the 1 s timeout
        connection.close()
    assert repeated == [True]
    assert time.monotonic() - started > 1.5
    assert bytes(received).endswith(data)


def test_behind_a_trusted_proxy_with_logs_on_hits_stay_on_the_hot_path(
    live_server: Any, tree: Path, log_lines: Callable[[str], list[str]]
) -> None:
    # The usual deployment behind a proxy on the same host: every request carries
    # X-Forwarded-For from a trusted peer, and both access logs are on. The log lines show the
    # forwarded client, as uvicorn's proxy-headers middleware finds it, and the hits are still
    # written by the protocol, not sent through ASGI.
    combined = log_lines("flashstatic.access")
    config = {"http": HttpToolsProtocol, "proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}
    with (
        live_server(_app(tree), access_log=True, log_level="info", **config) as url,
        counting_cache_answers() as written,
    ):
        _exchange(url, _close())  # the first request translates the path: not a cache answer
        written.clear()
        combined.clear()
        uvicorn_lines = log_lines("uvicorn.access")  # once uvicorn has configured its loggers
        for i in range(3):
            forwarded = b"X-Forwarded-For: 203.0.113.9, 10.0.0.1"
            _exchange(url, _request(b"/static/small.txt", forwarded, b"X-Req: %d" % i, b"Connection: close"))
        _exchange(url, _request(b"/static/small.txt", b"X-Forwarded-For: 198.51.100.4", b"Connection: close"))
    assert written == [200] * 4, written
    # The rightmost address the trusted proxies did not add is the client.
    assert sum(line.startswith("10.0.0.1 - - [") for line in combined) == 3, (combined, uvicorn_lines)
    assert sum(line.startswith("198.51.100.4 - - [") for line in combined) == 1, combined
    assert sum(line.startswith("10.0.0.1:0 - ") for line in uvicorn_lines) == 3, uvicorn_lines


def test_requests_answered_by_their_key_are_logged_with_their_own_fields(
    live_server: Any, tree: Path, log_lines: Callable[[str], list[str]]
) -> None:
    # One keep-alive connection through a trusted proxy, both logs on: after the first cache
    # answer, the requests differ only in fields the response does not depend on, so each is
    # answered by its answer key, or by its bytes once they came twice; every line shows that
    # request's own client, Referer and User-Agent.
    combined = log_lines("flashstatic.access")
    config = {"http": HttpToolsProtocol, "proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}
    asked = [(f"198.51.100.{n}", f"agent/{n}", f"http://example.test/{n}") for n in range(6)]
    asked += [asked[-1]] * 3 + [asked[0]]
    with (
        live_server(_app(tree, revalidate_interval=60), access_log=True, log_level="info", **config) as url,
        counting_repeats() as repeated,
    ):
        uvicorn_lines = log_lines("uvicorn.access")
        connection = _Connection(url)
        connection.ask(_request(b"/static/small.txt"))  # a miss, through ASGI
        combined.clear()
        uvicorn_lines.clear()
        for client, agent, referer in asked:
            fields = [f"X-Forwarded-For: {client}", f"User-Agent: {agent}", f"Referer: {referer}"]
            reply = connection.ask(_request(b"/static/small.txt", *(field.encode() for field in fields)))
            assert reply.endswith(b"0123456789" * 100)
        connection.close()
    assert repeated == [True] * (len(asked) - 1)
    masked = [re.sub(r"\[[^\]]*\]", "[time]", line) for line in combined]
    assert masked == [
        f'{client} - - [time] "GET /static/small.txt HTTP/1.1" 200 1000 "{referer}" "{agent}"'
        for client, agent, referer in asked
    ]
    assert [line.split(" - ")[0] for line in uvicorn_lines] == [f"{client}:0" for client, _, _ in asked]


def test_lines_made_from_kept_parts_show_each_connections_own_client(
    live_server: Any, tree: Path, log_lines: Callable[[str], list[str]]
) -> None:
    # Only flashstatic's log on, so lines are made from kept parts, which connections from the
    # same peer share: behind a trusted proxy, each connection (a new peer port each) and each
    # request still shows the client its own X-Forwarded-For names.
    combined = log_lines("flashstatic.access")
    config = {"http": HttpToolsProtocol, "proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}
    asked = ["198.51.100.1", "198.51.100.2", "198.51.100.1", None, "198.51.100.2"]
    with (
        live_server(_app(tree, revalidate_interval=60), access_log=False, log_level="info", **config) as url,
        counting_repeats() as repeated,
    ):
        _Connection(url).ask(_request(b"/static/small.txt"))  # a miss, through ASGI
        combined.clear()
        for client in asked:
            connection = _Connection(url)
            forwarded = [f"X-Forwarded-For: {client}".encode()] if client else []
            for number in range(2):  # answered again by its key, then by its bytes
                connection.ask(_request(b"/static/small.txt", *forwarded, b"X-Req: %d" % number))
            connection.close()
    assert repeated and all(repeated), repeated
    clients = [line.split(" - - ")[0] for line in combined]
    assert clients == [client or "127.0.0.1" for client in asked for _ in range(2)], combined


def test_lines_from_kept_parts_show_each_requests_own_fields_on_one_connection(
    live_server: Any, tree: Path, log_lines: Callable[[str], list[str]]
) -> None:
    # Only flashstatic's log on: one keep-alive connection whose requests take turns with their
    # User-Agent, Referer and X-Forwarded-For, some sent twice in a row (then answered by their
    # bytes): a line is never the connection's last one when its fields differ.
    combined = log_lines("flashstatic.access")
    config = {"http": HttpToolsProtocol, "proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}
    a = ("198.51.100.1", "agent/a", "http://example.test/a")
    b = ("198.51.100.2", "agent/b", "http://example.test/b")
    c = ("198.51.100.2", "agent/b", "http://example.test/c")  # b's client and agent, another Referer
    asked = [a, b, a, a, a, b, b, c, b, a]
    with (
        live_server(_app(tree, revalidate_interval=60), access_log=False, log_level="info", **config) as url,
        counting_repeats() as repeated,
    ):
        connection = _Connection(url)
        connection.ask(_request(b"/static/small.txt"))  # a miss, through ASGI
        combined.clear()
        for client, agent, referer in asked:
            fields = [f"X-Forwarded-For: {client}", f"User-Agent: {agent}", f"Referer: {referer}"]
            connection.ask(_request(b"/static/small.txt", *(field.encode() for field in fields)))
        connection.close()
    assert repeated and all(repeated), repeated
    masked = [re.sub(r"\[[^\]]*\]", "[time]", line) for line in combined]
    assert masked == [
        f'{client} - - [time] "GET /static/small.txt HTTP/1.1" 200 1000 "{referer}" "{agent}"'
        for client, agent, referer in asked
    ]


def test_lines_whose_fields_are_new_show_them_escaped_as_any_line(
    live_server: Any, tree: Path, log_lines: Callable[[str], list[str]]
) -> None:
    # Requests answered again by their key, each with Referer and User-Agent values of its own
    # (made anew, not from a line kept before): values as sent, first of each, whitespace
    # around them dropped, names in any case, quotes, backslashes and tabs escaped;
    # the client behind a trusted proxy, or the peer without X-Forwarded-For.
    combined = log_lines("flashstatic.access")
    config = {"http": HttpToolsProtocol, "proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}
    here, proxied = "127.0.0.1", "203.0.113.5"
    sent: list[tuple[list[bytes], str, str, str]] = [
        ([b"User-Agent: plain/1", b"Referer: http://t/1"], here, "http://t/1", "plain/1"),
        ([b"user-AGENT:   spaced/2  ", b"REFERER:\thttp://t/2\t"], here, "http://t/2", "spaced/2"),
        ([b'User-Agent: say "hi" \\ bye'], here, "-", r"say \x22hi\x22 \x5C bye"),
        (
            [b"Referer: http://t/caf\xe9", b"User-Agent: first", b"User-Agent: second"],
            here,
            "http://t/caf\u00e9",
            "first",
        ),
        ([b"Referer: r\tx", b"X-Forwarded-For: " + proxied.encode(), b"User-Agent: by"], proxied, r"r\x09x", "by"),
        ([b"User-Agent: plain/1", b"Referer: http://t/6"], here, "http://t/6", "plain/1"),
        ([], here, "-", "-"),
    ]
    with (
        live_server(_app(tree, revalidate_interval=60), access_log=False, log_level="info", **config) as url,
        counting_repeats() as repeated,
    ):
        connection = _Connection(url)
        connection.ask(_request(b"/static/small.txt"))  # a miss, through ASGI: remembered
        combined.clear()
        for fields, *_ in sent:
            connection.ask(_request(b"/static/small.txt", *fields, b"X-Req: " + str(len(combined)).encode()))
        connection.close()
    assert repeated and all(repeated), repeated
    masked = [re.sub(r"\[[^\]]*\]", "[time]", line) for line in combined]
    assert masked == [
        f'{client} - - [time] "GET /static/small.txt HTTP/1.1" 200 1000 "{referer}" "{agent}"'
        for _, client, referer, agent in sent
    ]


def test_upgrade_requests_are_answered_as_stock_uvicorn_answers_them(servers: Any) -> None:
    """llhttp stops at an Upgrade; the lane leaves such a read to uvicorn's way, even when the
    same target was answered from the caches on that connection before."""
    stock, ours, _ = servers
    upgrades = [
        _request(
            b"/static/small.txt",
            b"Connection: Upgrade",
            b"Upgrade: websocket",
            b"Sec-WebSocket-Version: 13",
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ),
        _request(b"/static/small.txt", b"Connection: Upgrade, HTTP2-Settings", b"Upgrade: h2c", b"HTTP2-Settings: A"),
    ]
    replies: dict[str, list[bytes]] = {}
    for url in (stock, ours):
        replies[url] = []
        for upgrade in upgrades:
            connection = _Connection(url)
            for _ in range(3):  # a miss, then cache answers: the target's key is remembered
                connection.ask(_request(b"/static/small.txt"))
            replies[url].append(_masked(connection.ask(upgrade)))
            connection.close()
    assert replies[ours] == replies[stock]
    assert replies[ours][0].startswith(b"HTTP/1.1 403 ")  # a WebSocket the app does not take
