"""Bodies: bounded chunks, exact bytes, and faults that end one response cleanly."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from flashstatic import FlashStatic
from support import assert_truncation_cuts_the_response, body_of, call_asgi, completed

CHUNK = 64 * 1024


@pytest.fixture
def big(tmp_path: Path) -> Path:
    (tmp_path / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 123))
    return tmp_path


def test_large_body_goes_in_bounded_chunks(big: Path) -> None:
    app = FlashStatic(directory=big, chunk_size=CHUNK)
    messages = asyncio.run(call_asgi(app, "/big.bin"))
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert body_of(messages) == (big / "big.bin").read_bytes()
    assert max(len(m["body"]) for m in bodies) == CHUNK
    assert len(bodies) == -(-(5 * 1024 * 1024 + 123) // CHUNK)
    assert completed(messages)


def test_multipart_of_a_large_file_in_chunks(big: Path) -> None:
    data = (big / "big.bin").read_bytes()
    app = FlashStatic(directory=big, chunk_size=CHUNK)
    messages = asyncio.run(call_asgi(app, "/big.bin", {"range": "bytes=0-99,1000000-1300000"}))
    body = body_of(messages)
    assert messages[0]["status"] == 206
    assert dict(messages[0]["headers"])[b"content-length"] == str(len(body)).encode()
    assert data[:100] in body and data[1000000:1300001] in body
    assert max(len(m.get("body", b"")) for m in messages[1:]) <= CHUNK


def test_file_truncated_mid_send_ends_the_response_unfinished(big: Path) -> None:
    app = FlashStatic(directory=big, chunk_size=CHUNK)

    def truncate_after_first_chunk(message: dict) -> None:
        if message["type"] == "http.response.body":
            os.truncate(big / "big.bin", 3 * CHUNK + 5)

    messages = asyncio.run(call_asgi(app, "/big.bin", on_send=truncate_after_first_chunk))
    assert messages[0]["status"] == 200
    assert not completed(messages)  # the server closes the connection; never a short "complete" body
    assert len(body_of(messages)) < 5 * 1024 * 1024


def test_client_disconnect_stops_reading(big: Path) -> None:
    app = FlashStatic(directory=big, chunk_size=CHUNK)
    messages = asyncio.run(call_asgi(app, "/big.bin", disconnect_after=2))
    assert len([m for m in messages if m["type"] == "http.response.body"]) <= 3


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_exact_bytes_and_aborted_downloads_over_http(big: Path, live_server, http: httpx.Client) -> None:
    digest = hashlib.sha256((big / "big.bin").read_bytes()).hexdigest()
    with live_server(FlashStatic(directory=big)) as url:
        assert hashlib.sha256(http.get(url + "/big.bin").content).hexdigest() == digest
        parts = urlsplit(url)
        before = _open_fds()
        for _ in range(100):
            with socket.create_connection((parts.hostname, parts.port)) as sock:
                sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.recv(1000)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        deadline = time.monotonic() + 5
        while _open_fds() > before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _open_fds() <= before + 2  # files and sockets of aborted responses were closed
        assert hashlib.sha256(http.get(url + "/big.bin").content).hexdigest() == digest


def test_truncation_over_http_cuts_the_connection_and_the_server_goes_on(big: Path, live_server) -> None:
    with live_server(FlashStatic(directory=big, chunk_size=CHUNK)) as url, httpx.Client(timeout=10) as client:
        assert_truncation_cuts_the_response(client, url + "/big.bin", big / "big.bin")


def test_keep_alive_mixes_static_and_dynamic(tmp_path: Path, live_server) -> None:
    (tmp_path / "a.txt").write_text("static")

    async def dynamic(request):
        return PlainTextResponse("dynamic")

    app = FlashStatic(Starlette(routes=[Route("/dyn", dynamic)]), directory=tmp_path, prefix="/s")
    with live_server(app) as url:
        seen_connections = set()
        with httpx.Client(timeout=10) as client:
            for _ in range(5):
                for path, text in (("/s/a.txt", "static"), ("/dyn", "dynamic")):
                    with client.stream("GET", url + path) as response:
                        seen_connections.add(id(response.extensions["network_stream"]))
                        assert response.read().decode() == text
            etag = client.get(url + "/s/a.txt").headers["etag"]
            assert client.get(url + "/s/a.txt", headers={"if-none-match": etag}).status_code == 304
            assert client.get(url + "/dyn").text == "dynamic"
        assert len(seen_connections) == 1
