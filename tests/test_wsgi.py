"""The shared behaviour over ASGI and WSGI: same statuses, same headers, same bytes.

Every case is sent to FlashStatic under uvicorn and to FlashStaticWSGI under gunicorn (sync
and gthread workers) and wsgiref (with and without ``wsgi.file_wrapper``), and the answers
are compared header by header (Date, Server and connection management aside).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import _uvicorn_in_thread
from support import raw_request, write_tree
from wsgi_servers import gunicorn, without_file_wrapper, wsgiref_server

from flashstatic import FlashStatic, FlashStaticWSGI
from flashstatic.cache import lru

BIG = random.Random(5).randbytes(1024 * 1024)  # above small_file_max: served from the file
CSS = b"body { color: red; }\n" * 40
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
}
OPTIONS = {"index_file": True}
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
]
RAW_TARGETS = [b"/%2e%2e/secret.txt", b"/..%2fsecret.txt", b"/docs/%2E%2E/%2E%2E/secret.txt",
               b"/hello.txt%00.js", b"/.hidden", b"/docs/../hello.txt"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_tree(tmp_path_factory.mktemp("wsgi") / "site", TREE)
    (root.parent / "secret.txt").write_text("secret\n")
    (root / ".hidden").write_text("hidden\n")
    return root


@pytest.fixture(scope="module")
def servers(tree: Path) -> Iterator[dict[str, str]]:
    """Base URLs by kind, each server started on first use and stopped with the module."""
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}

        def start(kind: str) -> str:
            if kind not in urls:
                urls[kind] = stack.enter_context(_server(kind, tree))
            return urls[kind]

        yield start  # type: ignore[misc]


def _server(kind: str, root: Path) -> contextlib.AbstractContextManager[str]:
    if kind == "asgi":
        return _uvicorn_in_thread(FlashStatic(directory=root, architecture="mt", **OPTIONS))
    if kind.startswith("gunicorn"):
        env = {"FLASHSTATIC_TEST_ROOT": str(root), "FLASHSTATIC_TEST_OPTIONS": json.dumps(OPTIONS)}
        if kind == "gunicorn-sync":
            return gunicorn("wsgi_app:app", worker_class="sync", env=env)
        return gunicorn("wsgi_app:app", worker_class="gthread", threads=4, env=env)
    app = FlashStaticWSGI(directory=root, **OPTIONS)
    return wsgiref_server(app if kind == "wsgiref" else without_file_wrapper(app))


def _fetch(url: str, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    # No client-side decoding, so the bytes compared are the bytes sent.
    sent = {"accept-encoding": "identity", **headers}
    with httpx.Client(timeout=20) as client:
        return client.request(method, url + path, headers=sent)


def _comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    boundary = re.search(r"boundary=(\w+)", response.headers.get("content-type", ""))
    body = response.content
    headers = [(name.lower(), value) for name, value in response.headers.items() if name.lower() not in IGNORED]
    if boundary:
        token = boundary.group(1)
        body = body.replace(token.encode(), b"BOUNDARY")
        headers = [(name, value.replace(token, "BOUNDARY")) for name, value in headers]
    return response.status_code, headers, body


def _validators(url: str, path: str) -> dict[str, str]:
    response = _fetch(url, "HEAD", path, {})
    return {"etag": response.headers["etag"], "last_modified": response.headers["last-modified"]}


@pytest.mark.parametrize("kind", WSGI_KINDS)
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_same_response_over_asgi_and_wsgi(case, kind: str, servers) -> None:
    _, method, path, headers, expected = case
    asgi, wsgi = servers("asgi"), servers(kind)
    validators = _validators(asgi, path) if any("{" in value for value in headers.values()) else {}
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
def test_hostile_targets_same_over_asgi_and_wsgi(kind: str, servers) -> None:
    asgi, wsgi = servers("asgi"), servers(kind)
    for target in RAW_TARGETS:
        want_status, want = raw_request(asgi, target)
        got_status, got = raw_request(wsgi, target)
        assert b"secret" not in got and b"hidden" not in got, target
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
    for extra, expected in [(b"Range: bytes=1000-200999\r\n", BIG[1000:201000]), (b"", BIG),
                            (b"Range: bytes=0-9,500000-500009\r\n", None)]:
        status, reply = raw_request(url, b"/big.bin", extra=extra)
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
    app = FlashStaticWSGI(directory=root, html=True, pathname_cache_size=3, revalidate_interval=0.001,
                          small_file_cache_bytes=BODY_BUDGET)
    expected = {**{path: ("200 OK", body) for path, body in THREAD_FILES.items()},
                **{f"/missing{n}.txt": ("404 Not Found", NOT_FOUND_PAGE) for n in range(4)}}
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
        except BaseException as exc:  # noqa: BLE001 - reported below
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
    assert stats["bodies"]["bytes"] <= BODY_BUDGET and stats["pathname"]["entries"] <= 3
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
