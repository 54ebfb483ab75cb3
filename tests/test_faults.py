"""Faults: helpers killed, files changed during a transfer, clients that vanish, no descriptors
left, huge directories and files past 4 GiB. Each response is whole and right, or cut with the
connection closed; the server goes on; resources come back."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from flashstatic import FlashStatic
from flashstatic.server import HttpToolsProtocol
from support import flashstatic_serve
from test_amped import _alive, _fetch_in_thread, amped_app, evict

MIB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- helpers --------------------------------------------------------------------------------------


def test_all_helpers_killed_mid_transfer(tmp_path: Path, live_server, monkeypatch) -> None:
    monkeypatch.setenv("SLOW_HELPER_DELAY", "0.5")
    for name in "abcd":
        (tmp_path / f"{name}.bin").write_bytes(os.urandom(2 * MIB))
    app = amped_app(tmp_path, slow=True, min=2, max=2)
    pool = app.disk.pool
    with live_server(app) as url:
        for name in "abcd":
            evict(tmp_path / f"{name}.bin")
        results = [{} for _ in "abcd"]
        threads = [_fetch_in_thread(f"{url}/{name}.bin", results[i]) for i, name in enumerate("abcd")]
        killed: set[int] = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(t.is_alive() for t in threads):
            for pid in pool.pids:  # every helper, as often as they come back
                if pid not in killed:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            time.sleep(0.05)
        for thread in threads:
            thread.join(30)
        for name, result in zip("abcd", results, strict=True):
            # Whole and right (a retry on a fresh helper), or cut: never wrong bytes, never a hang.
            if "response" in result:
                response = result["response"]
                assert response.status_code in (200, 503)
                if response.status_code == 200:
                    assert response.content == (tmp_path / f"{name}.bin").read_bytes()
            else:
                assert isinstance(result["error"], httpx.RemoteProtocolError), result
        assert len(killed) >= 2 and pool.stats()["lost"] >= 2
        with httpx.Client(timeout=30) as client:  # the pool recovers
            for name in "abcd":
                assert client.get(f"{url}/{name}.bin").content == (tmp_path / f"{name}.bin").read_bytes()
        time.sleep(0.2)
        assert not any(_alive(pid) for pid in killed)  # reaped


# -- files changed during a transfer ----------------------------------------------------------------


def _change(kind: str, path: Path) -> None:
    if kind == "truncate":
        os.truncate(path, 1000)
    elif kind == "extend":
        with open(path, "ab") as f:
            f.write(os.urandom(MIB))
    elif kind == "unlink":
        os.unlink(path)
        path.write_bytes(b"new file")
    elif kind == "rename":
        fresh = path.with_name(".fresh")
        fresh.write_bytes(b"renamed in")
        os.replace(fresh, path)


@pytest.mark.parametrize("kind", ["truncate", "extend", "unlink", "rename"])
@pytest.mark.parametrize("protocol", ["zero-copy", "stock"])
def test_file_changed_during_a_transfer(kind: str, protocol: str, tmp_path: Path, live_server) -> None:
    path = tmp_path / "big.bin"
    old = os.urandom(16 * MIB)
    path.write_bytes(old)
    config = {"http": HttpToolsProtocol} if protocol == "zero-copy" else {}
    with live_server(FlashStatic(directory=tmp_path), **config) as url, httpx.Client(timeout=10) as client:
        cut = False
        received = b""
        with client.stream("GET", url + "/big.bin") as response:
            assert int(response.headers["content-length"]) == len(old)
            stream = response.iter_raw()
            received = next(stream)
            _change(kind, path)
            try:
                for chunk in stream:
                    received += chunk
            except httpx.RemoteProtocolError:
                cut = True
        # A file truncated in place under sendfile: the kernel queues page references, so bytes
        # already handed to the socket may go out as zeros; only the framing can be promised.
        # Known limit (docs/reliability.md); replacing files by rename is the safe way.
        exact = not (protocol == "zero-copy" and kind == "truncate")
        if cut:
            assert not exact or old.startswith(received)  # a prefix of the old bytes, then closed
        else:
            assert len(received) == len(old) and (not exact or received == old)  # the old bytes, whole
        assert kind != "truncate" or cut or not exact
        # Within the revalidation interval (1 s) the new file is served; until then, the old
        # one whole. Never a mix.
        new = path.read_bytes()
        deadline = time.monotonic() + 5
        while True:
            body = client.get(url + "/big.bin").content
            assert body in (old, new)
            if body == new:
                break
            assert time.monotonic() < deadline, "the new file was never served"
            time.sleep(0.2)


# -- clients that vanish -------------------------------------------------------------------------


def _resources(pid: int, root: Path) -> tuple[int, int, int]:
    """(open descriptors, bytes of files under root mapped, RSS) of the server and its helpers."""
    from benchmarks.serverproc import process_tree

    fds = mapped = rss = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fds += len(os.listdir(f"/proc/{member}/fd"))
            for line in Path(f"/proc/{member}/maps").read_text().splitlines():
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith(str(root)):
                    start, stop = (int(x, 16) for x in fields[0].split("-"))
                    mapped += stop - start
            rss += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE
    return fds, mapped, rss


def _abort_download(port: int, path: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(4096)
        # Close with a reset, as a vanished client does: no FIN handshake, data unread.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def test_a_thousand_aborted_downloads_leave_nothing_behind(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(32 * MIB))
    (root / "mid.bin").write_bytes(os.urandom(MIB))
    with flashstatic_serve(root) as (process, port):
        for name in (b"/big.bin", b"/mid.bin"):  # helpers started, files opened and cached
            _abort_download(port, name)
        time.sleep(0.5)
        before = _resources(process.pid, root)
        threads = [
            threading.Thread(
                target=lambda: [_abort_download(port, b"/big.bin" if i % 2 else b"/mid.bin") for i in range(250)]
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 10
        while (after := _resources(process.pid, root))[0] > before[0] + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert after[0] <= before[0] + 2, (before, after)  # descriptors
        assert after[1] <= before[1], (before, after)  # mapped bytes of served files
        assert after[2] - before[2] < 16 * MIB, (before, after)  # RSS
        assert process.poll() is None
        assert httpx.get(f"http://127.0.0.1:{port}/mid.bin", timeout=10).content == (root / "mid.bin").read_bytes()


# -- out of descriptors ----------------------------------------------------------------------------


def test_out_of_descriptors_then_recovery(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    files = {f"f{i}.bin": os.urandom(100_000 + i) for i in range(40)}
    for name, data in files.items():
        (root / name).write_bytes(data)
    with flashstatic_serve(root, nofile=48) as (process, port):
        held, outcomes = [], {"ok": 0, "503": 0, "closed": 0}
        for i in range(80):  # more connections than the server has descriptors
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                outcomes["closed"] += 1
                continue
            held.append((sock, f"f{i % 40}.bin"))
        for sock, name in held:
            try:
                sock.sendall(f"GET /{name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                reply = sock.recv(300)
            except OSError:
                reply = b""
            if reply.startswith(b"HTTP/1.1 200"):
                outcomes["ok"] += 1
            elif reply.startswith(b"HTTP/1.1 503"):
                outcomes["503"] += 1
            else:
                assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:200]
                outcomes["closed"] += 1
        assert outcomes["503"] + outcomes["closed"] > 0, outcomes  # the limit really was reached
        assert process.poll() is None  # not a dead server
        for sock, _ in held:
            sock.close()
        deadline = time.monotonic() + 15
        with httpx.Client(timeout=5) as client:
            for name, data in files.items():
                while True:
                    try:
                        response = client.get(f"http://127.0.0.1:{port}/{name}")
                        if response.status_code == 200:
                            assert response.content == data
                            break
                        assert response.status_code == 503
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "no recovery"
                    time.sleep(0.2)


# -- scale ------------------------------------------------------------------------------------------


def test_a_directory_of_100_000_files(tmp_path: Path, live_server) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(100_000):
        fd = os.open(root / f"{i:06d}.txt", os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"%06d" % i)
        os.close(fd)
    started = time.monotonic()
    scanned = FlashStatic(directory=root, autorefresh=False)  # the start-up scan of every file
    scan_seconds = time.monotonic() - started
    assert scan_seconds < 60, scan_seconds  # a sanity bound; the measured figure is in docs/reliability.md
    picks = [0, 1, 49_999, 99_999] + [i * 7919 % 100_000 for i in range(50)]
    for app in (FlashStatic(directory=root), scanned):
        with live_server(app) as url, httpx.Client(timeout=10) as client:
            for i in picks:
                response = client.get(f"{url}/{i:06d}.txt")
                assert response.status_code == 200 and response.content == b"%06d" % i
            assert client.get(f"{url}/100000.txt").status_code == 404


@pytest.mark.parametrize("protocol", ["zero-copy", "stock"])
def test_files_past_4_gib(protocol: str, tmp_path: Path, live_server) -> None:
    size = 5 * 1024**3
    path = tmp_path / "huge.bin"
    marks = {2**32 - 8: os.urandom(16), 2**32 + 2**29: os.urandom(16), size - 16: os.urandom(16)}
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: costs no disk
        for offset, data in marks.items():
            f.seek(offset)
            f.write(data)
    config = {"http": HttpToolsProtocol} if protocol == "zero-copy" else {}
    with live_server(FlashStatic(directory=tmp_path), **config) as url, httpx.Client(timeout=30) as client:
        head = client.head(url + "/huge.bin")
        assert head.headers["content-length"] == str(size)
        for offset, data in marks.items():
            response = client.get(url + "/huge.bin", headers={"range": f"bytes={offset}-{offset + 15}"})
            assert response.status_code == 206 and response.content == data
            assert response.headers["content-range"] == f"bytes {offset}-{offset + 15}/{size}"
        response = client.get(url + "/huge.bin", headers={"range": "bytes=-16"})
        assert response.content == marks[size - 16]
        both = client.get(url + "/huge.bin", headers={"range": f"bytes=0-3,{2**32 - 8}-{2**32 + 7}"})
        assert both.status_code == 206 and marks[2**32 - 8] in both.content
        assert f"Content-Range: bytes {2**32 - 8}-{2**32 + 7}/{size}".encode() in both.content
        assert client.get(url + "/huge.bin", headers={"range": f"bytes={size}-"}).status_code == 416
        # The whole file is only started, then abandoned: its headers are right.
        with client.stream("GET", url + "/huge.bin") as whole:
            assert whole.status_code == 200 and whole.headers["content-length"] == str(size)
            assert len(next(whole.iter_raw())) > 0
