"""The Flask and Django examples, run for real: a static file and a dynamic page from each."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from wsgi_servers import WORKTREE, gunicorn, uvicorn_process, wait_until_serving

EXAMPLES = WORKTREE / "examples"


def test_flask_under_gunicorn() -> None:
    pytest.importorskip("flask")
    here = EXAMPLES / "flask_gunicorn"
    with gunicorn("app:app", worker_class="gthread", threads=2, extra=["--chdir", str(here)]) as url:
        page = httpx.get(url + "/", timeout=20)
        css = httpx.get(url + "/static/style.css", timeout=20)
        missing = httpx.get(url + "/static/nope.css", timeout=20)
    assert page.status_code == 200 and "Hello from Flask" in page.text
    assert 'href="/static/style.css"' in page.text  # url_for("static", ...) still builds
    assert css.status_code == 200 and css.content == (here / "static" / "style.css").read_bytes()
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert "etag" in css.headers
    assert missing.status_code == 404  # Flask's 404 page: the path is not a file


def test_flask_url_for_static_still_builds() -> None:
    flask = pytest.importorskip("flask")
    import importlib.util

    spec = importlib.util.spec_from_file_location("flask_example", EXAMPLES / "flask_gunicorn" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Flask finds the app's folder through its module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    with module.app.test_request_context():
        assert flask.url_for("static", filename="style.css") == "/static/style.css"


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("django")
    root = tmp_path_factory.mktemp("django") / "collected"
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=EXAMPLES / "django_site",
        env={**os.environ, "DJANGO_STATIC_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_django_collected_static(interface: str, collected: Path) -> None:
    """The project names flashstatic in its settings only (MIDDLEWARE, STORAGES): Django's own
    wsgi.py under gunicorn and asgi.py under uvicorn (the middleware's async path)."""
    here = EXAMPLES / "django_site"
    env = {"DJANGO_STATIC_ROOT": str(collected)}
    if interface == "wsgi":
        server = gunicorn("site_config.wsgi", worker_class="gthread", threads=2, env=env, extra=["--chdir", str(here)])
    else:
        server = uvicorn_process("site_config.asgi:application", cwd=here, env=env)
    source = (here / "assets" / "css" / "app.css").read_bytes()
    large = bytes(range(256)) * 2000  # beyond the small-file cache: read from the file
    (collected / "large.bin").write_bytes(large)
    with server as url, httpx.Client(timeout=20) as client:
        page = client.get(url + "/")
        hashed_url = re.search(r'href="([^"]+)"', page.text).group(1)
        hashed = client.get(url + hashed_url, headers={"accept-encoding": "identity"})
        plain = client.get(url + "/static/css/app.css", headers={"accept-encoding": "identity"})
        zipped = client.get(url + hashed_url, headers={"accept-encoding": "gzip"})
        brotli = client.get(url + hashed_url, headers={"accept-encoding": "br, gzip"})
        part = client.get(url + hashed_url, headers={"accept-encoding": "identity", "range": "bytes=10-19"})
        missing = client.get(url + "/static/css/nope.css")
        whole = client.get(url + "/static/large.bin")
        tail = client.get(url + "/static/large.bin", headers={"range": "bytes=-1000"})
    assert page.status_code == 200 and "Hello from Django" in page.text
    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", hashed_url)
    assert hashed.status_code == 200 and hashed.content == source
    assert hashed.headers["cache-control"] == "max-age=31536000, public, immutable"
    assert hashed.headers["access-control-allow-origin"] == "*"
    assert "content-disposition" not in hashed.headers
    assert plain.status_code == 200 and plain.headers["cache-control"] == "max-age=60, public"
    # collectstatic wrote the siblings (CompressedManifestStaticFilesStorage).
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == source
    assert brotli.headers["content-encoding"] == "br"
    assert part.status_code == 206 and part.content == source[10:20]
    assert missing.status_code == 404  # Django's answer: no such file
    assert whole.status_code == 200 and whole.content == large
    assert whole.headers["content-length"] == str(len(large))
    assert tail.status_code == 206 and tail.content == large[-1000:]


def test_django_runserver_leaves_static_files_to_the_middleware() -> None:
    """runserver_nostatic: in DEBUG the middleware serves the source files (finders), with its
    headers, where runserver's own static view would have answered."""
    pytest.importorskip("django")
    here = EXAMPLES / "django_site"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = os.pathsep.join([str(WORKTREE), os.environ.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=here,
        env={**os.environ, "PYTHONPATH": path, "DJANGO_DEBUG": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        css = httpx.get(url + "/static/css/app.css", headers={"accept-encoding": "identity"}, timeout=20)
    finally:
        process.terminate()
        process.wait(15)
    assert css.status_code == 200 and css.content == (here / "assets" / "css" / "app.css").read_bytes()
    assert css.headers["cache-control"] == "max-age=0, public"  # DEBUG's default
    assert css.headers["etag"].startswith('"')  # flashstatic's validator; Django's view sends none
