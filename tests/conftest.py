"""Shared fixtures: a real uvicorn on 127.0.0.1 (a free port each time) and served trees."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from support import write_tree

ServerFactory = Callable[..., contextlib.AbstractContextManager[str]]


@contextlib.contextmanager
def _uvicorn_in_thread(app: Any, **config: Any) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config.setdefault("log_level", "warning")
    config.setdefault("lifespan", "auto")
    server = uvicorn.Server(uvicorn.Config(app, **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def live_server() -> ServerFactory:
    """``with live_server(app) as url:`` runs ``app`` under a real uvicorn until the block ends."""
    return _uvicorn_in_thread


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A small served tree with the cases most tests need."""
    root = tmp_path / "site"
    write_tree(root, {
        "hello.txt": "hello, world\n",
        "app.js": "console.log('app');\n" * 50,
        "style.css": "body { color: red; }\n" * 40,
        "data.bin": bytes(range(256)) * 1024,  # 256 KiB: larger than the small-file cache limit
        "index.html": "<h1>home</h1>",
        "docs/index.html": "<h1>docs</h1>",
        "docs/page.html": "<p>page</p>",
        "empty.txt": "",
        "404.html": "<h1>custom 404</h1>",
        "app.3f2a9c1d7b4e.js": "console.log('hashed');\n",
    })
    return root
