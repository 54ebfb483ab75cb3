"""Attacks on the servers flashstatic runs itself, over real HTTP: `flashstatic serve` (its
httptools protocol, with the cache shortcut and byte-for-byte repeats) and FlashStatic under
uvicorn with our HttpToolsProtocol and H11Protocol.

test_security.py, test_hostile_requests.py and test_fuzz.py cover the same ground under stock
uvicorn, or in part; what is here is what they leave out: the same attacks where requests may be
answered before a scope exists, or repeated without being parsed.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import PlainTextResponse

from conftest import _uvicorn_in_thread
from flashstatic import FlashStatic
from flashstatic.server import H11Protocol, HttpToolsProtocol
from httpcheck import Response, content_range, multipart_parts, parse
from support import flashstatic_serve, write_tree
from test_hot_path import counting_repeats
from test_security import SECRET, TRAVERSALS, served  # noqa: F401  (a fixture)

HIDDEN = b"HIDDEN-RESPONSE-BYTES"
PAGE = b"<p>" + b"page " * 40 + b"</p>"
SCRIPT = b"console.log('compressible');\n" * 100
BIG = bytes(range(256)) * 1200  # over the small-body cache's limit: sent by sendfile


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "secret.txt").write_bytes(SECRET)
    return write_tree(
        tmp_path / "root",
        {
            "hello.txt": "hello",
            "hidden.txt": HIDDEN,
            "page.html": PAGE,
            "a.txt": "AAAAAAAA",
            "b.txt": "BBBBBBBB",
            "app.js": SCRIPT,
            "app.js.gz": gzip.compress(SCRIPT, mtime=0),
            "big.bin": BIG,
        },
    )


async def _fallback(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await PlainTextResponse("from the app", status_code=404)(scope, receive, send)


@contextlib.contextmanager
def running(kind: str, root: Path, html: bool = False) -> Iterator[int]:
    """The port of ``root`` served one way: ``serve`` (the command), or FlashStatic under
    uvicorn with our ``httptools`` or ``h11`` protocol class: in front of an app, or, with
    ``html``, alone with html=True (its misses answered by 404.html, or a plain 404)."""
    if kind == "serve":
        with flashstatic_serve(root, *([] if html else ["--no-html"])) as (_, port):
            yield port
        return
    app = FlashStatic(directory=root, html=True) if html else FlashStatic(_fallback, directory=root)
    protocol = HttpToolsProtocol if kind == "httptools" else H11Protocol
    try:
        with _uvicorn_in_thread(app, http=protocol) as url:
            yield int(url.rsplit(":", 1)[1])
    finally:
        app.close()


KINDS = ["serve", "httptools", "h11"]


def request(target: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
    return b"\r\n".join([method + b" " + target + b" HTTP/1.1", b"Host: localhost", *headers]) + b"\r\n\r\n"


CLOSE = request(b"/hello.txt", b"Connection: close")  # the last request of a connection


class Connection:
    """One keep-alive connection: ``ask`` sends bytes and reads one framed response."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""

    def ask(self, data: bytes, method: str = "GET") -> Response:
        self.sock.sendall(data)
        return self.response(method)

    def response(self, method: str = "GET") -> Response:
        closed = False
        while (end := framed_end(self.buffer, method, closed)) is None:
            closed = not self._read(allow_close=True)
        raw, self.buffer = self.buffer[:end], self.buffer[end:]
        return parse_any(raw, method)

    def send(self, data: bytes) -> None:
        """Send, unless the server has closed the connection already."""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.sock.sendall(data)

    def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        while self._read(allow_close=True):
            pass
        rest, self.buffer = self.buffer, b""
        return rest

    def _read(self, allow_close: bool = False) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk and not allow_close:
            raise ConnectionError(f"closed by the server; unread: {self.buffer[:200]!r}")
        self.buffer += chunk
        return bool(chunk)

    def close(self) -> None:
        self.sock.close()


def framed_end(data: bytes, method: str = "GET", closed: bool = False) -> int | None:
    """Where the first response in ``data`` ends (Content-Length, chunked, or the connection's
    end once ``closed``), or None while it is incomplete."""
    head, sep, _ = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    start = len(head) + 4
    if re.search(rb"(?im)^transfer-encoding: *chunked\r?$", head):
        end = data.find(b"\r\n0\r\n\r\n", start - 2)
        return None if end < 0 else end + 7
    match = re.search(rb"(?im)^content-length: *(\d+)\r?$", head)
    no_body = method == "HEAD" or re.match(rb"HTTP/1\.1 (304|204)", head) is not None
    if match is None and not no_body:
        return len(data) if closed else None
    end = start + (0 if no_body else int(match.group(1)))
    return end if len(data) >= end else None


def parse_any(raw: bytes, method: str = "GET") -> Response:
    """httpcheck.parse, which also takes a body delimited by the connection's close (how uvicorn's
    h11 protocol frames its 400 for a request it could not parse)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    if re.search(rb"(?im)^(content-length|transfer-encoding):", head) or not re.search(
        rb"(?im)^connection: close\r?$", head
    ):
        return parse(raw, method)
    framed = parse(head + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body, method)
    return Response(framed.status, framed.headers[:-1], body, raw)


def all_responses(raw: bytes) -> list[Response]:
    """Every response in ``raw``; nothing may be left over."""
    responses = []
    while raw:
        end = framed_end(raw, closed=True)
        assert end is not None, f"a partial response: {raw[:200]!r}"
        responses.append(parse_any(raw[:end]))
        raw = raw[end:]
    return responses


def warm(port: int, data: bytes, times: int = 6) -> None:
    """Ask the same thing ``times`` on one connection: after the third, a repeat (repeats.py)."""
    connection = Connection(port)
    for _ in range(times):
        assert connection.ask(data).status == 200
    connection.close()


# -- traversal --------------------------------------------------------------------------------

# Spellings test_security.TRAVERSALS lacks, without its /static prefix.
MORE_TRAVERSALS = [
    b"/%2E%2e/secret.txt",
    b"/%2e%2E%2fsecret.txt",
    b"/.%2E/.%2e/secret.txt",
    b"/..%2f..%2fsecret.txt",
    b"/%2e%2e%5c%2e%2e%5csecret.txt",
    b"/..\\secret.txt",
    b"/%c0%ae%c0%ae%c0%afsecret.txt",
    b"/%e0%80%ae%e0%80%ae/secret.txt",
    b"/%c0%2e%c0%2e/secret.txt",
    b"/hello.txt%00",
    b"/%00/../../secret.txt",
    b"/C:/secret.txt",
    b"/C:%2f..%2fsecret.txt",
    b"/c:\\secret.txt",
    b"//secret.txt",
    b"///../secret.txt",
    b"//..//..//secret.txt",
    b"/hello.txt/../../secret.txt",
    b"http://localhost/..%2fsecret.txt",
    b"http://localhost//../secret.txt",
    b"https://localhost/%2e%2e/secret.txt",
]


def _unprefixed(target: bytes) -> bytes:
    return target.replace(b"/static", b"", 1)


@pytest.mark.parametrize("kind", KINDS)
def test_traversal_spellings_never_escape_our_protocols(kind: str, served: Path) -> None:  # noqa: F811
    targets = [_unprefixed(target) for target in TRAVERSALS] + MORE_TRAVERSALS
    with running(kind, served) as port:
        # The files near the root answered from the caches first: a hostile spelling of a cached
        # path must still take the full path and its checks.
        warm(port, request(b"/hello.txt"))
        warm(port, request(b"/sub/inner.txt"))
        connection = Connection(port)
        for target in targets:
            for _ in range(2):  # the second time, after any caching the first did
                response = connection.ask(request(target))
                assert 400 <= response.status < 500, (target, response.status)
                assert SECRET not in response.raw, target
                if response.header(b"connection") == b"close":
                    connection.close()
                    connection = Connection(port)
        connection.close()


# -- smuggling --------------------------------------------------------------------------------

HIDDEN_REQUEST = request(b"/hidden.txt")
# (request bytes, whether the server may take it as one request and go on with the connection)
SMUGGLING = {
    "Content-Length and chunked": (
        request(b"/hello.txt", b"Content-Length: %d" % (5 + len(HIDDEN_REQUEST)), b"Transfer-Encoding: chunked")
        + b"0\r\n\r\n"
        + HIDDEN_REQUEST,
        False,
    ),
    "chunked and Content-Length": (
        request(b"/hello.txt", b"Transfer-Encoding: chunked", b"Content-Length: 4")
        + b"%x\r\n" % len(HIDDEN_REQUEST)
        + HIDDEN_REQUEST
        + b"\r\n0\r\n\r\n",
        False,
    ),
    "two Content-Lengths": (
        request(b"/hello.txt", b"Content-Length: 0", b"Content-Length: %d" % len(HIDDEN_REQUEST)) + HIDDEN_REQUEST,
        False,
    ),
    "a Content-Length list": (
        request(b"/hello.txt", b"Content-Length: 0, %d" % len(HIDDEN_REQUEST)) + HIDDEN_REQUEST,
        False,
    ),
    "chunked GET hiding a request": (
        request(b"/hello.txt", b"Transfer-Encoding: chunked")
        + b"%x\r\n" % len(HIDDEN_REQUEST)
        + HIDDEN_REQUEST
        + b"\r\n0\r\n\r\n",
        True,
    ),
    "a body hiding a request": (
        request(b"/hello.txt", b"Content-Length: %d" % len(HIDDEN_REQUEST)) + HIDDEN_REQUEST,
        True,
    ),
    "bare LF line ends": (b"GET /hello.txt HTTP/1.1\nHost: localhost\n\n", True),
    "a bare LF hiding Content-Length": (
        b"GET /hello.txt HTTP/1.1\r\nHost: localhost\nContent-Length: %d\r\n\r\n" % len(HIDDEN_REQUEST)
        + HIDDEN_REQUEST,
        True,
    ),
    "an obfuscated Transfer-Encoding": (request(b"/hello.txt", b"Transfer-Encoding: xchunked") + HIDDEN_REQUEST, False),
    "a space before the colon": (
        request(b"/hello.txt", b"Transfer-Encoding : chunked") + b"0\r\n\r\n" + HIDDEN_REQUEST,
        False,
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_smuggled_requests_get_no_response(kind: str, tree: Path) -> None:
    """Each attempt gets one response at most (a 400, or the one request it is), never one for
    the request hidden in its body, even once /hello.txt is a cache answer or a repeat; a
    request the server cannot frame for sure ends the connection after its answer."""
    with running(kind, tree) as port:
        warm(port, request(b"/hello.txt"))
        warm(port, HIDDEN_REQUEST)  # cached too: a smuggled request would be answered at once
        for name, (data, may_go_on) in SMUGGLING.items():
            connection = Connection(port)
            for _ in range(4):  # the same bytes again: a repeat, if they were remembered
                connection.sock.sendall(data)
                first = connection.response()
                assert HIDDEN not in first.raw, (name, first.raw[:300])
                if first.status != 200:
                    break
                assert first.body == b"hello", name
            connection.send(CLOSE)
            after = all_responses(connection.rest())
            connection.close()
            assert all(HIDDEN not in response.raw for response in after), name
            if first.status == 200 and may_go_on:
                # One request, read to its end: the connection goes on with the next one.
                assert [(r.status, r.body) for r in after] == [(200, b"hello")], name
            else:
                # Refused, or answered and closed (RFC 9112 section 6.3): nothing more.
                assert 400 <= first.status < 500 or (not may_go_on and first.status == 200), name
                assert after == [], (name, [r.raw[:200] for r in after])


# -- the repeats cache ------------------------------------------------------------------------


def _expect_page(response: Response) -> None:
    assert response.status == 200 and response.body == PAGE


def _expect_not_modified(response: Response) -> None:
    if (response.status, response.body) != (304, b""):
        pytest.fail(response.raw[:300].decode())


VARIANTS: list[tuple[str, bytes, Callable[[Response], None]]] = [
    ("the same", request(b"/page.html", b"User-Agent: t/1"), _expect_page),
    ("another header", request(b"/page.html", b"User-Agent: t/2"), _expect_page),
    ("If-None-Match that matches", b"", lambda r: None),  # filled in with the ETag below
    (
        "If-None-Match that does not",
        request(b"/page.html", b"User-Agent: t/1", b'If-None-Match: "other"'),
        _expect_page,
    ),
    ("If-None-Match with the ETag's letters in the other case", b"", lambda r: None),  # filled in below
    (
        "the matching ETag after another header line",
        b"",  # filled in below: the same fields as the matching one, in another order
        lambda r: None,
    ),
    (
        "If-Match that does not",
        request(b"/page.html", b"User-Agent: t/1", b'If-Match: "other"'),
        lambda r: r.status == 412 or pytest.fail(r.raw[:300].decode()),
    ),
    (
        "If-Unmodified-Since long before",
        request(b"/page.html", b"User-Agent: t/1", b"If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT"),
        lambda r: r.status == 412 or pytest.fail(r.raw[:300].decode()),
    ),
    ("If-Modified-Since its Last-Modified", b"", lambda r: None),  # filled in below
    (
        "If-Modified-Since long before",
        request(b"/page.html", b"User-Agent: t/1", b"If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"),
        _expect_page,
    ),
    (
        "a field whose name only starts like If-None-Match",
        request(b"/page.html", b"User-Agent: t/1", b"X-If-None-Match: *"),
        _expect_page,
    ),
    (
        "a Range",
        request(b"/page.html", b"User-Agent: t/1", b"Range: bytes=0-4"),
        lambda r: (
            (r.status, r.body, r.header(b"content-range")) == (206, PAGE[:5], b"bytes 0-4/%d" % len(PAGE))
            or pytest.fail(r.raw[:300].decode())
        ),
    ),
    (
        "another Range",
        request(b"/page.html", b"User-Agent: t/1", b"Range: bytes=5-9"),
        lambda r: (r.status, r.body) == (206, PAGE[5:10]) or pytest.fail(r.raw[:300].decode()),
    ),
    (
        "two Ranges",
        request(b"/page.html", b"User-Agent: t/1", b"Range: bytes=0-1,-2"),
        lambda r: (
            [part[2] for part in multipart_parts(r, len(PAGE))] == [PAGE[:2], PAGE[-2:]] or pytest.fail("wrong parts")
        ),
    ),
    (
        "an unsatisfiable Range",
        request(b"/page.html", b"User-Agent: t/1", b"Range: bytes=9999-"),
        lambda r: (
            (r.status, r.header(b"content-range")) == (416, b"bytes */%d" % len(PAGE))
            or pytest.fail(r.raw[:300].decode())
        ),
    ),
    (
        "HEAD",
        request(b"/page.html", b"User-Agent: t/1", method=b"HEAD"),
        lambda r: (
            (r.status, r.body, r.header(b"content-length")) == (200, b"", b"%d" % len(PAGE))
            or pytest.fail(r.raw[:300].decode())
        ),
    ),
    (
        "a name of the same length",
        request(b"/b.txt", b"User-Agent: t/1"),
        lambda r: r.body == b"BBBBBBBB" or pytest.fail(r.raw[:300].decode()),
    ),
    (
        "the first name",
        request(b"/a.txt", b"User-Agent: t/1"),
        lambda r: r.body == b"AAAAAAAA" or pytest.fail(r.raw[:300].decode()),
    ),
    (
        "gzip",
        request(b"/app.js", b"User-Agent: t/1", b"Accept-Encoding: gzip"),
        lambda r: (
            (r.header(b"content-encoding"), gzip.decompress(r.body)) == (b"gzip", SCRIPT)
            or pytest.fail(r.raw[:300].decode())
        ),
    ),
    (
        "no gzip",
        request(b"/app.js", b"User-Agent: t/1", b"Accept-Encoding: identity"),
        lambda r: (r.header(b"content-encoding"), r.body) == (None, SCRIPT) or pytest.fail(r.raw[:300].decode()),
    ),
    (
        "gzip refused",
        request(b"/app.js", b"User-Agent: t/1", b"Accept-Encoding: gzip;q=0"),
        lambda r: (r.header(b"content-encoding"), r.body) == (None, SCRIPT) or pytest.fail(r.raw[:300].decode()),
    ),
    (
        "a large file",
        request(b"/big.bin", b"User-Agent: t/1"),
        lambda r: r.body == BIG or pytest.fail(r.raw[:300].decode()),
    ),
    (
        "a Range of it",
        request(b"/big.bin", b"User-Agent: t/1", b"Range: bytes=1000-1999"),
        lambda r: (
            (content_range(r.header(b"content-range") or b"", len(BIG)) == (1000, 2000) and r.body == BIG[1000:2000])
            or pytest.fail(r.raw[:300].decode())
        ),
    ),
    (
        "another Range of it",
        request(b"/big.bin", b"User-Agent: t/1", b"Range: bytes=2000-2999"),
        lambda r: r.body == BIG[2000:3000] or pytest.fail(r.raw[:300].decode()),
    ),
]


@pytest.mark.parametrize("kind", ["serve", "httptools"])
def test_repeats_answer_only_the_same_bytes(kind: str, tree: Path) -> None:
    """Each request asked until it is a repeat, then all of them in turn, twice: every one gets
    its own answer, whichever was remembered last."""
    with running(kind, tree) as port, counting_repeats() as repeated:
        connection = Connection(port)
        first = connection.ask(VARIANTS[0][1])
        etag = first.header(b"etag")
        assert etag is not None
        variants = list(VARIANTS)
        variants[2] = (
            "If-None-Match that matches",
            request(b"/page.html", b"User-Agent: t/1", b"If-None-Match: " + etag),
            _expect_not_modified,
        )
        variants[4] = (
            "If-None-Match with the ETag's letters in the other case",
            request(b"/page.html", b"User-Agent: t/1", b"If-None-Match: " + etag.swapcase()),
            _expect_page,  # ETags compare byte for byte (RFC 9110 section 8.8.3.2)
        )
        modified = first.header(b"last-modified")
        assert modified is not None
        variants[8] = (
            "If-Modified-Since its Last-Modified",
            request(b"/page.html", b"User-Agent: t/1", b"If-Modified-Since: " + modified),
            _expect_not_modified,
        )
        variants[5] = (
            "the matching ETag after another header line",
            request(b"/page.html", b"If-None-Match: " + etag, b"User-Agent: t/1"),
            _expect_not_modified,
        )
        for _name, data, check in variants:
            method = "HEAD" if data.startswith(b"HEAD") else "GET"
            for _ in range(5):
                check(connection.ask(data, method))
        for _ in range(2):
            for _name, data, check in variants:
                check(connection.ask(data, "HEAD" if data.startswith(b"HEAD") else "GET"))
        connection.close()
    if kind == "httptools":
        assert repeated.count(True) >= len(variants), "the repeats were never used: this test tests nothing"


# -- an auth middleware in front --------------------------------------------------------------

TOKEN = (b"authorization", b"Bearer let-me-in")


class RequireToken:
    """A plain ASGI middleware: 401 for any request without the token."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and TOKEN not in scope["headers"]:
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-length", b"0"), (b"www-authenticate", b"Bearer")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


@pytest.mark.parametrize("protocol", [HttpToolsProtocol, H11Protocol], ids=["httptools", "h11"])
def test_the_cache_shortcut_never_bypasses_an_auth_middleware(protocol: type, tree: Path) -> None:
    static = FlashStatic(directory=tree, metrics_path="/_m")
    allowed = [
        request(b"/hello.txt", b"Authorization: Bearer let-me-in"),
        request(b"/big.bin", b"Authorization: Bearer let-me-in"),
        request(b"/page.html", b"Authorization: Bearer let-me-in", b"Range: bytes=0-4"),
        request(b"/_m", b"Authorization: Bearer let-me-in"),
    ]
    refused = [
        request(b"/hello.txt"),
        request(b"/big.bin"),
        request(b"/page.html", b"Range: bytes=0-4"),
        request(b"/hello.txt", b"Authorization: Bearer wrong"),
        request(b"/hello.txt", method=b"HEAD"),
        request(b"/_m"),
    ]
    try:
        with _uvicorn_in_thread(RequireToken(static), http=protocol) as url:
            port = int(url.rsplit(":", 1)[1])
            connection = Connection(port)
            for _ in range(6):  # long enough to be cache answers, and repeats, if anything could be
                for data in allowed:
                    assert connection.ask(data).status in (200, 206)
            for _ in range(3):  # on the same connection, in between, and on a new one
                for data in refused + allowed[:1]:
                    method = "HEAD" if data.startswith(b"HEAD") else "GET"
                    response = connection.ask(data, method)
                    assert (response.status == 401) is (data not in allowed), data
            connection.close()
            for data in refused:
                fresh = Connection(port)
                response = fresh.ask(data, "HEAD" if data.startswith(b"HEAD") else "GET")
                assert response.status == 401 and b"hello" not in response.raw, data
                fresh.close()
    finally:
        static.close()


# -- hostile ranges ---------------------------------------------------------------------------

HOSTILE_RANGES: dict[str, tuple[str, Callable[[int], object]]] = {
    # name: (Range value, the answer for a file of n bytes: a status, or (206, [(start, stop)]))
    "33 ranges, one more than allowed": (",".join(f"{i * 10}-{i * 10}" for i in range(33)), lambda n: 200),
    "32 ranges": (
        ",".join(f"{i * 10}-{i * 10}" for i in range(32)),
        lambda n: (206, [(i * 10, i * 10 + 1) for i in range(32)]),
    ),
    "overlapping": ("0-99,50-149,100-199", lambda n: (206, [(0, 200)])),
    "overlapping past the size": (",".join(["0-"] * 3), lambda n: 200),
    "a 5000-digit first position": ("1" * 5000 + "-", lambda n: 200),
    "a 5000-digit last position": ("0-" + "9" * 5000, lambda n: 200),
    "a 5000-digit suffix": ("-" + "9" * 5000, lambda n: 200),
    "5000 zeros, then a digit": ("0" * 5000 + "1-2", lambda n: (206, [(1, 3)])),
    "bytes=-0": ("-0", lambda n: 416),
    "bytes=-0 and a byte": ("-0,0-0", lambda n: (206, [(0, 1)])),
    "past the end": (f"{len(BIG)}-", lambda n: 416),
    "junk after a range": ("0-4junk", lambda n: 200),
    "a parameter after a range": ("0-4;q=1", lambda n: 200),
    "a range backwards": ("5-4", lambda n: 200),
    "a negative position": ("-5-10", lambda n: 200),
    "a plus sign": ("+1-2", lambda n: 200),
    "a hex position": ("0x10-0x20", lambda n: 200),
    "only commas": (",,,", lambda n: 200),
}


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_ranges_get_rfc_answers(kind: str, tree: Path) -> None:
    size = len(BIG)
    with running(kind, tree) as port:
        connection = Connection(port)
        for name, (spec, expected_for) in HOSTILE_RANGES.items():
            expected = expected_for(size)
            for _ in range(2):  # the second time from the caches
                response = connection.ask(request(b"/big.bin", b"Range: bytes=" + spec.encode()))
                if isinstance(expected, int):
                    assert response.status == expected, (name, response.raw[:300])
                    if expected == 200:
                        assert response.body == BIG, name
                    else:
                        assert response.header(b"content-range") == b"bytes */%d" % size, name
                    continue
                status, ranges = expected
                assert response.status == status, (name, response.raw[:300])
                if len(ranges) == 1:
                    got = [content_range(response.header(b"content-range") or b"", size)]
                    assert response.body == BIG[ranges[0][0] : ranges[0][1]], name
                else:
                    parts = multipart_parts(response, size)
                    got = [part[0] for part in parts]
                    assert all(data == BIG[start:stop] for (start, stop), _, data in parts), name
                assert got == ranges, name
        connection.close()


# -- heads too large --------------------------------------------------------------------------


def assert_oversized_heads_refused(port: int) -> None:
    # Each head is sent whole and then read by read: the status must not depend on the split.
    for (data, status), piece in itertools.product(
        (
            (request(b"/hello.txt", b"X-Big: " + b"b" * 100_000), 431),
            (request(b"/" + b"u" * 100_000), 414),
            (request(b"/hello.txt", *(b"X-%d: y" % i for i in range(20_000))), 431),
        ),
        (None, 8192),
    ):
        connection = Connection(port)
        for start in range(0, len(data), piece or len(data)):
            connection.send(data[start : start + (piece or len(data))])
            time.sleep(0.01 if piece else 0)
        response = connection.response()
        connection.close()
        assert response.status == status and response.header(b"connection") == b"close", (piece, response.raw[:300])
        assert b"the request head exceeds" in response.body


def test_oversized_heads_are_refused_by_flashstatic_serve(tree: Path) -> None:
    with flashstatic_serve(tree) as (_, port):
        assert_oversized_heads_refused(port)
        connection = Connection(port)
        assert connection.ask(request(b"/hello.txt")).body == b"hello"  # and it goes on
        connection.close()


# -- what error answers carry -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_404_page_says_nosniff(kind: str, tree: Path) -> None:
    # A 404.html is HTML by its name; a browser must not take it, or any page sent as a 404, for
    # something else, as for every file (X-Content-Type-Options on the file's own responses).
    (tree / "404.html").write_bytes(b"<h1>gone</h1>")
    with running(kind, tree, html=True) as port:
        connection = Connection(port)
        for method in ("GET", "HEAD", "GET"):
            response = connection.ask(request(b"/nothing-here", method=method.encode()), method)
            assert response.status == 404 and response.header(b"content-type") == b"text/html; charset=utf-8"
            assert response.header(b"x-content-type-options") == b"nosniff", response.raw[:400]
            assert response.body == (b"<h1>gone</h1>" if method == "GET" else b"")
        connection.close()


ERRORS = [  # (request bytes, the status)
    (request(b"/%2e%2e/secret.txt"), 400),
    (request(b"/a%00b"), 404),
    (request(b"/a%01b"), 400),
    (request(b"/a%5cb"), 400),
    (request(b"/%ff.txt"), 400),
    (request(b"/nothing-here"), 404),
    (request(b"/" + b"n" * 300), 404),
    (request(b"/" + b"d/" * 3000), 404),
    (request(b"/hello.txt", method=b"POST"), 405),
    (request(b"/hello.txt", method=b"DELETE"), 405),
    (request(b"/hello.txt", b"Range: bytes=99-"), 416),
    (request(b"/hello.txt", b'If-Match: "nope"'), 412),
    (request(b"*", method=b"OPTIONS"), 400),
    (request(b"/hel lo.txt"), 400),
    (request(b"/hello.txt", b"Bad Header: 1"), 400),
]


@pytest.mark.parametrize("kind", KINDS)
def test_error_answers_carry_no_paths_or_tracebacks(kind: str, tree: Path) -> None:
    """The 4xx answers say what was wrong with the request, never where the files live or
    what the code was doing."""
    import flashstatic

    leaks = [
        str(tree).encode(),
        str(tree.parent).encode(),
        str(Path(flashstatic.__file__).parent).encode(),
        b"Traceback",
        b'File "',
        b".py",
        b"Errno",
    ]
    with running(kind, tree, html=True) as port:
        for data, status in ERRORS:
            connection = Connection(port)
            response = connection.ask(data)
            connection.close()
            assert response.status == status, (data[:80], response.raw[:300])
            assert not [leak for leak in leaks if leak in response.raw], (data[:80], response.raw[:400])


def test_oversized_heads_are_refused_under_h11(tree: Path) -> None:
    # h11 bounds only a head still incomplete (16 KiB); one that arrives whole in a read was
    # taken, and uvicorn answered h11's refusals with a 400 whatever the reason.
    with running("h11", tree) as port:
        assert_oversized_heads_refused(port)
        connection = Connection(port)
        connection.send(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        for _ in range(4):  # a head that keeps coming, read by read
            connection.send(b"s" * 8192)
        response = connection.response()
        assert response.status == 431 and b"the request head exceeds" in response.body, response.raw[:300]
        connection.close()
        connection = Connection(port)
        fat = b"X-Fat: " + b"f" * 15_000  # under h11's bound (16 KiB by default), in any reads
        assert connection.ask(request(b"/hello.txt", fat)).body == b"hello"
        connection.close()
