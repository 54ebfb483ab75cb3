"""FlashStatic where Starlette's StaticFiles was: trio, no lifespan, exception handlers, hooks."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Router
from starlette.testclient import TestClient

from flashstatic import FlashStatic
from support import wait_listening, write_tree

REPO = Path(__file__).resolve().parent.parent


# -- trio ---------------------------------------------------------------------------------------


def test_trio_serves_files_in_threads(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = FlashStatic(directory=site, html=True, metrics_path="/metrics")
    with caplog.at_level(logging.INFO, logger="flashstatic"), TestClient(app, backend="trio") as client:
        for _ in range(2):
            assert client.get("/hello.txt").text == "hello, world\n"
            big = client.get("/data.bin")  # past the small-file cache: read in chunks
            assert big.status_code == 200 and big.content == bytes(range(256)) * 1024
            assert client.get("/docs/").text == "<h1>docs</h1>"
            missing = client.get("/nope.txt")
            assert missing.status_code == 404 and missing.text == "<h1>custom 404</h1>"
        assert client.get("/metrics").status_code == 200
    assert sum("needs asyncio" in record.getMessage() for record in caplog.records) == 1
    assert app.disk.stats().get("helpers", {}).get("dispatched", 0) == 0  # no helper process under trio


@contextmanager
def hypercorn_trio(app_dir: Path, target: str) -> Iterator[tuple[str, list[str]]]:
    """``hypercorn --worker-class trio`` in a subprocess; yields its URL and its log lines."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "--worker-class", "trio", "--bind", f"127.0.0.1:{port}", target],
        cwd=app_dir,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(app_dir)])},
    )
    log: list[str] = []
    try:
        wait_listening(process, port, "hypercorn", timeout=20)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        out, err = process.communicate(timeout=20)
        log.extend((out + err).splitlines())


def test_trio_under_hypercorn_over_http(site: Path, tmp_path: Path) -> None:
    (tmp_path / "trio_app.py").write_text(
        "from flashstatic import FlashStatic\n"
        f"app = FlashStatic(directory={str(site)!r}, html=True, metrics_path='/metrics')\n"
    )
    with hypercorn_trio(tmp_path, "trio_app:app") as (url, log), httpx.Client(timeout=10) as http:
        for _ in range(2):
            assert http.get(url + "/hello.txt").text == "hello, world\n"
            assert http.get(url + "/data.bin").content == bytes(range(256)) * 1024
            assert http.head(url + "/app.js").headers["content-length"] == str(len("console.log('app');\n") * 50)
            assert http.get(url + "/nope.txt").status_code == 404
        assert "flashstatic_" in http.get(url + "/metrics").text
    assert not [line for line in log if "Traceback" in line or "Error" in line], "\n".join(log)


# -- nothing left to the garbage collector -----------------------------------------------------

_NO_LIFESPAN = """
import gc, os, sys
from starlette.testclient import TestClient
from flashstatic import FlashStatic

app = FlashStatic(directory=sys.argv[1])
for _ in range(10):  # each request on an event loop of its own, none with lifespan
    assert TestClient(app).get("/hello.txt").text == "hello, world\\n"
pids = list(app.disk.pool.pids)
assert pids
del app
gc.collect()
alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
print("alive after collection:", alive)
"""


def test_no_helper_or_socket_left_to_the_collector(site: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-X", "dev", "-c", _NO_LIFESPAN, str(site)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert "alive after collection: []" in result.stdout, result.stdout + result.stderr
    assert "ResourceWarning" not in result.stderr, result.stderr


# -- a missing directory ------------------------------------------------------------------------


def test_missing_directory_raises_as_starlette_does(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        FlashStatic(directory=tmp_path / "nope")
    unchecked = FlashStatic(directory=tmp_path / "nope", check_dir=False)
    assert not unchecked.config_checked
    with pytest.raises(RuntimeError, match=r"Directory '.*nope' does not exist"):
        TestClient(unchecked).get("/a.txt")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RuntimeError, match="is not a directory"):
        TestClient(FlashStatic(directory=tmp_path / "file", check_dir=False)).get("/a.txt")
    checked = FlashStatic(directory=tmp_path, check_dir=False)
    assert TestClient(checked).get("/file").text == "x"
    assert checked.config_checked


# -- misses and methods inside a Starlette app ----------------------------------------------------


async def _custom(request: Request, exc: Exception) -> PlainTextResponse:
    assert isinstance(exc, HTTPException)
    return PlainTextResponse(f"handled {exc.status_code}", status_code=exc.status_code, headers=exc.headers)


def test_mounted_miss_reaches_exception_handlers(site: Path, tmp_path: Path, live_server) -> None:
    bare = write_tree(tmp_path / "bare", {"a.txt": "a"})
    app = Starlette(
        routes=[
            Mount("/html", app=FlashStatic(directory=site, html=True)),
            Mount("/bare", app=FlashStatic(directory=bare)),
        ],
        exception_handlers={404: _custom, 405: _custom},
    )
    with live_server(app) as url, httpx.Client(timeout=10) as http:
        assert http.get(url + "/bare/a.txt").text == "a"
        r = http.get(url + "/bare/nope.txt")
        assert (r.status_code, r.text) == (404, "handled 404")
        r = http.post(url + "/bare/a.txt")
        assert (r.status_code, r.text, r.headers["allow"]) == (405, "handled 405", "GET, HEAD")
        # html=True with a 404.html: the page is the answer, as with StaticFiles.
        r = http.get(url + "/html/nope.txt")
        assert (r.status_code, r.text) == (404, "<h1>custom 404</h1>")
        (site / "404.html").unlink()
        time.sleep(1.1)  # past revalidate_interval
        r = http.get(url + "/html/nope.txt")
        assert (r.status_code, r.text) == (404, "handled 404")


def test_outside_a_starlette_app_a_miss_is_answered(site: Path, live_server) -> None:
    # A bare Router has no exception middleware: raising would be a 500.
    routed = Router(routes=[Mount("/static", app=FlashStatic(directory=site))])
    with live_server(routed) as url, httpx.Client(timeout=10) as http:
        r = http.get(url + "/static/nope.txt")
        assert (r.status_code, r.text) == (404, "Not Found")
        r = http.post(url + "/static/hello.txt")
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD")
    with live_server(FlashStatic(directory=site, html=True)) as url, httpx.Client(timeout=10) as http:
        r = http.get(url + "/nope.txt")
        assert (r.status_code, r.text) == (404, "<h1>custom 404</h1>")


# -- fallback (single-page apps) -----------------------------------------------------------------


def test_fallback_answers_unknown_routes_with_the_app_shell(tmp_path: Path, live_server) -> None:
    dist = write_tree(tmp_path / "dist", {"index.html": "<div id=root></div>", "assets/app-4YPQJQXW.js": "go()"})
    app = Starlette(routes=[Mount("/", app=FlashStatic(directory=dist, fallback="index.html"))])
    with live_server(app) as url, httpx.Client(timeout=10) as http:
        for route in ("/dashboard", "/users/42/settings", "/dashboard/"):
            r = http.get(url + route)
            assert (r.status_code, r.text) == (200, "<div id=root></div>"), route
            assert r.headers["cache-control"] == "no-cache"
            assert r.headers["content-type"].startswith("text/html")
        assert http.head(url + "/dashboard").headers["content-length"] == str(len("<div id=root></div>"))
        assert http.get(url + "/assets/app-4YPQJQXW.js").text == "go()"
        assert "immutable" in http.get(url + "/assets/app-4YPQJQXW.js").headers["cache-control"]
        assert http.get(url + "/assets/app-00000000.js").status_code == 404  # an extension: a real 404
        assert http.get(url + "/favicon.ico").status_code == 404


# -- Starlette's hooks ---------------------------------------------------------------------------


class _ShellOnMiss(FlashStatic):
    async def get_response(self, path: str, scope):
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            return await super().get_response("index.html", scope)


class _Aliases(FlashStatic):
    def lookup_path(self, path: str):
        full_path, stat_result = super().lookup_path(path)
        if stat_result is None and path == "old.txt":
            return super().lookup_path("hello.txt")
        return full_path, stat_result


def test_get_response_and_lookup_path_overrides_are_honoured(site: Path, live_server) -> None:
    app = Starlette(
        routes=[Mount("/shell", app=_ShellOnMiss(directory=site)), Mount("/alias", app=_Aliases(directory=site))]
    )
    with live_server(app) as url, httpx.Client(timeout=10) as http:
        assert http.get(url + "/shell/hello.txt").text == "hello, world\n"
        r = http.get(url + "/shell/some/route")
        assert (r.status_code, r.text) == (200, "<h1>home</h1>")
        r = http.get(url + "/alias/old.txt")
        assert (r.status_code, r.text) == (200, "hello, world\n")
        assert http.get(url + "/alias/app.js").status_code == 200
        assert http.get(url + "/alias/nope.txt").status_code == 404


def test_lookup_path_and_get_path_as_starlette_defines_them(site: Path) -> None:
    app = FlashStatic(directory=site)
    assert app.get_path({"path": "/docs/../hello.txt"}) == "hello.txt"
    full_path, stat_result = app.lookup_path("hello.txt")
    assert full_path == str(site / "hello.txt") and stat_result is not None and stat_result.st_size == 13
    assert app.lookup_path("/etc/passwd") == ("", None)
    assert app.lookup_path("\\\\server\\share") == ("", None)
    assert app.lookup_path("../site/hello.txt")[1] is not None  # still inside
    assert app.lookup_path("../../etc/passwd") == ("", None)


def test_a_hook_patched_after_construction_is_honoured(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = Starlette(routes=[Mount("/", app=FlashStatic(directory=site))])

    def broken(self: FlashStatic, path: str) -> tuple[str, None]:
        raise TimeoutError

    monkeypatch.setattr(FlashStatic, "lookup_path", broken)
    response = TestClient(app, raise_server_exceptions=False).get("/hello.txt")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_fastapi_spa_example() -> None:
    from test_examples import commands_of, running

    (command,) = commands_of("fastapi_spa/app.py")
    dist = REPO / "examples" / "fastapi_spa" / "dist"
    with running(command) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        shell = (dist / "index.html").read_text()
        for route in ("/", "/users/42", "/settings/profile/"):
            r = http.get(route)
            assert (r.status_code, r.text) == (200, shell), route
        assert http.get("/users/42").headers["cache-control"] == "no-cache"
        asset = http.get("/assets/app-BZ2F3x9a.js")
        assert asset.text == (dist / "assets" / "app-BZ2F3x9a.js").read_text()
        assert "immutable" in asset.headers["cache-control"]
        assert http.get("/api/greeting").json() == {"text": "Hello from the API"}
        assert http.get("/assets/app-00000000.js").status_code == 404


def test_fallback_stays_below_its_prefix(tmp_path: Path, live_server) -> None:
    dist = write_tree(tmp_path / "dist", {"index.html": "shell"})
    app = FlashStatic(directory=dist, prefix="/app", fallback="index.html")
    with live_server(app) as url, httpx.Client(timeout=10) as http:
        assert http.get(url + "/app/users/42").text == "shell"
        assert http.get(url + "/elsewhere").status_code == 404


def test_hooks_answer_a_busy_disk_with_503(site: Path) -> None:
    # helper_queue=0: every helper job is refused, as when the queue is full.
    app = Starlette(routes=[Mount("/", app=_ShellOnMiss(directory=site, helper_queue=0))])
    response = TestClient(app, raise_server_exceptions=False).get("/hello.txt")
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")


def test_a_preflight_reaches_a_mounted_app_with_cors(tmp_path: Path) -> None:
    # Mounted in Starlette, other methods raise 405 for the app's handlers; a CORS preflight
    # is answered when cors_origins asks for it.
    root = write_tree(tmp_path / "static", {"a.txt": "a"})
    app = Starlette(routes=[Mount("/static", app=FlashStatic(directory=root, cors_origins=["https://app.example"]))])
    with TestClient(app) as client:
        preflight = client.options(
            "/static/a.txt",
            headers={"origin": "https://app.example", "access-control-request-method": "GET"},
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert client.post("/static/a.txt").status_code == 405
