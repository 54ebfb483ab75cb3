"""The middleware under the other ASGI servers users run: Hypercorn (HTTP/1.1, h2c, HTTP/2 over
TLS, its trio worker), Granian (HTTP/1.1 and h2c) and Daphne, each started as a user would, as a
subprocess on a free port, and asked over real HTTP what a site needs: whole bodies, HEAD,
ranges, 304s, precompressed siblings, index files, a miss handed to the app, a dynamic route,
a file larger than one chunk, and a clean shutdown that leaves no helper behind."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import wait_listening, write_tree

TESTS = Path(__file__).resolve().parent
LARGE = bytes(range(256)) * (3 * 4096)  # 3 MiB: several chunks, zero copy where offered


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _command(server: str, port: int, protocol: str, certificate: tuple[Path, Path] | None) -> list[str]:
    if server.startswith("hypercorn"):
        argv = [sys.executable, "-m", "hypercorn", "servers_app:app", "--bind", f"127.0.0.1:{port}"]
        if server == "hypercorn-trio":
            argv += ["--worker-class", "trio"]
        if certificate is not None:
            key, cert = certificate
            argv += ["--keyfile", str(key), "--certfile", str(cert)]
        return argv
    if server == "granian":
        argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
        if protocol == "h2c":
            argv += ["--http", "2"]
        return [*argv, "servers_app:app"]
    assert server == "daphne"
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "servers_app:app"]


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (workers, and the helpers they started)."""
    from benchmarks.serverproc import process_tree

    return set(process_tree(pid)[1:])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


CASES = [
    ("hypercorn", "http1"),
    ("hypercorn", "h2c"),
    ("hypercorn", "h2-tls"),
    ("hypercorn-trio", "http1"),
    ("granian", "http1"),
    ("granian", "h2c"),
    ("daphne", "http1"),
]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    script = "console.log('flashstatic');\n" * 200
    return write_tree(
        tmp_path / "site",
        {
            "a.txt": "0123456789",
            "app.js": script,
            "app.js.gz": gzip.compress(script.encode()),
            "sub/index.html": "<h1>index</h1>",
            "large.bin": LARGE,
        },
    )


@pytest.fixture(params=CASES, ids=[f"{server}-{protocol}" for server, protocol in CASES])
def server(request: pytest.FixtureRequest, site: Path, certificate: tuple[Path, Path]) -> Iterator[tuple[str, str]]:
    name, protocol = request.param
    port = _free_port()
    tls = certificate if protocol == "h2-tls" else None
    env = {
        **os.environ,
        "FLASHSTATIC_TEST_ROOT": str(site),
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]),
    }
    process = subprocess.Popen(
        _command(name, port, protocol, tls),
        cwd=TESTS,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        try:
            wait_listening(process, port, name)
        except RuntimeError:
            process.kill()
            pytest.fail(f"{name} did not start: {process.communicate()[1].decode(errors='replace')[-2000:]}")
        yield base, protocol
    finally:
        # Helpers are started by the first cold file: the tree is taken before the stop.
        below = _descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            _, stderr = process.communicate()
            pytest.fail(f"{name} did not stop within 20 s of SIGTERM")
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in below) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in below if _alive(pid)]
        if left:
            os.killpg(process.pid, signal.SIGKILL)
        log = stderr.decode(errors="replace")
        assert not left, f"processes left behind by {name}: {left}\n{log[-2000:]}"
        assert "Traceback" not in log, log[-3000:]


def test_a_site_under_another_server(server: tuple[str, str]) -> None:
    base, protocol = server
    http2 = protocol != "http1"
    with httpx.Client(base_url=base, http1=not http2, http2=http2, verify=False, timeout=10) as client:
        whole = client.get("/static/a.txt")
        assert whole.status_code == 200 and whole.content == b"0123456789"
        assert whole.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        assert whole.headers["content-type"].startswith("text/plain")
        etag = whole.headers["etag"]

        head = client.head("/static/a.txt")
        assert head.status_code == 200 and head.headers["content-length"] == "10" and head.content == b""

        assert client.get("/static/a.txt", headers={"if-none-match": etag}).status_code == 304

        part = client.get("/static/a.txt", headers={"range": "bytes=2-5"})
        assert part.status_code == 206 and part.content == b"2345"
        assert part.headers["content-range"] == "bytes 2-5/10"
        parts = client.get("/static/a.txt", headers={"range": "bytes=0-1,8-9"})
        assert parts.status_code == 206
        assert parts.headers["content-type"].startswith("multipart/byteranges; boundary=")
        assert b"Content-Range: bytes 0-1/10\r\n\r\n01" in parts.content
        assert b"Content-Range: bytes 8-9/10\r\n\r\n89" in parts.content

        script = client.get("/static/app.js", headers={"accept-encoding": "gzip"})
        assert script.headers["content-encoding"] == "gzip" and "accept-encoding" in script.headers["vary"].lower()
        assert script.content == ("console.log('flashstatic');\n" * 200).encode()  # httpx decoded it

        redirect = client.get("/static/sub")
        assert redirect.status_code == 307 and redirect.headers["location"] == "./sub/"
        assert client.get("/static/sub/").text == "<h1>index</h1>"

        miss = client.get("/static/missing.txt")  # not ours: the wrapped app's 404
        assert miss.status_code == 404 and miss.text == "Not Found"
        assert client.get("/dynamic", params={"n": "7"}).text == "dynamic 7"

        large = client.get("/static/large.bin")
        assert large.status_code == 200 and large.content == LARGE
