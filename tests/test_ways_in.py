"""The three ways in, each over real HTTP against uvicorn on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect as ws_connect

from flashstatic import FlashStatic
from support import write_tree

REPO = Path(__file__).resolve().parents[1]


def dynamic_app(state: dict[str, str]) -> Starlette:
    async def hello(request):
        return PlainTextResponse(f"dynamic {request.method} {request.url.path}")

    async def not_found(request, exc):
        return PlainTextResponse("the app's own 404", status_code=404)

    async def echo(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("echo " + await websocket.receive_text())
        await websocket.close()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state["lifespan"] = "started"
        yield
        state["lifespan"] = "stopped"

    return Starlette(
        routes=[
            Route("/api/hello", hello, methods=["GET", "POST"]),
            Route("/static/upload", hello, methods=["POST"]),
            WebSocketRoute("/ws", echo),
        ],
        exception_handlers={404: not_found},
        lifespan=lifespan,
    )


def check_middleware(url: str, http: httpx.Client) -> None:
    r = http.get(url + "/static/hello.txt")
    assert r.status_code == 200 and r.text == "hello, world\n"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert http.get(url + "/api/hello").text == "dynamic GET /api/hello"
    # A miss inside the prefix goes to the app untouched: its 404 stands.
    r = http.get(url + "/static/nothing-here.txt")
    assert (r.status_code, r.text) == (404, "the app's own 404")
    # Other methods: 405 on a file, the app's business elsewhere.
    r = http.post(url + "/static/hello.txt")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert http.post(url + "/static/upload").text == "dynamic POST /static/upload"
    with ws_connect(url.replace("http", "ws") + "/ws") as ws:
        ws.send("ping")
        assert ws.recv() == "echo ping"


def test_wrapping_an_existing_app(site: Path, live_server, http: httpx.Client) -> None:
    state: dict[str, str] = {}
    app = FlashStatic(dynamic_app(state), directory=site, prefix="/static")
    with live_server(app) as url:
        assert state["lifespan"] == "started"  # lifespan passed through to the wrapped app
        check_middleware(url, http)
    assert state["lifespan"] == "stopped"


def test_as_starlette_middleware(site: Path, live_server, http: httpx.Client) -> None:
    state: dict[str, str] = {}
    inner = dynamic_app(state)
    app = Starlette(
        routes=inner.routes,
        exception_handlers=inner.exception_handlers,
        middleware=[Middleware(FlashStatic, directory=site, prefix="/static")],
    )
    with live_server(app) as url:
        check_middleware(url, http)


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
def test_mounted(framework: str, site: Path, live_server, http: httpx.Client) -> None:
    static = FlashStatic(directory=site, html=True)
    if framework == "starlette":

        async def home(request):
            return PlainTextResponse("home")

        app = Starlette(routes=[Route("/", home), Mount("/static", app=static)])
    else:
        app = FastAPI()
        app.get("/")(lambda: "home")
        app.mount("/static", static)
    with live_server(app) as url:
        r = http.get(url + "/static/hello.txt")
        assert r.status_code == 200 and r.text == "hello, world\n"
        r = http.get(url + "/static/docs")
        assert r.status_code == 307
        assert str(r.url.join(r.headers["location"])) == url + "/static/docs/"
        assert http.get(url + "/static/docs/").text == "<h1>docs</h1>"
        # The mount point itself, without its slash, redirects into the mount.
        r = http.get(url + "/static?x=1")
        assert str(r.url.join(r.headers["location"])) == url + "/static/?x=1"
        assert http.get(url + "/static/").text == "<h1>home</h1>"
        r = http.get(url + "/static/nope.txt")
        assert r.status_code == 404 and r.text == "<h1>custom 404</h1>"
        assert r.headers["cache-control"] == "no-cache"
        assert http.get(url + "/").status_code == 200


def test_mounted_without_html_gives_plain_404(site: Path, live_server, http: httpx.Client) -> None:
    app = Starlette(routes=[Mount("/assets", app=FlashStatic(directory=site))])
    with live_server(app) as url:
        r = http.get(url + "/assets/nope.txt")
        assert (r.status_code, r.text) == (404, "Not Found")
        assert http.get(url + "/assets/docs/").status_code == 404  # no index without html=True


def test_mounted_behind_a_proxy_root_path(site: Path, live_server, http: httpx.Client) -> None:
    app = Starlette(routes=[Mount("/static", app=FlashStatic(directory=site, html=True))])
    with live_server(app, root_path="/proxy") as url:
        assert http.get(url + "/static/hello.txt").text == "hello, world\n"
        r = http.get(url + "/static/docs?a=b")
        assert str(r.url.join(r.headers["location"])) == url + "/static/docs/?a=b"


def test_middleware_passes_on_what_is_not_below_its_prefixes(site: Path, live_server, http: httpx.Client) -> None:
    # Paths outside every prefix go straight to the app; the endpoints and a root added later
    # are still ours, and under a proxy's root_path the prefix is matched below it.
    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"app " + scope["path"].encode()})

    app = FlashStatic(inner, directory=site, prefix="/static", health_path="/_health")
    app.add_files(site / "docs", prefix="/manual")
    with live_server(app, root_path="/proxy") as url:
        # uvicorn puts root_path in front of each request's path, as a proxy stripped it.
        assert http.get(url + "/static/hello.txt").text == "hello, world\n"
        assert http.get(url + "/manual/page.html").text == "<p>page</p>"
        assert http.get(url + "/_health").text == "ok"
        assert http.get(url + "/api/users").text == "app /proxy/api/users"
        assert http.get(url + "/staticky").text == "app /proxy/staticky"
        assert http.get(url + "/static/nothing.txt").text == "app /proxy/static/nothing.txt"


def test_several_roots_in_order(tmp_path: Path, live_server, http: httpx.Client) -> None:
    first = write_tree(tmp_path / "first", {"shared.txt": "first", "only-first.txt": "1"})
    second = write_tree(tmp_path / "second", {"shared.txt": "second", "only-second.txt": "2"})
    media = write_tree(tmp_path / "media", {"photo.txt": "media"})
    app = FlashStatic(directory=first, prefix="/static")
    app.add_files(second, prefix="/static")
    app.add_files(media, prefix="media/")
    with live_server(app) as url:
        assert http.get(url + "/static/shared.txt").text == "first"
        assert http.get(url + "/static/only-second.txt").text == "2"
        assert http.get(url + "/media/photo.txt").text == "media"
        assert http.get(url + "/static/photo.txt").status_code == 404


def test_starlette_packages_argument(tmp_path: Path, live_server, http: httpx.Client, monkeypatch) -> None:
    write_tree(tmp_path / "mypkg", {"__init__.py": "", "statics/pkg.txt": "from a package"})
    monkeypatch.syspath_prepend(str(tmp_path))
    app = FlashStatic(packages=["mypkg"])
    with live_server(app) as url:
        assert http.get(url + "/pkg.txt").text == "from a package"
    with pytest.raises(RuntimeError):
        FlashStatic(packages=[("mypkg", "nope")])
    with pytest.raises(RuntimeError):
        FlashStatic(directory=tmp_path / "does-not-exist")
    FlashStatic(directory=tmp_path / "does-not-exist", check_dir=False)


def _wait_until_listening(url: str, deadline: float) -> None:
    # With --workers the socket is bound first and listened on once a worker is up.
    while True:
        try:
            httpx.head(url, timeout=5)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flashstatic", "serve", *args, "--port", "0"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 20
    assert proc.stderr is not None
    for line in proc.stderr:
        match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
        if match:
            _wait_until_listening(match.group(1), deadline)
            return proc, match.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise AssertionError("flashstatic serve did not start")


def test_standalone_serves_the_example_site(http: httpx.Client) -> None:
    proc, url = _start_cli("examples/site")
    try:
        page = http.get(url + "/")
        assert page.status_code == 200 and "flashstatic example site" in page.text
        for asset, content_type in [
            ("/css/style.css", "text/css; charset=utf-8"),
            ("/js/app.js", "text/javascript; charset=utf-8"),
            ("/img/logo.png", "image/png"),
        ]:
            assert f'"{asset[1:]}"' in page.text  # linked relatively
            r = http.get(url + asset)
            assert r.status_code == 200 and r.headers["content-type"] == content_type
            assert r.content == (REPO / "examples/site" / asset.lstrip("/")).read_bytes()
        r = http.get(url + "/guide")
        assert r.status_code == 307 and r.headers["location"] == "./guide/"
        assert "<h1>Guide</h1>" in http.get(url + "/guide/").text
        r = http.get(url + "/missing-page")
        assert r.status_code == 404 and "Not found" in r.text
    finally:
        proc.terminate()
        # uvicorn re-raises SIGTERM once it has shut down gracefully.
        assert proc.wait(10) in (0, -signal.SIGTERM)


def test_standalone_under_a_prefix_and_errors(tmp_path: Path, http: httpx.Client) -> None:
    write_tree(tmp_path, {"a.txt": "A"})
    proc, url = _start_cli(str(tmp_path), "--prefix", "/files", "--max-age", "5")
    try:
        r = http.get(url + "/files/a.txt")
        assert r.text == "A" and r.headers["cache-control"] == "max-age=5, public"
        assert http.get(url + "/a.txt").status_code == 404
    finally:
        proc.terminate()
        proc.wait(10)
    done = subprocess.run(
        [sys.executable, "-m", "flashstatic", "serve", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_standalone_with_workers_and_another_architecture(tmp_path: Path, http: httpx.Client) -> None:
    write_tree(tmp_path, {"a.txt": "A" * 100_000})
    proc, url = _start_cli(str(tmp_path), "--workers", "2", "--architecture", "mt", "--log-level", "info")
    try:
        for _ in range(10):
            r = http.get(url + "/a.txt", headers={"connection": "close"})
            assert r.status_code == 200 and r.text == "A" * 100_000
    finally:
        proc.terminate()
        proc.wait(20)
    done = subprocess.run(
        [sys.executable, "-m", "flashstatic", "serve", str(tmp_path), "--architecture", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "invalid choice" in done.stderr
