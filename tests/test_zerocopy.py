"""Zero-copy sendfile through flashstatic's uvicorn protocols, over real HTTP.

Both parsers (httptools, h11) on both loops (uvloop, asyncio); TLS falls back to body messages.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Route

from flashstatic import FlashStatic
from flashstatic.server import H11Protocol, HttpToolsProtocol
from support import assert_truncation_cuts_the_response, read_responses

SIZE = 3 * 1024 * 1024 + 77

SERVERS = [
    pytest.param(HttpToolsProtocol, "uvloop", id="httptools-uvloop"),
    pytest.param(HttpToolsProtocol, "asyncio", id="httptools-asyncio"),
    pytest.param(H11Protocol, "uvloop", id="h11-uvloop"),
    pytest.param(H11Protocol, "asyncio", id="h11-asyncio"),
]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "big.bin").write_bytes(os.urandom(SIZE))
    (tmp_path / "small.txt").write_text("small file\n")
    return tmp_path


def app_for(root: Path) -> FlashStatic:
    async def dynamic(request):
        return PlainTextResponse("dynamic")

    async def starlette_file(request):
        return FileResponse(root / "big.bin")

    inner = Starlette(routes=[Route("/dyn", dynamic), Route("/starlette", starlette_file)])
    return FlashStatic(inner, directory=root, prefix="/s")


def _count_sendfile(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd, in_fd, offset, count, *args, **kwargs):
        sent = real(out_fd, in_fd, offset, count, *args, **kwargs)
        calls.append(sent)
        return sent

    monkeypatch.setattr(os, "sendfile", counting)
    return calls


@pytest.mark.parametrize("protocol, loop", SERVERS)
def test_bodies_ranges_head_and_304(protocol, loop, files: Path, live_server, monkeypatch) -> None:
    data = (files / "big.bin").read_bytes()
    sendfile_calls = _count_sendfile(monkeypatch)
    app = app_for(files)
    with live_server(app, http=protocol, loop=loop) as url, httpx.Client(timeout=30) as client:
        r = client.get(url + "/s/big.bin")
        assert r.status_code == 200 and r.content == data
        assert sum(sendfile_calls) == SIZE  # every body byte went out through sendfile
        r = client.get(url + "/s/big.bin", headers={"range": "bytes=1000-2999999"})
        assert r.status_code == 206 and r.content == data[1000:3000000]
        r = client.get(url + "/s/big.bin", headers={"range": "bytes=0-9,-10"})
        boundary = r.headers["content-type"].split("boundary=")[1].encode()
        assert r.content.count(b"--" + boundary) == 3
        assert data[:10] in r.content and data[-10:] in r.content
        assert int(r.headers["content-length"]) == len(r.content)
        head = client.head(url + "/s/big.bin")
        assert head.headers["content-length"] == str(SIZE) and head.content == b""
        etag = head.headers["etag"]
        assert client.get(url + "/s/big.bin", headers={"if-none-match": etag}).status_code == 304
        assert client.get(url + "/s/small.txt").text == "small file\n"  # from memory, one message
        assert client.get(url + "/dyn").text == "dynamic"
        # Another app's FileResponse goes out as pathsend, through sendfile too.
        before = sum(sendfile_calls)
        assert client.get(url + "/starlette").content == data
        assert sum(sendfile_calls) - before == SIZE
    # Under httptools the protocol sends a file already kept open itself ("direct", by sendfile).
    transmissions = app.stats()["transmissions"]
    assert transmissions["zerocopysend"] + transmissions.get("direct", 0) >= 3


@pytest.mark.parametrize("protocol, loop", SERVERS)
def test_keep_alive_and_pipelining(protocol, loop, files: Path, live_server) -> None:
    data = (files / "big.bin").read_bytes()
    with live_server(app_for(files), http=protocol, loop=loop) as url:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            requests = b"".join(
                b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"
                for path in (b"/s/big.bin", b"/dyn", b"/s/small.txt", b"/s/big.bin", b"/dyn")
            )
            sock.sendall(requests)
            responses = read_responses(sock, 5)
        assert [status for status, _, _ in responses] == [200] * 5
        assert responses[0][2] == data and responses[3][2] == data
        assert responses[1][2] == b"dynamic" and responses[4][2] == b"dynamic"
        assert responses[2][2] == b"small file\n"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("protocol, loop", SERVERS)
def test_aborted_downloads_leak_nothing(protocol, loop, files: Path, live_server) -> None:
    aborts = 500 if (protocol, loop) == (HttpToolsProtocol, "uvloop") else 100
    with live_server(app_for(files), http=protocol, loop=loop) as url:
        parts = urlsplit(url)
        with httpx.Client(timeout=30) as client:
            client.get(url + "/s/big.bin")  # open-file cache and helpers warmed up
        before = _open_fds()
        for _ in range(aborts):
            with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
                sock.sendall(b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.recv(4096)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        deadline = time.monotonic() + 10
        while _open_fds() > before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _open_fds() <= before + 2
        with httpx.Client(timeout=30) as client:
            assert (
                hashlib.sha256(client.get(url + "/s/big.bin").content).digest()
                == hashlib.sha256((files / "big.bin").read_bytes()).digest()
            )


@pytest.mark.parametrize("protocol, loop", SERVERS)
def test_file_truncated_during_transfer_cuts_the_connection(protocol, loop, files: Path, live_server) -> None:
    # Larger than what loopback socket buffers hold, so the transfer is still going on.
    (files / "big.bin").write_bytes(os.urandom(32 * 1024 * 1024))
    app = FlashStatic(directory=files, sendfile_chunk=256 * 1024)
    with live_server(app, http=protocol, loop=loop) as url, httpx.Client(timeout=30) as client:
        assert_truncation_cuts_the_response(client, url + "/big.bin", files / "big.bin")


def test_tls_falls_back_to_body_messages(files: Path, live_server, certificate, monkeypatch) -> None:
    key, cert = certificate
    sendfile_calls = _count_sendfile(monkeypatch)
    app = app_for(files)
    with live_server(app, http=HttpToolsProtocol, ssl_keyfile=str(key), ssl_certfile=str(cert)) as url:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with httpx.Client(verify=context, timeout=30) as client:
            for _ in range(2):  # the second finds the file kept open: still no sendfile under TLS
                r = client.get(url.replace("http://", "https://") + "/s/big.bin")
                assert r.status_code == 200 and r.content == (files / "big.bin").read_bytes()
    assert sendfile_calls == []  # sendfile would have bypassed the encryption
    assert app.stats()["transmissions"] == {"body": 2}
