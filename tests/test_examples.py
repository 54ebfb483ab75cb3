"""Every command in examples/, run as its comment says (a free port instead of 8000), over HTTP."""

from __future__ import annotations

import re
import shlex
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from support import ServerProcess

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SITE = EXAMPLES / "site"

# The ASGI commands of an example: indented comment lines that start with one of these programs
# (the WSGI examples, run by gunicorn, have their own tests).
_COMMAND = re.compile(r"^# {3,}((?:uvicorn|flashstatic) .*)$", re.MULTILINE)
# Run with this interpreter, so that the test runs the flashstatic under test.
_PROGRAMS = {"uvicorn": [sys.executable, "-m", "uvicorn"], "flashstatic": [sys.executable, "-m", "flashstatic"]}


def commands_of(example: str) -> list[str]:
    return _COMMAND.findall((EXAMPLES / example).read_text())


def argv_of(command: str) -> list[str]:
    program, *args = shlex.split(command)
    assert "--port" in args and args[args.index("--port") + 1] == "8000", f"{command!r}: say --port 8000"
    args[args.index("--port") + 1] = "0"  # the kernel picks a free one; uvicorn logs it
    return _PROGRAMS[program] + args


@contextmanager
def running(command: str) -> Iterator[ServerProcess]:
    server = ServerProcess(argv_of(command), cwd=REPO)
    try:
        yield server
    finally:
        # uvicorn re-raises SIGTERM once it has shut down gracefully.
        assert server.stop() in (0, -signal.SIGTERM), "".join(server.log)


def example_commands() -> list[tuple[str, str]]:
    return [(path.name, command) for path in sorted(EXAMPLES.glob("*.py")) for command in commands_of(path.name)]


def check_static(client: httpx.Client, prefix: str) -> None:
    """The site's files, byte for byte, under ``prefix``; its index for the directory."""
    for name, content_type in [
        ("css/style.css", "text/css; charset=utf-8"),
        ("img/logo.png", "image/png"),
        ("js/app.js", "text/javascript; charset=utf-8"),
    ]:
        r = client.get(f"{prefix}/{name}")
        assert r.status_code == 200, (name, r.status_code)
        assert r.headers["content-type"] == content_type and r.content == (SITE / name).read_bytes()
    page = client.get(f"{prefix}/")
    assert page.status_code == 200 and page.content == (SITE / "index.html").read_bytes()
    clip = client.get(f"{prefix}/media/clip.webm", headers={"range": "bytes=100-199"})
    assert clip.status_code == 206 and clip.content == (SITE / "media/clip.webm").read_bytes()[100:200]


def test_every_example_has_a_command_and_a_case() -> None:
    runnable = {name for name, _ in example_commands()}
    assert all(commands_of(name) for name in CHECKS), "each example says how to run it"
    assert runnable == set(CHECKS), "each example run by uvicorn or flashstatic has its checks here"


def check_middleware_app(client: httpx.Client, server: ServerProcess) -> None:
    check_static(client, "/static")
    assert "Dynamic page" in client.get("/").text
    assert client.get("/api/hello", params={"name": "flash"}).json() == {"hello": "flash"}
    # A /static path that names no file reaches the app: FastAPI's own 404.
    r = client.get("/static/no-such-file.txt")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


def check_mounted(client: httpx.Client, server: ServerProcess) -> None:
    check_static(client, "/static")
    home = client.get("/")
    assert "Dynamic page" in home.text and f'"{server.url}/static/css/style.css"' in home.text
    r = client.get("/static/no-such-file.txt")
    assert r.status_code == 404 and r.content == (SITE / "404.html").read_bytes()


def check_standalone(client: httpx.Client, server: ServerProcess) -> None:
    check_static(client, "")
    r = client.get("/guide")
    assert r.status_code == 307 and r.headers["location"] == "./guide/"
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.content == (SITE / "404.html").read_bytes()


def check_workers(client: httpx.Client, server: ServerProcess) -> None:
    server.wait_for_log("Application startup complete", count=2)
    pids = set(re.findall(r"Started server process \[(\d+)\]", "".join(server.log)))
    assert len(pids) == 2, "".join(server.log)
    check_static(client, "")
    if "examples.workers:app" not in server.proc.args:
        return  # flashstatic serve has no dynamic page to ask which worker answered
    answered: set[str] = set()
    for _ in range(200):  # a new connection each time: the kernel picks the worker
        with httpx.Client(base_url=server.url, timeout=10) as fresh:
            answered.add(fresh.get("/worker").text.split()[1])
        if len(answered) == 2:
            break
    assert answered == pids, f"only {answered} of {pids} answered"


CHECKS = {
    "middleware_app.py": check_middleware_app,
    "mount_starlette.py": check_mounted,
    "mount_fastapi.py": check_mounted,
    "standalone.py": check_standalone,
    "workers.py": check_workers,
}


@pytest.mark.parametrize(("example", "command"), example_commands())
def test_example(example: str, command: str) -> None:
    with running(command) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        CHECKS[example](client, server)
