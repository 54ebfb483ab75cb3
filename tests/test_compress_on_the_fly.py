"""compress=True (``flashstatic serve --compress``, the middleware, WSGI): files without a
precompressed sibling are compressed by the server, once per version, over real HTTP."""

from __future__ import annotations

import asyncio
import gzip
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import flashstatic.asgi
import flashstatic.wsgi
from flashstatic import FlashStatic, FlashStaticWSGI
from support import flashstatic_serve, write_tree
from wsgi_servers import wsgiref_server

CSS = "".join(f".rule-{i} {{ margin: {i}px; color: #{i:06x}; }}\n" for i in range(300))
SCRIPT = "".join(f"function f{i}() {{ return {i} * 2; }}\n" for i in range(300))
PAGE = "<!doctype html>\n" + "".join(f"<p>paragraph {i}</p>\n" for i in range(200))
GZIP = {"accept-encoding": "gzip"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "site",
        {
            "style.css": CSS,
            "app.js": SCRIPT,
            "index.html": PAGE,
            "logo.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 4000,  # compressible bytes, but an image
            "data.json.gz": gzip.compress(b"[" + b"1, " * 2000 + b"1]", mtime=0),
            "tiny.css": "a{}",
            # A precompressed sibling at another level than the server's: its bytes tell which
            # of the two was sent.
            "lib.js": SCRIPT,
            "lib.js.gz": gzip.compress(SCRIPT.encode(), compresslevel=1, mtime=0),
        },
    )


@pytest.fixture
def served(tree: Path) -> Iterator[str]:
    with flashstatic_serve(tree, "--compress") as (_, port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The codings of the compressions the ASGI app runs, in order."""
    made: list[str] = []
    real = flashstatic.asgi.compress_body

    def counting(body: bytes, coding: str) -> bytes:
        made.append(coding)
        return real(body, coding)

    monkeypatch.setattr(flashstatic.asgi, "compress_body", counting)
    return made


def fetch(client: httpx.Client, url: str, method: str = "GET", **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent (httpx would decode a gzip body)."""
    sent = {"accept-encoding": "identity", **{name.replace("_", "-"): value for name, value in headers.items()}}
    with client.stream(method, url, headers=sent) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("name", ["style.css", "app.js", "index.html"])
def test_a_text_file_is_gzipped_for_a_client_that_accepts_it(
    served: str, client: httpx.Client, tree: Path, name: str
) -> None:
    original = (tree / name).read_bytes()
    plain, plain_body = fetch(client, f"{served}/{name}")
    assert plain.status_code == 200 and plain_body == original
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"

    for attempt in range(2):  # compressed, then from the body cache (the hot path)
        zipped, body = fetch(client, f"{served}/{name}", accept_encoding="gzip, deflate")
        assert zipped.status_code == 200, attempt
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
        assert int(zipped.headers["content-length"]) == len(body) < len(original)
        assert gzip.decompress(body) == original
        assert zipped.headers["etag"] not in (plain.headers["etag"], None)
        assert zipped.headers["etag"].startswith(plain.headers["etag"][:-1])  # the identity tag, with the coding
        assert zipped.headers["content-type"] == plain.headers["content-type"]


def test_a_304_for_the_compressed_etag(served: str, client: httpx.Client) -> None:
    zipped, _ = fetch(client, f"{served}/style.css", **GZIP)
    etag = zipped.headers["etag"]
    for attempt in range(2):
        again, body = fetch(client, f"{served}/style.css", if_none_match=etag, **GZIP)
        assert again.status_code == 304, attempt
        assert body == b""
        assert again.headers["etag"] == etag and again.headers["vary"] == "Accept-Encoding"
    # The compressed tag is not the identity representation's: a client that now wants identity gets it.
    plain, body = fetch(client, f"{served}/style.css", if_none_match=etag)
    assert plain.status_code == 200 and body == CSS.encode()


def test_a_304_for_the_compressed_etag_before_anything_was_compressed(tree: Path, client: httpx.Client) -> None:
    with flashstatic_serve(tree, "--compress") as (_, port):
        etag = fetch(client, f"http://127.0.0.1:{port}/app.js", **GZIP)[0].headers["etag"]
    with flashstatic_serve(tree, "--compress") as (_, port):  # a restarted server: nothing in memory
        again, _ = fetch(client, f"http://127.0.0.1:{port}/app.js", if_none_match=etag, **GZIP)
    assert again.status_code == 304 and again.headers["etag"] == etag


def test_identity_for_clients_that_do_not_take_gzip(served: str, client: httpx.Client) -> None:
    for headers in ({"accept_encoding": "identity"}, {"accept_encoding": "gzip;q=0"}, {"accept_encoding": "br;q=0"}):
        response, body = fetch(client, f"{served}/app.js", **headers)
        assert "content-encoding" not in response.headers, headers
        assert body == SCRIPT.encode() and response.headers["vary"] == "Accept-Encoding"


def test_a_range_request_gets_identity_bytes(served: str, client: httpx.Client) -> None:
    fetch(client, f"{served}/style.css", **GZIP)  # compressed first
    for _ in range(2):
        partial, body = fetch(client, f"{served}/style.css", range="bytes=10-29", **GZIP)
        assert partial.status_code == 206
        assert "content-encoding" not in partial.headers
        assert partial.headers["content-range"] == f"bytes 10-29/{len(CSS)}"
        assert body == CSS.encode()[10:30]


def test_head_has_the_headers_of_get(served: str, client: httpx.Client) -> None:
    def headers(response: httpx.Response) -> dict[str, str]:
        return {name: value for name, value in response.headers.items() if name != "date"}

    head, body = fetch(client, f"{served}/index.html", "HEAD", **GZIP)  # HEAD first: it compresses too
    get, _ = fetch(client, f"{served}/index.html", **GZIP)
    assert body == b"" and head.status_code == get.status_code == 200
    assert headers(head) == headers(get)
    assert head.headers["content-encoding"] == "gzip"


@pytest.mark.parametrize("name", ["logo.png", "data.json.gz", "tiny.css"])
def test_compressed_types_and_tiny_files_are_sent_as_they_are(
    served: str, client: httpx.Client, tree: Path, name: str
) -> None:
    response, body = fetch(client, f"{served}/{name}", **GZIP)
    assert response.status_code == 200 and body == (tree / name).read_bytes()
    assert "content-encoding" not in response.headers and "vary" not in response.headers


def test_a_precompressed_sibling_is_sent_as_before(served: str, client: httpx.Client, tree: Path) -> None:
    response, body = fetch(client, f"{served}/lib.js", **GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert body == (tree / "lib.js.gz").read_bytes()


def test_a_changed_file_is_compressed_again(tree: Path, client: httpx.Client) -> None:
    path = tree / "style.css"
    with flashstatic_serve(tree, "--compress", "--revalidate-interval", "0") as (_, port):
        url = f"http://127.0.0.1:{port}/style.css"
        first, body = fetch(client, url, **GZIP)
        assert gzip.decompress(body) == CSS.encode()
        changed = CSS.replace("margin", "padding") + "/* v2 */\n"
        path.write_text(changed)
        later = os.stat(path).st_mtime_ns + 2_000_000_000
        os.utime(path, ns=(later, later))
        second, body = fetch(client, url, **GZIP)
        assert second.headers["content-encoding"] == "gzip"
        assert gzip.decompress(body) == changed.encode()
        assert second.headers["etag"] != first.headers["etag"]
        assert fetch(client, url, if_none_match=first.headers["etag"], **GZIP)[0].status_code == 200


def test_off_by_default(tree: Path, client: httpx.Client) -> None:
    with flashstatic_serve(tree) as (_, port):
        response, body = fetch(client, f"http://127.0.0.1:{port}/style.css", **GZIP)
    assert body == CSS.encode()
    assert "content-encoding" not in response.headers and "vary" not in response.headers


def _middleware(root: Path) -> Starlette:
    async def dynamic(request: object) -> PlainTextResponse:
        return PlainTextResponse("dynamic")

    inner = Starlette(routes=[Route("/dynamic", dynamic)])
    return FlashStatic(inner, directory=root, prefix="/static", compress=True)  # type: ignore[return-value]


def test_middleware_compresses_and_leaves_the_app_alone(tree: Path, live_server, client: httpx.Client) -> None:
    with live_server(_middleware(tree)) as url:
        for _ in range(2):
            response, body = fetch(client, f"{url}/static/app.js", **GZIP)
            assert response.headers["content-encoding"] == "gzip" and gzip.decompress(body) == SCRIPT.encode()
        etag = response.headers["etag"]
        assert fetch(client, f"{url}/static/app.js", if_none_match=etag, **GZIP)[0].status_code == 304
        partial, body = fetch(client, f"{url}/static/app.js", range="bytes=0-4", **GZIP)
        assert partial.status_code == 206 and body == SCRIPT.encode()[:5]
        dynamic, body = fetch(client, f"{url}/dynamic", **GZIP)
        assert body == b"dynamic" and "content-encoding" not in dynamic.headers


def test_concurrent_requests_compress_a_file_once_off_the_loop(
    tree: Path, live_server, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []  # for each compression, whether it ran on an event loop
    real = flashstatic.asgi.compress_body

    def slow_compress(body: bytes, coding: str) -> bytes:
        calls.append(asyncio._get_running_loop() is not None)
        time.sleep(0.3)  # long enough for the other requests to arrive meanwhile
        return real(body, coding)

    monkeypatch.setattr(flashstatic.asgi, "compress_body", slow_compress)
    with live_server(FlashStatic(directory=tree, compress=True)) as url:
        fetch(client, f"{url}/index.html")  # the entry and identity body cached: the rest is compression

        def get(_: int) -> tuple[httpx.Response, bytes]:
            with httpx.Client(timeout=10) as own:
                return fetch(own, f"{url}/index.html", **GZIP)

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(get, range(6)))
    assert calls == [False]
    for response, body in answers:
        assert response.headers["content-encoding"] == "gzip" and gzip.decompress(body) == PAGE.encode()


def test_serve_compress_from_the_site_file(tree: Path, tmp_path: Path, client: httpx.Client) -> None:
    config = tmp_path / "site.toml"
    config.write_text("compress = true\n")
    with flashstatic_serve(tree, "--config", str(config)) as (_, port):
        response, body = fetch(client, f"http://127.0.0.1:{port}/style.css", **GZIP)
    assert response.headers["content-encoding"] == "gzip" and gzip.decompress(body) == CSS.encode()


def test_wsgi_compresses_once_with_the_same_answers(
    tree: Path, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = flashstatic.wsgi.compress_body

    def slow_compress(body: bytes, coding: str) -> bytes:
        calls.append(coding)
        time.sleep(0.3)  # long enough for the other requests to arrive meanwhile
        return real(body, coding)

    monkeypatch.setattr(flashstatic.wsgi, "compress_body", slow_compress)
    with wsgiref_server(FlashStaticWSGI(None, root=tree, compress=True)) as url:
        plain, body = fetch(client, f"{url}/style.css")
        assert body == CSS.encode() and plain.headers["vary"] == "Accept-Encoding"

        def get(_: int) -> tuple[httpx.Response, bytes]:
            with httpx.Client(timeout=10) as own:
                return fetch(own, f"{url}/style.css", **GZIP)

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(get, range(4)))
        etag = answers[0][0].headers["etag"]
        assert fetch(client, f"{url}/style.css", if_none_match=etag, **GZIP)[0].status_code == 304
        partial, body = fetch(client, f"{url}/style.css", range="bytes=0-4", **GZIP)
        assert partial.status_code == 206 and body == CSS.encode()[:5]
    assert calls == ["gzip"]
    for response, body in answers:
        assert response.headers["content-encoding"] == "gzip" and gzip.decompress(body) == CSS.encode()
        assert response.headers["etag"] == etag != plain.headers["etag"]


def test_a_compressed_body_the_cache_dropped_is_compressed_again_to_the_same_bytes(
    tree: Path, live_server, client: httpx.Client, calls: list[str]
) -> None:
    app = FlashStatic(directory=tree, compress=True)
    with live_server(app) as url:
        first, body = fetch(client, f"{url}/style.css", **GZIP)
        bodies = app.core.bodies._bodies
        for key in list(bodies._items):  # as if evicted by other files
            bodies.pop(key)
        again, same = fetch(client, f"{url}/style.css", **GZIP)
    assert calls == ["gzip", "gzip"]
    assert same == body and gzip.decompress(same) == CSS.encode()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-length"] == str(len(same))


def test_two_urls_of_one_file_share_its_compressed_body(
    tree: Path, live_server, client: httpx.Client, calls: list[str]
) -> None:
    with live_server(FlashStatic(directory=tree, html=True, compress=True)) as url:
        top, body = fetch(client, f"{url}/", **GZIP)
        named, same = fetch(client, f"{url}/index.html", **GZIP)
    assert calls == ["gzip"]
    assert same == body and gzip.decompress(body) == PAGE.encode()
    assert named.headers["etag"] == top.headers["etag"]


def test_under_trio_too(tree: Path) -> None:
    from starlette.testclient import TestClient

    app = FlashStatic(directory=tree, compress=True)
    with TestClient(app, backend="trio") as trio_client:
        for _ in range(2):
            response = trio_client.get("/app.js", headers=GZIP)
            assert response.headers["content-encoding"] == "gzip" and response.content == SCRIPT.encode()
        assert trio_client.get("/app.js", headers={"accept-encoding": "identity"}).content == SCRIPT.encode()
