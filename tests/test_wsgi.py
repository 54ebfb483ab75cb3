"""The shared behaviour over ASGI and WSGI: same statuses, same headers, same bytes.

Every case is sent to FlashStatic under uvicorn and to FlashStaticWSGI under gunicorn (sync
and gthread workers) and wsgiref (with and without ``wsgi.file_wrapper``), and the answers
are compared header by header (Date, Server and connection management aside) and byte by
byte, as sent. Three configurations (CONFIGS): standalone, WhiteNoise-style middleware under
/static wrapping an app, and Starlette's html=True.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

import httpx
import pytest

from conftest import _uvicorn_in_thread
from flashstatic import FlashStatic, FlashStaticWSGI
from flashstatic.cache import lru
from support import raw_request, write_tree
from wsgi_servers import gunicorn, without_file_wrapper, wsgiref_server

BIG = random.Random(5).randbytes(1024 * 1024)  # above small_file_max: served from the file
CSS = b"body { color: red; }\n" * 40
_HEX = random.Random(1)
LARGE_JS = "".join(f"{_HEX.getrandbits(512):0128x}\n" for _ in range(2400)).encode()  # ~310 KB
TREE: dict[str, bytes | str] = {
    "hello.txt": "hello, world\n",
    "big.bin": BIG,
    "style.css": CSS,
    "style.css.gz": gzip.compress(CSS, mtime=0),
    "style.css.br": b"pretend-brotli" * 10,
    "docs/index.html": "<h1>docs</h1>",
    "docs/page.html": "<p>page</p>",
    "empty.txt": "",
    "app.3f2a9c1d7b4e.js": "console.log('hashed');\n",
    "caf\u00e9.txt": "accented\n",
    "sp ace.txt": "space\n",
    "index.html": "<h1>home</h1>",
    "404.html": "<h1>custom 404</h1>",
    # Above small_file_max, and so is its .gz: the encoded representation goes by file too.
    "large.js": LARGE_JS,
    "large.js.gz": gzip.compress(LARGE_JS, compresslevel=1, mtime=0),
}
# Long past, so Last-Modified is a strong validator and an If-Range date can match.
MTIME = 1_700_000_000
LONG_AGO = "Sat, 01 Jan 2000 00:00:00 GMT"
# The configurations every server runs: constructor arguments, and whether a dynamic app is
# wrapped (misses and refused paths then reach it, WhiteNoise-style).
CONFIGS: dict[str, tuple[dict[str, object], bool]] = {
    "standalone": ({"index_file": True}, False),
    "middleware": ({"prefix": "/static", "index_file": True, "allow_all_origins": True, "max_age": 600}, True),
    "html": ({"html": True}, False),  # Starlette's html=True: index.html and 404.html
}
WSGI_KINDS = ["gunicorn-sync", "gunicorn-gthread", "wsgiref", "wsgiref-no-file-wrapper"]
IGNORED = {"date", "server", "connection", "keep-alive"}

# (id, method, path, headers, expected status). "{etag}" and "{last_modified}" stand for the
# validators of the file the case asks for.
CASES = [
    ("small", "GET", "/hello.txt", {}, 200),
    ("small-again", "GET", "/hello.txt", {}, 200),  # a cache hit this time
    ("large", "GET", "/big.bin", {}, 200),
    ("empty", "GET", "/empty.txt", {}, 200),
    ("head-small", "HEAD", "/hello.txt", {}, 200),
    ("head-large", "HEAD", "/big.bin", {}, 200),
    ("hashed-immutable", "GET", "/app.3f2a9c1d7b4e.js", {}, 200),
    ("utf8-name", "GET", "/caf%C3%A9.txt", {}, 200),
    ("304-etag", "GET", "/big.bin", {"if-none-match": "{etag}"}, 304),
    ("304-date", "GET", "/hello.txt", {"if-modified-since": "{last_modified}"}, 304),
    ("412", "GET", "/big.bin", {"if-match": '"nope"'}, 412),
    ("206-large", "GET", "/big.bin", {"range": "bytes=1000-200999"}, 206),
    ("206-suffix", "GET", "/big.bin", {"range": "bytes=-10"}, 206),
    ("206-small", "GET", "/hello.txt", {"range": "bytes=0-0"}, 206),
    ("206-if-range", "GET", "/big.bin", {"range": "bytes=5-9", "if-range": "{etag}"}, 206),
    ("200-if-range-stale", "GET", "/big.bin", {"range": "bytes=5-9", "if-range": '"old"'}, 200),
    ("multipart-large", "GET", "/big.bin", {"range": "bytes=0-9,500000-700000"}, 206),
    ("multipart-small", "GET", "/style.css", {"range": "bytes=0-4,10-14", "accept-encoding": "identity"}, 206),
    ("416", "GET", "/big.bin", {"range": "bytes=5000000-"}, 416),
    ("gzip", "GET", "/style.css", {"accept-encoding": "gzip"}, 200),
    ("br", "GET", "/style.css", {"accept-encoding": "gzip, br"}, 200),
    ("br-refused", "GET", "/style.css", {"accept-encoding": "br;q=0, gzip"}, 200),
    ("identity", "GET", "/style.css", {"accept-encoding": "identity"}, 200),
    ("redirect-slash", "GET", "/docs?x=1", {}, 307),
    ("redirect-index", "GET", "/docs/index.html", {}, 307),
    ("index", "GET", "/docs/", {}, 200),
    ("404", "GET", "/missing.txt", {}, 404),
    ("404-head", "HEAD", "/missing.txt", {}, 404),
    ("405", "POST", "/hello.txt", {}, 405),
    ("405-options", "OPTIONS", "/hello.txt", {}, 405),
    ("space-name", "GET", "/sp%20ace.txt", {}, 200),
    ("file-as-directory", "GET", "/hello.txt/", {}, 404),
    ("head-range", "HEAD", "/big.bin", {"range": "bytes=0-1"}, 200),  # Range is for GET only
    ("206-open", "GET", "/big.bin", {"range": "bytes=1048000-"}, 206),
    ("206-last-byte", "GET", "/hello.txt", {"range": "bytes=-1"}, 206),
    ("range-malformed", "GET", "/hello.txt", {"range": "bytes=5-2"}, 200),
    ("206-if-range-date", "GET", "/big.bin", {"range": "bytes=5-9", "if-range": "{last_modified}"}, 206),
    ("304-weak-list", "GET", "/hello.txt", {"if-none-match": '"x", W/{etag}'}, 304),
    ("304-star", "GET", "/big.bin", {"if-none-match": "*"}, 304),
    ("200-ims-long-ago", "GET", "/hello.txt", {"if-modified-since": LONG_AGO}, 200),
    ("412-ius", "GET", "/big.bin", {"if-unmodified-since": LONG_AGO}, 412),
    ("200-if-match", "GET", "/hello.txt", {"if-match": "{etag}"}, 200),
    ("gzip-q0-all", "GET", "/style.css", {"accept-encoding": "gzip;q=0, br;q=0"}, 200),
    ("gzip-q-order", "GET", "/style.css", {"accept-encoding": "br;q=0.5, gzip;q=0.9"}, 200),
    ("gz-by-name", "GET", "/style.css.gz", {"accept-encoding": "gzip"}, 200),
    ("gzip-large", "GET", "/large.js", {"accept-encoding": "gzip"}, 200),
    ("gzip-large-range", "GET", "/large.js", {"accept-encoding": "gzip", "range": "bytes=100-70000"}, 206),
    ("304-gzip", "GET", "/style.css", {"accept-encoding": "gzip", "if-none-match": "{etag}"}, 304),
    ("redirect-query-encoded", "GET", "/docs?x=1&y=%2F", {}, 307),
    ("redirect-head", "HEAD", "/docs", {}, 307),
]
# WhiteNoise-style: files under /static, everything else (misses, refused paths) to the app.
MIDDLEWARE_CASES = [
    ("small", "GET", "/static/hello.txt", {}, 200),
    ("head", "HEAD", "/static/big.bin", {}, 200),
    ("hashed-immutable", "GET", "/static/app.3f2a9c1d7b4e.js", {}, 200),
    ("304", "GET", "/static/hello.txt", {"if-none-match": "{etag}"}, 304),
    ("206", "GET", "/static/big.bin", {"range": "bytes=10-19"}, 206),
    ("gzip", "GET", "/static/style.css", {"accept-encoding": "gzip"}, 200),
    ("redirect-slash", "GET", "/static/docs?x=1", {}, 307),
    ("redirect-index", "GET", "/static/docs/index.html", {}, 307),
    ("index", "GET", "/static/docs/", {}, 200),
    ("prefix-itself", "GET", "/static", {}, 307),
    ("miss-to-app", "GET", "/static/missing.txt", {}, 200),
    ("outside-prefix-to-app", "GET", "/elsewhere?q=1", {}, 200),
    ("dotfile-to-app", "GET", "/static/.hidden", {}, 200),
    ("post-to-file", "POST", "/static/hello.txt", {}, 405),
]
HTML_CASES = [
    ("root-index", "GET", "/", {}, 200),
    ("index", "GET", "/docs/", {}, 200),
    ("index-by-name", "GET", "/docs/index.html", {}, 200),  # html=True serves it; no redirect
    ("not-found-page", "GET", "/missing.txt", {}, 404),
    ("not-found-page-head", "HEAD", "/missing.txt", {}, 404),
]
ALL_CASES = [
    (config, case)
    for config, cases in [("standalone", CASES), ("middleware", MIDDLEWARE_CASES), ("html", HTML_CASES)]
    for case in cases
]
RAW_TARGETS = [
    b"/%2e%2e/secret.txt",
    b"/..%2fsecret.txt",
    b"/docs/%2E%2E/%2E%2E/secret.txt",
    b"/hello.txt%00.js",
    b"/.hidden",
    b"/docs/../hello.txt",
    b"/..%5c..%5csecret.txt",
    b"/%ff.txt",
    b"/docs/..%2f..%2f..%2fsecret.txt",
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_tree(tmp_path_factory.mktemp("wsgi") / "site", TREE)
    (root.parent / "secret.txt").write_text("secret\n")
    (root / ".hidden").write_text("hidden\n")
    for path in [root.parent / "secret.txt", *root.rglob("*")]:
        os.utime(path, (MTIME, MTIME))
    return root


@pytest.fixture(scope="module")
def servers(tree: Path) -> Iterator[dict[str, str]]:
    """Base URLs by kind, each server started on first use and stopped with the module."""
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}

        def start(kind: str, config: str = "standalone") -> str:
            if (kind, config) not in urls:
                urls[kind, config] = stack.enter_context(_server(kind, tree, config))
            return urls[kind, config]

        yield start  # type: ignore[misc]


# FlashStaticWSGI has WhiteNoise's defaults where FlashStatic has Starlette's: given
# FlashStatic's, the two must answer alike.
ASGI_DEFAULTS = {"allow_all_origins": False, "autorefresh": None, "redirect_status": 307}


def _server(kind: str, root: Path, config: str) -> contextlib.AbstractContextManager[str]:
    options, wrap = CONFIGS[config]
    if kind == "asgi":
        app = FlashStatic(_dynamic_asgi if wrap else None, directory=root, architecture="mt", **options)
        return _uvicorn_in_thread(app)
    options = {**ASGI_DEFAULTS, **options}
    if kind.startswith("gunicorn"):
        env = {"FLASHSTATIC_TEST_ROOT": str(root), "FLASHSTATIC_TEST_OPTIONS": json.dumps(options)}
        if wrap:
            env["FLASHSTATIC_TEST_WRAP"] = "1"
        if kind == "gunicorn-sync":
            return gunicorn("wsgi_app:app", worker_class="sync", env=env)
        return gunicorn("wsgi_app:app", worker_class="gthread", threads=4, env=env)
    wsgi = FlashStaticWSGI(_dynamic_wsgi if wrap else None, directory=root, **options)
    return wsgiref_server(wsgi if kind == "wsgiref" else without_file_wrapper(wsgi))


# The wrapped app, as wsgi_app.dynamic answers under gunicorn: the (percent-decoded) path's
# bytes, so a test sees which path reached it, whatever its encoding.
def _dynamic_wsgi(environ: dict, start_response) -> list[bytes]:  # type: ignore[no-untyped-def]
    body = b"dynamic " + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def _dynamic_asgi(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    body = b"dynamic " + unquote_to_bytes(scope["raw_path"])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: httpx.Headers
    content: bytes  # as sent: not content-decoded


def _fetch(url: str, method: str, path: str, headers: dict[str, str]) -> Reply:
    # Raw bytes, so the bytes compared are the bytes sent: httpx would gunzip a gzip body
    # (and fail on a range of one).
    sent = {"accept-encoding": "identity", **headers}
    with httpx.Client(timeout=20) as client, client.stream(method, url + path, headers=sent) as response:
        return Reply(response.status_code, response.headers, b"".join(response.iter_raw()))


def _comparable(response: Reply) -> tuple[int, list[tuple[str, str]], bytes]:
    boundary = re.search(r"boundary=(\w+)", response.headers.get("content-type", ""))
    body = response.content
    headers = [(name.lower(), value) for name, value in response.headers.items() if name.lower() not in IGNORED]
    if boundary:
        token = boundary.group(1)
        body = body.replace(token.encode(), b"BOUNDARY")
        headers = [(name, value.replace(token, "BOUNDARY")) for name, value in headers]
    return response.status_code, headers, body


def _validators(url: str, path: str, headers: dict[str, str]) -> dict[str, str]:
    """The validators of the representation the case asks for (Accept-Encoding picks it)."""
    plain = {name: value for name, value in headers.items() if "{" not in value and name != "range"}
    response = _fetch(url, "HEAD", path, plain)
    return {"etag": response.headers["etag"], "last_modified": response.headers["last-modified"]}


@pytest.mark.parametrize("kind", WSGI_KINDS)
@pytest.mark.parametrize(
    "config,case",
    ALL_CASES,
    ids=[case[0] if config == "standalone" else f"{config}-{case[0]}" for config, case in ALL_CASES],
)
def test_same_response_over_asgi_and_wsgi(config: str, case, kind: str, servers) -> None:
    _, method, path, headers, expected = case
    asgi, wsgi = servers("asgi", config), servers(kind, config)
    validators = _validators(asgi, path, headers) if any("{" in value for value in headers.values()) else {}
    headers = {name: value.format(**validators) for name, value in headers.items()}

    want = _comparable(_fetch(asgi, method, path, headers))
    got = _comparable(_fetch(wsgi, method, path, headers))

    assert want[0] == expected
    assert got[0] == want[0]
    if kind.startswith("wsgiref") and got[0] == 304:
        # wsgiref's own finish_content adds "Content-Length: 0" to any response without body
        # bytes; gunicorn, like uvicorn, sends what the app said.
        got[1].remove(("content-length", "0"))
    assert got[1] == want[1]
    assert got[2] == want[2]


@pytest.mark.parametrize("kind", WSGI_KINDS)
@pytest.mark.parametrize("config", ["standalone", "middleware"])
def test_hostile_targets_same_over_asgi_and_wsgi(config: str, kind: str, servers) -> None:
    """Refused targets: a 400 or 404 standalone; as middleware, the app's answer."""
    asgi, wsgi = servers("asgi", config), servers(kind, config)
    prefix = b"/static" if config == "middleware" else b""
    for target in (prefix + raw for raw in RAW_TARGETS):
        want_status, want = raw_request(asgi, target)
        got_status, got = raw_request(wsgi, target)
        # The files' contents (the app's answer echoes the path, so the names may appear).
        assert b"secret\n" not in got and b"hidden\n" not in got, target
        assert got_status == want_status, target
        assert got.split(b"\r\n\r\n", 1)[1] == want.split(b"\r\n\r\n", 1)[1], target


def test_large_bodies_are_exact(servers) -> None:
    """The bytes themselves, not only agreement: a whole 1 MiB file and a range of it."""
    for kind in WSGI_KINDS:
        url = servers(kind)
        assert _fetch(url, "GET", "/big.bin", {}).content == BIG, kind
        assert _fetch(url, "GET", "/big.bin", {"range": "bytes=1000-200999"}).content == BIG[1000:201000], kind


@pytest.mark.parametrize("kind", WSGI_KINDS)
def test_nothing_beyond_content_length(kind: str, servers) -> None:
    """Read to the connection's end: a slice's reads must stop at the slice end, or a server
    that iterates the file wrapper sends bytes past Content-Length."""
    url = servers(kind)
    for extra, expected in [
        (b"Range: bytes=1000-200999\r\n", BIG[1000:201000]),
        (b"", BIG),
        (b"Range: bytes=0-9,500000-500009\r\n", None),
    ]:
        _, reply = raw_request(url, b"/big.bin", extra=extra)
        head, body = reply.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        assert len(body) == length, (kind, extra)
        if expected is not None:
            assert body == expected


def _call(app, path: str, method: str = "GET", **environ: str) -> tuple[str, dict[str, str], bytes]:
    from wsgiref.util import setup_testing_defaults

    env: dict = {"PATH_INFO": path, "REQUEST_METHOD": method, **environ}
    setup_testing_defaults(env)
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    iterable = app(env, start_response)
    try:
        body = b"".join(iterable)
    finally:
        getattr(iterable, "close", lambda: None)()
    return answer["status"], answer["headers"], body


def test_paths_it_does_not_serve_reach_the_app(tree: Path) -> None:
    def dynamic(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app:" + environ["PATH_INFO"].encode("latin-1")]

    app = FlashStaticWSGI(dynamic, directory=tree, prefix="/static")
    assert _call(app, "/static/hello.txt")[2] == b"hello, world\n"
    assert _call(app, "/static/missing.txt")[2] == b"app:/static/missing.txt"
    assert _call(app, "/elsewhere")[2] == b"app:/elsewhere"
    assert _call(app, "/static/%2e%2e/secret.txt".replace("%2e", "."))[2].startswith(b"app:")
    alone = FlashStaticWSGI(directory=tree, prefix="/static")
    assert _call(alone, "/elsewhere")[0] == "404 Not Found"
    assert _call(alone, "/static/../secret.txt")[0] == "400 Bad Request"


# Twelve small files and a 404 page (for four missing paths): far more than the caches hold.
THREAD_FILES = {f"/f{n}.txt": f"file {n}\n".encode() * (n + 1) for n in range(12)}
NOT_FOUND_PAGE = b"<h1>not here</h1>"


class _SwitchingDict(OrderedDict):  # type: ignore[type-arg]
    """The LRU's map, giving up the GIL after each step: another thread runs between get and
    move_to_end, or between put's pop, insert and evictions, as a real thread switch may at any
    of them but seldom does. Under the adapter's lock the other threads wait, so it changes nothing."""

    def get(self, key: object, default: object = None) -> object:
        value = super().get(key, default)
        time.sleep(0)  # releases the GIL: a waiting thread runs now
        return value

    def pop(self, key: object, *default: object) -> object:
        value = super().pop(key, *default)
        time.sleep(0)
        return value

    def __setitem__(self, key: object, value: object) -> None:
        super().__setitem__(key, value)
        time.sleep(0)

    def popitem(self, last: bool = True) -> tuple[object, object]:
        item = super().popitem(last)
        time.sleep(0)
        return item


THREADS, REQUESTS, BODY_BUDGET = 8, 200, 200


def _shared_app(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FlashStaticWSGI, dict[str, tuple[str, bytes]]]:
    """An adapter whose caches hold about three of the files (so nearly every request stores
    and evicts) and whose entries go stale at once (so threads revalidate), with the expected
    answer for each path."""
    write_tree(root, {name[1:]: body for name, body in THREAD_FILES.items()})
    (root / "404.html").write_bytes(NOT_FOUND_PAGE)
    monkeypatch.setattr(lru, "OrderedDict", _SwitchingDict)
    app = FlashStaticWSGI(
        directory=root,
        html=True,
        pathname_cache_size=3,
        autorefresh=None,  # revalidated, not read once at start
        revalidate_interval=0.001,
        small_file_cache_bytes=BODY_BUDGET,
    )
    expected = {
        **{path: ("200 OK", body) for path, body in THREAD_FILES.items()},
        **{f"/missing{n}.txt": ("404 Not Found", NOT_FOUND_PAGE) for n in range(4)},
    }
    return app, expected


def _from_many_threads(app: FlashStaticWSGI, expected: dict[str, tuple[str, bytes]]) -> None:
    """THREADS threads each make REQUESTS requests in-process, as a gthread worker's threads
    would; any wrong answer or exception fails the test."""
    import sys
    import threading

    failures: list[BaseException] = []

    def client(seed: int) -> None:
        order = random.Random(seed)
        try:
            for _ in range(REQUESTS):
                path = order.choice(list(expected))
                status, _, body = _call(app, path)
                assert (status, body) == expected[path], (path, status, body)
        except BaseException as exc:  # reported below
            failures.append(exc)

    workers = [threading.Thread(target=client, args=(seed,)) for seed in range(THREADS)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures[:3]
    stats = app.stats()
    assert stats["pathname"]["revalidations"] > 0
    # Three entries for files and redirects, and as many for misses, each LRU on its own.
    assert stats["bodies"]["bytes"] <= BODY_BUDGET and stats["pathname"]["entries"] <= 2 * 3
    # Each request looks its path up once, hit or miss.
    assert stats["pathname"]["hits"] + stats["pathname"]["misses"] == THREADS * REQUESTS, stats["pathname"]


def test_threads_share_the_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gthread workers share one adapter, and its caches are LRU maps whose operations take
    several steps. Without the adapter's lock two threads interleave inside them: a key evicted
    between get and move_to_end raises KeyError, and two puts of one key count its weight twice
    until the eviction loop pops from an empty map (KeyError) and the byte budget is overrun.
    Each lookup, store and small-body get or put fails this test when unlocked alone; the
    forgets after a file changed mid-request are not exercised (no file changes here)."""
    app, expected = _shared_app(tmp_path, monkeypatch)
    _from_many_threads(app, expected)
    # Every request also looks its (small) body up exactly once.
    bodies = app.stats()["bodies"]
    assert bodies["hits"] + bodies["misses"] == THREADS * REQUESTS, bodies


def test_counters_same_as_asgi(tmp_path: Path) -> None:
    """The caches' counters (hits answered by the hot path included) move alike over both."""
    import asyncio

    from support import call_asgi

    root = write_tree(tmp_path, {"small.txt": "s" * 100, "large.bin": b"L" * 200_000})
    options = {"directory": root, "small_file_max": 1000}
    asgi, wsgi = FlashStatic(**options), FlashStaticWSGI(**options, **ASGI_DEFAULTS)
    requests = [("/small.txt", {}), ("/large.bin", {}), ("/missing.txt", {}), ("/small.txt", {"range": "bytes=1-5"})]
    try:
        for _ in range(3):
            for path, headers in requests:
                asyncio.run(call_asgi(asgi, path, headers))
                environ = {"HTTP_" + name.upper(): value for name, value in headers.items()}
                _call(wsgi, path, **environ)
        etag = asgi.core.answers.entry("/small.txt").identity.etag  # type: ignore[union-attr]
        asyncio.run(call_asgi(asgi, "/small.txt", {"if-none-match": etag}))
        assert _call(wsgi, "/small.txt", HTTP_IF_NONE_MATCH=etag)[0] == "304 Not Modified"
        counted = ("pathname", "headers", "bodies")
        asgi_stats, wsgi_stats = asgi.stats(), wsgi.stats()
        assert {key: asgi_stats[key] for key in counted} == {key: wsgi_stats[key] for key in counted}
        # Every request but each path's first is a hit; 304s and large files need no cached body.
        assert asgi_stats["pathname"]["hits"] == 10 and asgi_stats["bodies"]["hits"] == 5
        assert asgi_stats["transmissions"]["memory"] == wsgi_stats["transmissions"]["memory"] == 6
    finally:
        asgi.close()


def test_large_file_from_a_fresh_entry_and_after_it_changed(tmp_path: Path) -> None:
    """A file too large for the body cache, asked for again while its entry is fresh, is sent
    from the entry's plan without translating the path again (counted as a hit). When the file
    changed behind that entry, the open's check sends the request the full way, which
    translates afresh: the new bytes under their own headers, never the old length."""
    root = write_tree(tmp_path, {"large.bin": b"A" * 200_000})
    app = FlashStaticWSGI(directory=root, small_file_max=1000, revalidate_interval=3600)
    assert _call(app, "/large.bin")[2] == b"A" * 200_000
    status, headers, body = _call(app, "/large.bin")
    assert status == "200 OK" and body == b"A" * 200_000
    assert app.stats()["pathname"]["hits"] == 1 and app.stats()["pathname"]["misses"] == 1
    (root / "large.bin").write_bytes(b"B" * 150_000)
    status, headers, body = _call(app, "/large.bin")
    assert status == "200 OK" and body == b"B" * 150_000 and headers["content-length"] == "150000"
    assert _call(app, "/large.bin", HTTP_RANGE="bytes=149999-")[2] == b"B"


def test_an_environ_without_method_or_path_is_answered_not_a_keyerror(tmp_path: Path) -> None:
    """PEP 3333 servers always set REQUEST_METHOD, but test clients and other middleware may
    build an environ without it (or without PATH_INFO, the application root): the wrapped app
    still gets what is not ours, and a file path gets a 4xx, never an exception."""
    root = write_tree(tmp_path, {"a.txt": "A"})

    def inner(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app:" + environ.get("PATH_INFO", "").encode()]

    def call(app, environ):  # type: ignore[no-untyped-def]
        answer: dict = {}

        def start_response(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
            answer["status"] = status

        body = b"".join(app(environ, start_response))
        return answer["status"], body

    wrapped = FlashStaticWSGI(inner, directory=root, prefix="/static")
    assert call(wrapped, {"PATH_INFO": "/page"}) == ("200 OK", b"app:/page")
    assert call(wrapped, {"REQUEST_METHOD": "GET"}) == ("200 OK", b"app:")
    standalone = FlashStaticWSGI(directory=root)
    assert call(standalone, {"PATH_INFO": "/a.txt"})[0] == "405 Method Not Allowed"
    assert call(standalone, {"REQUEST_METHOD": "GET"})[0] == "404 Not Found"  # the root: no index here
