"""One test per defect a review found, each failing on the code before its fix."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from flashstatic import FlashStatic
from flashstatic.amped.mapped import MappedChunks
from flashstatic.amped.pool import ProcessPool, ThreadPool
from flashstatic.http.dates import parse_http_date
from support import body_of, call_asgi, raw_request, write_tree

REPO = Path(__file__).resolve().parents[1]


def test_year_zero_is_not_a_date(tmp_path: Path, live_server) -> None:
    assert parse_http_date("Sun, 01 Jan 0000 00:00:00 GMT") is None
    write_tree(tmp_path, {"a.txt": "A"})
    with live_server(FlashStatic(directory=tmp_path)) as url:
        for header in ("If-Modified-Since", "If-Unmodified-Since", "If-Range"):
            status, _ = raw_request(url, b"/a.txt", extra=f"{header}: Sun, 01 Jan 0000 00:00:00 GMT\r\n".encode())
            assert status == 200, header


@pytest.mark.parametrize(
    ("mtime", "last_modified"),
    [(300_000_000_000, "Fri, 31 Dec 9999 23:59:59 GMT"), (-100_000_000_000, "Mon, 01 Jan 0001 00:00:00 GMT")],
)
def test_a_modification_time_no_http_date_can_say_is_sent_as_the_nearest_one(
    live_server, mtime: int, last_modified: str
) -> None:
    # tmpfs keeps times that ext4 would clamp: years past 9999 and before 1.
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no tmpfs at /dev/shm")
    root = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        write_tree(root, {"a.txt": "A"})
        os.utime(root / "a.txt", ns=(0, mtime * 1_000_000_000))
        if os.stat(root / "a.txt").st_mtime != mtime:
            pytest.skip("this tmpfs clamps such times")
        with live_server(FlashStatic(directory=root)) as url, httpx.Client(timeout=10) as client:
            response = client.get(url + "/a.txt")
            assert (response.status_code, response.headers["last-modified"]) == (200, last_modified)
            again = client.get(url + "/a.txt", headers={"if-modified-since": last_modified})
            assert again.status_code == 304
    finally:
        shutil.rmtree(root)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux unshare is not installed")
def test_helpers_work_under_a_pid_1_server(tmp_path: Path) -> None:
    # As in a container whose entrypoint is flashstatic itself, with no init.
    write_tree(tmp_path, {"a.txt": "served by pid 1"})
    probe = (
        "import asyncio, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from flashstatic import FlashStatic\n"
        "from support import call_asgi, body_of\n"
        "import os; assert os.getpid() == 1\n"
        "app = FlashStatic(directory=sys.argv[1])\n"
        "print(body_of(asyncio.run(call_asgi(app, '/a.txt'))).decode())\n"
    )
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", probe, str(tmp_path), str(REPO / "tests")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip("no permission for a PID namespace here")
    assert done.stdout.strip() == "served by pid 1", done.stderr


def test_a_replaying_receive_does_not_starve_the_loop(tmp_path: Path, live_server) -> None:
    # Large enough that the transport's buffer fills and the response task must yield.
    (tmp_path / "big.bin").write_bytes(os.urandom(32 * 1024 * 1024))
    static = FlashStatic(directory=tmp_path, chunk_size=16 * 1024)

    async def replaying(scope, receive, send):
        # Middleware that reads the request body first and hands a replay to the app.
        if scope["type"] != "http":
            return await static(scope, receive, send)
        body = await receive()

        async def replay():
            return body

        await static(scope, replay, send)

    with live_server(replaying) as url, httpx.Client(timeout=10) as client:
        assert client.get(url + "/big.bin").content == (tmp_path / "big.bin").read_bytes()


def test_test_client_without_with_across_revalidations(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note about httpx2 in its test client
        from starlette.testclient import TestClient

    write_tree(tmp_path, {"a.bin": b"x" * 200_000})
    client = TestClient(FlashStatic(directory=tmp_path, revalidate_interval=0.05))
    for _ in range(6):  # each request runs on a new event loop; revalidations cross them
        assert client.get("/a.bin").status_code == 200
        time.sleep(0.06)


def test_a_full_queue_never_cuts_a_started_response(tmp_path: Path, live_server, monkeypatch) -> None:
    from flashstatic.amped.strategy import AmpedDisk
    from test_amped import SLOW_HELPER, evict

    monkeypatch.setenv("SLOW_HELPER_DELAY", "0.3")
    for name in "abcde":
        (tmp_path / f"{name}.bin").write_bytes(os.urandom(1024 * 1024))
    app = FlashStatic(directory=tmp_path, small_file_max=0)
    app.disk.close()
    app.disk = AmpedDisk(256, ProcessPool(1, 1, 2, command=SLOW_HELPER), 256 * 1024)
    with live_server(app) as url:
        with httpx.Client(timeout=30) as client:
            for name in "abcde":  # translated and opened: what remains is paging in
                assert client.get(url + f"/{name}.bin", headers={"range": "bytes=0-0"}).status_code == 206
        for name in "abcde":
            evict(tmp_path / f"{name}.bin")

        async def fetch_all() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                return await asyncio.gather(*(client.get(url + f"/{name}.bin") for name in "abcde"))

        for name, response in zip("abcde", asyncio.run(fetch_all()), strict=True):
            assert response.status_code == 200 and response.content == (tmp_path / f"{name}.bin").read_bytes()


@pytest.mark.parametrize("backend", ["process", "thread"])
def test_a_cancelled_open_leaks_no_descriptor(tmp_path: Path, backend: str) -> None:
    from flashstatic.translate import FileFacts

    (tmp_path / "a.bin").write_bytes(b"a" * 1000)
    facts = FileFacts.from_stat(str(tmp_path / "a.bin"), os.stat(tmp_path / "a.bin"))
    pool = ProcessPool(1, 1) if backend == "process" else ThreadPool(1)

    async def scenario() -> int:
        rules = FlashStatic(directory=tmp_path).options.rules
        await pool.run("translate_not_found_page", (rules,))
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(20):
            task = asyncio.ensure_future(pool.run("open", (facts, rules)))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await asyncio.sleep(0.5)
        return len(os.listdir("/proc/self/fd")) - before

    assert asyncio.run(scenario()) <= 0
    pool.close()


@pytest.mark.blocking_allowed  # the stand-in server reads the file on the loop, as a real one may
def test_pathsend_gets_the_checked_descriptor(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 100_000)
    app = FlashStatic(directory=tmp_path, small_file_max=0)
    seen: list[bytes] = []

    def read_path(message: dict) -> None:
        if message["type"] == "http.response.pathsend":
            assert re.fullmatch(r"/proc/self/fd/\d+", message["path"])
            # Swapping the file now cannot change what the server reads.
            (tmp_path / "swap").write_bytes(b"SECRET")
            os.replace(tmp_path / "swap", tmp_path / "a.bin")
            with open(message["path"], "rb") as f:
                seen.append(f.read())

    async def scenario() -> None:
        scope_extensions = {"http.response.pathsend": {}}
        messages = await call_asgi_with_extensions(app, "/a.bin", scope_extensions, read_path)
        assert messages[0]["status"] == 200

    asyncio.run(scenario())
    assert seen == [b"a" * 100_000]


async def call_asgi_with_extensions(app, path, extensions, on_send):
    original = app.__call__

    async def with_extensions(scope, receive, send):
        scope["extensions"] = extensions
        await original(scope, receive, send)

    return await call_asgi(with_extensions, path, on_send=on_send)


def test_the_pool_starts_again_after_shutdown(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.txt": "A", "b.txt": "B"})
    for backend in ("process", "thread"):
        app = FlashStatic(directory=tmp_path, helper_backend=backend)
        assert body_of(asyncio.run(call_asgi(app, "/a.txt"))) == b"A"
        asyncio.run(app.aclose())
        assert body_of(asyncio.run(call_asgi(app, "/b.txt"))) == b"B"
    app = FlashStatic(directory=tmp_path, architecture="mt")
    asyncio.run(call_asgi(app, "/a.txt"))
    app.close()
    assert body_of(asyncio.run(call_asgi(app, "/b.txt"))) == b"B"


def test_busy_helpers_outside_the_prefix_are_a_503(tmp_path: Path) -> None:
    write_tree(tmp_path, {"404.html": "gone"})
    app = FlashStatic(directory=tmp_path, prefix="/static", html=True, helper_queue=0, max_helpers=1)
    app.disk.pool._backlog = lambda speculative: 1  # every helper busy, no room in the queue
    messages = asyncio.run(call_asgi(app, "/other"))
    assert messages[0]["status"] == 503
    head = asyncio.run(call_asgi(app, "/other", method="HEAD"))
    assert head[0]["status"] == 503 and body_of(head) == b""


def test_a_fifo_swapped_in_does_not_hang(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.bin": b"a" * 100_000})
    app = FlashStatic(directory=tmp_path, small_file_max=0, open_files=0, revalidate_interval=3600)
    assert asyncio.run(call_asgi(app, "/a.bin"))[0]["status"] == 200
    os.unlink(tmp_path / "a.bin")
    os.mkfifo(tmp_path / "a.bin")

    async def bounded() -> list[dict]:
        return await asyncio.wait_for(call_asgi(app, "/a.bin"), 10)

    assert asyncio.run(bounded())[0]["status"] == 404


def test_header_values_are_checked(tmp_path: Path) -> None:
    write_tree(tmp_path, {"snow.txt": "s"})

    def unicode_header(headers, path, url):
        headers["Content-Disposition"] = 'attachment; filename="☃.txt"'
        headers["X-Ok"] = "fine"

    app = FlashStatic(directory=tmp_path, add_headers_function=unicode_header)
    messages = asyncio.run(call_asgi(app, "/snow.txt"))
    headers = dict(messages[0]["headers"])
    assert messages[0]["status"] == 200 and b"content-disposition" not in headers
    assert headers[b"x-ok"] == b"fine"
    with pytest.raises(ValueError):
        FlashStatic(directory=tmp_path, mimetypes={".txt": "text/plain\r\nX-Injected: 1"})


def test_nul_path_cannot_reach_the_404_page(tmp_path: Path, live_server) -> None:
    from flashstatic.server import H11Protocol

    write_tree(tmp_path, {"404.html": "custom 404"})
    with live_server(FlashStatic(directory=tmp_path, html=True), http=H11Protocol) as url:
        assert raw_request(url, b"/nope")[0] == 404
        status, _ = raw_request(url, b"%00404")
        assert status == 400


def test_mapped_chunks_follow_a_growing_file(tmp_path: Path) -> None:
    from flashstatic.translate import FileFacts

    path = tmp_path / "grow.bin"
    path.write_bytes(b"x" * 5000)
    fd = os.open(path, os.O_RDONLY)
    chunks = MappedChunks()
    try:
        old = FileFacts.from_stat(str(path), os.fstat(fd))
        assert chunks.resident(fd, old, old.size, 0, old.size) is True
        with open(path, "ab") as f:
            f.write(os.urandom(3 * 1024 * 1024))
        new = FileFacts.from_stat(str(path), os.fstat(fd))
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert chunks.resident(fd, new, new.size, 2 * 1024 * 1024, 4096) is False
    finally:
        chunks.close()
        os.close(fd)


def test_scan_does_not_walk_links_out_of_the_root(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "root", {"a.txt": "A"})
    os.symlink("/usr", root / "usr")
    started = time.monotonic()
    app = FlashStatic(directory=root, autorefresh=False)
    assert time.monotonic() - started < 2
    assert asyncio.run(call_asgi(app, "/usr/bin/env"))[0]["status"] == 404


def test_a_plain_name_linking_to_a_dotfile_is_hidden(tmp_path: Path) -> None:
    write_tree(tmp_path, {".env": "SECRET=1"})
    os.symlink(tmp_path / ".env", tmp_path / "env.txt")
    assert asyncio.run(call_asgi(FlashStatic(directory=tmp_path), "/env.txt"))[0]["status"] == 404
    allowed = FlashStatic(directory=tmp_path, allow_dotfiles=True)
    assert body_of(asyncio.run(call_asgi(allowed, "/env.txt"))) == b"SECRET=1"


def test_a_crowd_opening_one_file_costs_one_open(tmp_path: Path) -> None:
    # Found by benchmarks/load_many_connections.py: 1,000 clients arriving at once on a cold
    # server each sent their own open to the helpers, overflowed the queue, and most got 503s.
    (tmp_path / "a.bin").write_bytes(os.urandom(200_000))
    app = FlashStatic(directory=tmp_path, small_file_max=0, helper_queue=8, max_helpers=1)

    async def crowd() -> list[list[dict]]:
        await call_asgi(app, "/a.bin", method="HEAD")  # translated; not opened yet
        return await asyncio.gather(*(call_asgi(app, "/a.bin") for _ in range(100)))

    answers = asyncio.run(crowd())
    assert [messages[0]["status"] for messages in answers] == [200] * 100
    assert app.disk.pool.stats()["dispatched"] <= 3  # one translation, one open, a page-in at most
    app.close()
