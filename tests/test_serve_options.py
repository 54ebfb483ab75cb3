"""CORS, per-path Cache-Control and the health endpoint, over real HTTP: through the ASGI app
under uvicorn and through ``flashstatic serve`` (its own protocol, cache shortcut and repeats)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flashstatic.asgi import FlashStatic
from flashstatic.wsgi import FlashStaticWSGI
from support import flashstatic_serve, read_responses, write_tree

ALLOWED = "https://app.example"
OTHER = "https://other.example"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "site",
        {
            "hello.txt": "hello\n",
            "index.html": "<h1>home</h1>",
            "assets/app.js": "console.log(1);\n",
            "assets/page.html": "<p>page</p>",
            "big.bin": b"x" * (200 * 1024),  # too large for the body cache: the file path
        },
    )


def preflight(origin: str, asked_headers: str | None = None) -> dict[str, str]:
    headers = {"origin": origin, "access-control-request-method": "GET"}
    if asked_headers is not None:
        headers["access-control-request-headers"] = asked_headers
    return headers


def vary(response: httpx.Response) -> set[str]:
    return {token.strip().lower() for value in response.headers.get_list("vary") for token in value.split(",")}


# -- CORS ---------------------------------------------------------------------------------------


def test_without_cors_options_is_405_and_no_cors_header(tree: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=tree)) as url:
        asked = http.options(f"{url}/hello.txt", headers=preflight(ALLOWED))
        assert asked.status_code == 405 and asked.headers["allow"] == "GET, HEAD"
        assert "access-control-allow-origin" not in asked.headers
        assert "access-control-allow-origin" not in http.get(f"{url}/hello.txt", headers={"origin": ALLOWED}).headers


@pytest.mark.parametrize("python", [{"cors_origins": ("*",)}, {"allow_all_origins": True}])
def test_cors_any_origin(tree: Path, live_server, http: httpx.Client, python: dict) -> None:
    with live_server(FlashStatic(directory=tree, **python)) as url:
        for path in ("/hello.txt", "/big.bin", "/hello.txt"):
            got = http.get(f"{url}{path}", headers={"origin": OTHER})
            assert got.status_code == 200 and got.headers["access-control-allow-origin"] == "*"
            assert "origin" not in vary(got)  # the same answer for every origin
        asked = http.options(f"{url}/hello.txt", headers=preflight(OTHER, "X-Requested-With, content-type"))
        assert asked.status_code == 204, asked.text
        assert asked.headers["access-control-allow-origin"] == "*"
        assert asked.headers["access-control-allow-methods"] == "GET, HEAD"
        assert asked.headers["access-control-allow-headers"] == "x-requested-with, content-type"
        assert int(asked.headers["access-control-max-age"]) > 0
        assert asked.content == b""


def test_cors_origin_list_echoes_only_listed_origins(tree: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=tree, cors_origins=(ALLOWED, "http://localhost:3000"))) as url:
        for _ in range(2):  # the second time from the caches
            for path in ("/hello.txt", "/big.bin"):
                allowed = http.get(f"{url}{path}", headers={"origin": ALLOWED})
                assert allowed.headers["access-control-allow-origin"] == ALLOWED
                assert "origin" in vary(allowed)
                other = http.get(f"{url}{path}", headers={"origin": OTHER})
                assert "access-control-allow-origin" not in other.headers and "origin" in vary(other)
                plain = http.get(f"{url}{path}")
                assert "access-control-allow-origin" not in plain.headers and "origin" in vary(plain)
        etag = http.get(f"{url}/hello.txt").headers["etag"]
        again = http.get(f"{url}/hello.txt", headers={"origin": ALLOWED, "if-none-match": etag})
        assert again.status_code == 304 and again.headers["access-control-allow-origin"] == ALLOWED
        ranged = http.get(f"{url}/big.bin", headers={"origin": ALLOWED, "range": "bytes=0-9"})
        assert ranged.status_code == 206 and ranged.headers["access-control-allow-origin"] == ALLOWED

        asked = http.options(f"{url}/hello.txt", headers=preflight(ALLOWED, "x-one, bad header, x@y"))
        assert asked.status_code == 204
        assert asked.headers["access-control-allow-origin"] == ALLOWED and "origin" in vary(asked)
        assert asked.headers["access-control-allow-headers"] == "x-one"
        refused = http.options(f"{url}/hello.txt", headers=preflight(OTHER))
        assert refused.status_code == 405 and not any(h.startswith("access-control-") for h in refused.headers)
        # Not a preflight (no Access-Control-Request-Method): OPTIONS as without CORS.
        assert http.options(f"{url}/hello.txt", headers={"origin": ALLOWED}).status_code == 405
        # A preflight for a path that names no file is a miss, as any other request for it.
        assert http.options(f"{url}/nothing.txt", headers=preflight(ALLOWED)).status_code == 404


def test_cors_in_the_wsgi_adapter(tree: Path) -> None:
    app = FlashStaticWSGI(directory=tree, cors_origins=[ALLOWED])
    answers: list[tuple[str, dict[str, str]]] = []

    def call(method: str, **environ: str) -> tuple[str, dict[str, str]]:
        app({"REQUEST_METHOD": method, "PATH_INFO": "/hello.txt", **environ}, lambda s, h: answers.append((s, h)))
        status, headers = answers[-1]
        return status, {name.lower(): value for name, value in headers}

    for _ in range(2):
        status, headers = call("GET", HTTP_ORIGIN=ALLOWED)
        assert status.startswith("200") and headers["access-control-allow-origin"] == ALLOWED
        assert "access-control-allow-origin" not in call("GET", HTTP_ORIGIN=OTHER)[1]
    status, headers = call("OPTIONS", HTTP_ORIGIN=ALLOWED, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert status.startswith("204") and headers["access-control-allow-origin"] == ALLOWED
    assert call("OPTIONS", HTTP_ORIGIN=OTHER, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")[0].startswith("405")


def request(path: str, origin: str | None) -> bytes:
    line = f"GET {path} HTTP/1.1\r\nHost: x\r\n"
    return (line + (f"Origin: {origin}\r\n" if origin else "") + "\r\n").encode()


@pytest.mark.parametrize("http_impl", ["httptools", "h11"])
def test_serve_cors_flags(tree: Path, http_impl: str) -> None:
    flags = ("--http", http_impl, "--cors", ALLOWED, "--cors", "http://localhost:3000")
    with flashstatic_serve(tree, *flags) as (_, port):
        # One keep-alive connection, the same requests over and over: answered from the caches,
        # and byte-for-byte repeats, each with the right origin.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            for _ in range(4):
                for path in ("/hello.txt", "/big.bin"):
                    for origin in (ALLOWED, OTHER, "http://localhost:3000", None):
                        sock.sendall(request(path, origin))
                        (status, headers, _body) = read_responses(sock, 1)[0]
                        assert status == 200
                        expected = origin if origin in (ALLOWED, "http://localhost:3000") else None
                        assert headers.get(b"access-control-allow-origin") == (expected and expected.encode())
                        assert b"origin" in headers[b"vary"].lower()
        with httpx.Client() as client:
            asked = client.options(f"http://127.0.0.1:{port}/hello.txt", headers=preflight(ALLOWED))
            assert asked.status_code == 204 and asked.headers["access-control-allow-origin"] == ALLOWED


def test_serve_cors_any(tree: Path) -> None:
    with flashstatic_serve(tree, "--cors", "*") as (_, port), httpx.Client() as client:
        got = client.get(f"http://127.0.0.1:{port}/hello.txt", headers={"origin": OTHER})
        assert got.headers["access-control-allow-origin"] == "*"


def serve_error(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flashstatic", "serve", *args], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--cors", "app.example"), "app.example"),
        (("--cors", "https://app.example/path"), "https://app.example/path"),
        (("--cache-control", "no-equals-sign"), "no-equals-sign"),
        (("--cache-control", "*.js="), "*.js="),
        (("--cache-control", "=no-cache"), "=no-cache"),
        (("--cache-control", "*.js=no-cache\x7f"), "*.js"),
        (("--health-path", "no-slash"), "no-slash"),
    ],
)
def test_bad_flags_are_one_line_errors(tree: Path, flags: tuple[str, ...], named: str) -> None:
    result = serve_error(str(tree), *flags)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and named in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("flashstatic serve: error:")


# -- Cache-Control ------------------------------------------------------------------------------

RULES = {"*.html": "no-cache", "/assets/*": "public, max-age=31536000, immutable"}


def test_cache_control_by_path(tree: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=tree, html=True, cache_control=RULES)) as url:
        for _ in range(2):
            assert http.get(f"{url}/").headers["cache-control"] == "no-cache"
            assert http.get(f"{url}/index.html").headers["cache-control"] == "no-cache"
            # First match wins: page.html is under /assets/ but *.html comes first.
            assert http.get(f"{url}/assets/page.html").headers["cache-control"] == "no-cache"
            assert http.get(f"{url}/assets/app.js").headers["cache-control"] == RULES["/assets/*"]
            assert http.get(f"{url}/hello.txt").headers["cache-control"] == "max-age=60, public"
        etag = http.get(f"{url}/assets/app.js").headers["etag"]
        revalidated = http.get(f"{url}/assets/app.js", headers={"if-none-match": etag})
        assert revalidated.status_code == 304 and revalidated.headers["cache-control"] == RULES["/assets/*"]


def test_cache_control_applies_without_max_age_and_under_a_prefix(tree: Path, live_server, http) -> None:
    app = FlashStatic(directory=tree, prefix="/static", max_age=None, cache_control={"/static/assets/*": "no-store"})
    with live_server(app) as url:
        assert http.get(f"{url}/static/assets/app.js").headers["cache-control"] == "no-store"
        assert "cache-control" not in http.get(f"{url}/static/hello.txt").headers


@pytest.mark.parametrize(
    "rules", [{"*.js": "no-cache\r\nx-evil: 1"}, {"*.js": ""}, {"": "no-cache"}, {"*.js": 5}, {"*.js": "caf\u00e9"}]
)
def test_bad_cache_control_is_refused_naming_the_entry(tree: Path, rules: dict) -> None:
    with pytest.raises(ValueError, match=r"cache_control\["):
        FlashStatic(directory=tree, cache_control=rules)


def test_serve_cache_control_flags(tree: Path) -> None:
    flags = ["--cache-control", "*.html=no-cache", "--cache-control", "/assets/*=" + RULES["/assets/*"]]
    with flashstatic_serve(tree, *flags) as (_, port), httpx.Client() as client:
        for _ in range(2):
            assert client.get(f"http://127.0.0.1:{port}/").headers["cache-control"] == "no-cache"
            assert client.get(f"http://127.0.0.1:{port}/assets/app.js").headers["cache-control"] == RULES["/assets/*"]
            assert client.get(f"http://127.0.0.1:{port}/hello.txt").headers["cache-control"] == "max-age=60, public"


# -- health ---------------------------------------------------------------------------------------


def test_health_path(tree: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    shutil.copytree(tree, served)
    with flashstatic_serve(served, "--health-path", "/_health") as (_, port), httpx.Client() as client:
        base = f"http://127.0.0.1:{port}"
        for method in ("GET", "HEAD"):
            ok = client.request(method, f"{base}/_health")
            assert ok.status_code == 200 and ok.content == (b"ok" if method == "GET" else b"")
            assert ok.headers["content-type"].startswith("text/plain")
            assert ok.headers["cache-control"] == "no-cache"
        refused = client.post(f"{base}/_health")
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
        # Answered without the disk: still ok once the directory is gone.
        shutil.rmtree(served)
        assert client.get(f"{base}/_health").status_code == 200


def test_health_path_is_off_by_default(tree: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=tree)) as url:
        assert http.get(f"{url}/_health").status_code == 404
    with live_server(FlashStatic(directory=tree, health_path="/_health")) as url:
        assert http.get(f"{url}/_health").text == "ok"
