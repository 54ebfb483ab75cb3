"""Shared fixtures: a real uvicorn on 127.0.0.1 (a free port each time) and served trees."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from blockbuster import BlockBuster, BlockBusterFunction, blockbuster_ctx

from support import write_tree

# Calls blockbuster does not watch by default that can wait for a disk, with the places where
# flashstatic makes them on the event loop on purpose. Each allowance is a promise the AMPED
# design makes; anything else reaching the disk from flashstatic on the loop fails the test.
_DISK_CALLS: dict[str, list[tuple[str, set[str]]]] = {
    # A read on the loop only after a residency check, or a helper's page-in, said it is in memory.
    "pread": [("flashstatic/amped/strategy.py", {"_read_resident"})],
    # preadv with RWF_NOWAIT: the kernel answers EAGAIN instead of waiting for the disk.
    "preadv": [("flashstatic/amped/residency.py", {"read_if_resident", "choose_probe"})],
    # fstat of an open descriptor reads the in-memory inode.
    "fstat": [
        ("flashstatic/amped/openfiles.py", {"_unchanged"}),
        ("flashstatic/amped/strategy.py", {"open", "_open_fd", "_keep_opened", "_read_nowait"}),
        ("flashstatic/server/cycle.py", {"_send_file"}),
    ],
    "open": [],
    "lstat": [],
}


def _watch_disk_calls(bb: BlockBuster) -> list[BlockBusterFunction]:
    extra = [
        BlockBusterFunction(
            os,
            name,
            scanned_modules=["flashstatic"],
            can_block_functions=[*allowed, ("flashstatic/translate.py", {"scan"})],
        )
        for name, allowed in _DISK_CALLS.items()
    ]
    for function in extra:
        function.activate()
    return extra


@pytest.fixture(autouse=True)
def blocking_detector(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test in which flashstatic blocks its event loop on disk (or sleeps on it).

    Tests of the SPED architecture, which blocks by definition, are marked ``blocking_allowed``.
    """
    if request.node.get_closest_marker("blocking_allowed"):
        yield
        return
    with blockbuster_ctx(scanned_modules=["flashstatic"]) as bb:
        # Starlette builds its middleware stack inside the loop, at lifespan startup: the
        # constructor's directory check and autorefresh=False's scan run once, before serving.
        for function in bb.functions.values():
            function.can_block_functions.append(("flashstatic/config.py", {"build_options"}))
            function.can_block_functions.append(("flashstatic/translate.py", {"scan"}))
        # sendfile on the loop only for pages made resident first (cycle._ensure_resident, or
        # the middleware's AMPED make_resident before each zerocopysend message).
        bb.functions["os.sendfile"].can_block_functions.append(
            ("flashstatic/server/sendfile.py", {"sendfile_resident"})
        )
        # readlink of /proc/self/fd/N: procfs answers from memory.
        bb.functions["os.readlink"].can_block_functions.append(("flashstatic/amped/strategy.py", {"descriptor_path"}))
        # The protocol's own file responses: each window after resident_now() said yes.
        bb.functions["os.sendfile"].can_block_functions.append(("flashstatic/server/direct.py", {"send_now"}))
        extra = _watch_disk_calls(bb)
        try:
            yield
        finally:
            for function in extra:
                function.deactivate()


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
    # httpx asks for br and zstd too when their decoders are installed; the tests' fake
    # siblings must not depend on what else is installed.
    with httpx.Client(timeout=10, follow_redirects=False, headers={"accept-encoding": "gzip, deflate"}) as client:
        yield client


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A small served tree with the cases most tests need."""
    root = tmp_path / "site"
    write_tree(
        root,
        {
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
        },
    )
    return root


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed (key, certificate) pair for 127.0.0.1, for the TLS tests."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, cert


@pytest.fixture
def log_lines() -> Iterator[Callable[[str], list[str]]]:
    """``lines = log_lines("flashstatic.access")``: the messages that logger emits at INFO and
    above until the test ends (in this process: in-thread servers)."""
    watched: list[tuple[logging.Logger, logging.Handler, int]] = []

    def watch(name: str) -> list[str]:
        lines: list[str] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                lines.append(record.getMessage())

        logger, handler = logging.getLogger(name), Collect()
        watched.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        return lines

    yield watch
    for logger, handler, level in watched:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def access_records(log_lines: Callable[[str], list[str]]) -> list[str]:
    """The flashstatic.access lines of servers running in this process."""
    return log_lines("flashstatic.access")
