"""RFC 9110 behaviour over real HTTP (uvicorn on 127.0.0.1, httpx and curl as clients).

The pure functions behind it are tested case by case in tests/unit/; here we check that
what reaches the wire is right, end to end.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from email.utils import formatdate
from pathlib import Path

import brotli
import httpx
import pytest

from flashstatic import FlashStatic
from support import write_tree

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--noproxy", "*", *args], capture_output=True, timeout=30, check=True
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    text = "".join(f"line {i:04d}\n" for i in range(1000))  # 10,000 bytes
    root = write_tree(
        tmp_path / "root",
        {
            "text.txt": text,
            "app.js": text,
            "doc.html": "<p>x</p>",
            "data.json": "{}",
            "pic.png": b"\x89PNG....",
            "blob.unknownext": b"\x00\x01",
            "empty.txt": "",
            "app.3f2a9c1d7b4e.js": "hashed",
            "main-8e0d62a0.chunk.js": "hashed too",
            "facade.js": "not hashed",
        },
    )
    (root / "app.js.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    # Real brotli: with brotli installed (the test extra), httpx asks for br and decodes it.
    (root / "app.js.br").write_bytes(brotli.compress(text.encode()))
    return root


def test_get_and_head_agree(files: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=files)) as url:
        get = http.get(url + "/text.txt")
        head = http.head(url + "/text.txt")
        assert get.status_code == head.status_code == 200
        assert head.content == b""
        assert dict(get.headers) | {"date": ""} == dict(head.headers) | {"date": ""}
        assert get.headers["content-length"] == "10000" and len(get.content) == 10000
        assert get.headers["accept-ranges"] == "bytes"
        assert get.headers["x-content-type-options"] == "nosniff"
        assert get.headers["etag"].startswith('"') and not get.headers["etag"].startswith("W/")


@pytest.mark.parametrize(
    "name, content_type",
    [
        ("text.txt", "text/plain; charset=utf-8"),
        ("doc.html", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("pic.png", "image/png"),
        ("blob.unknownext", "application/octet-stream"),
    ],
)
def test_content_types(name: str, content_type: str, files: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=files)) as url:
        assert http.get(url + "/" + name).headers["content-type"] == content_type


def test_user_mimetypes_override(files: Path, live_server, http: httpx.Client) -> None:
    app = FlashStatic(directory=files, mimetypes={".unknownext": "application/x-custom", "doc.html": "text/plain"})
    with live_server(app) as url:
        assert http.get(url + "/blob.unknownext").headers["content-type"] == "application/x-custom"
        assert http.get(url + "/doc.html").headers["content-type"] == "text/plain; charset=utf-8"


def test_cache_control(files: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=files)) as url:
        assert http.get(url + "/text.txt").headers["cache-control"] == "max-age=60, public"
        immutable = "max-age=31536000, public, immutable"
        assert http.get(url + "/app.3f2a9c1d7b4e.js").headers["cache-control"] == immutable
        assert http.get(url + "/main-8e0d62a0.chunk.js").headers["cache-control"] == immutable
        assert http.get(url + "/facade.js").headers["cache-control"] == "max-age=60, public"
    app = FlashStatic(directory=files, max_age=None, immutable_file_test=r"\.json$")
    with live_server(app) as url:
        assert "cache-control" not in http.get(url + "/text.txt").headers
    app = FlashStatic(directory=files, max_age=3600, immutable_file_test=lambda path, url: url.endswith(".json"))
    with live_server(app) as url:
        assert http.get(url + "/text.txt").headers["cache-control"] == "max-age=3600, public"
        assert http.get(url + "/data.json").headers["cache-control"] == "max-age=31536000, public, immutable"


def test_conditionals(files: Path, live_server, http: httpx.Client) -> None:
    def add_headers(headers, path, url):
        headers["X-Served-From"] = "flashstatic-test"

    app = FlashStatic(directory=files, allow_all_origins=True, add_headers_function=add_headers)
    with live_server(app) as url:
        full = http.get(url + "/app.js", headers={"accept-encoding": "gzip"})
        etag, last_modified = full.headers["etag"], full.headers["last-modified"]
        assert full.headers["content-encoding"] == "gzip"

        r = http.get(url + "/app.js", headers={"accept-encoding": "gzip", "if-none-match": f'"x", W/{etag}'})
        assert r.status_code == 304 and r.content == b""
        for name in ("etag", "cache-control", "vary", "access-control-allow-origin", "x-served-from"):
            assert r.headers[name] == full.headers[name], name
        assert "content-length" not in r.headers or r.headers["content-length"] == "0"
        # RFC 9110 section 15.4.5: with an ETag there, no other representation metadata.
        assert "last-modified" not in r.headers and "content-type" not in r.headers

        # The identity representation has its own validator: a gzip ETag does not match it.
        identity = {"accept-encoding": "identity", "if-none-match": etag}
        assert http.get(url + "/app.js", headers=identity).status_code == 200
        assert http.get(url + "/app.js", headers={"accept-encoding": "gzip", "if-none-match": "*"}).status_code == 304
        assert http.get(url + "/text.txt", headers={"if-modified-since": last_modified}).status_code == 304
        old = formatdate(0, usegmt=True)
        assert http.get(url + "/text.txt", headers={"if-modified-since": old}).status_code == 200
        assert http.get(url + "/text.txt", headers={"if-modified-since": "not a date"}).status_code == 200
        # If-None-Match wins over If-Modified-Since.
        r = http.get(url + "/text.txt", headers={"if-none-match": '"other"', "if-modified-since": last_modified})
        assert r.status_code == 200
        r = http.get(url + "/text.txt", headers={"if-match": '"other"'})
        assert r.status_code == 412 and r.headers["x-served-from"] == "flashstatic-test"
        assert http.get(url + "/text.txt", headers={"if-unmodified-since": old}).status_code == 412
        text_etag = http.head(url + "/text.txt").headers["etag"]
        assert http.get(url + "/text.txt", headers={"if-match": text_etag}).status_code == 200


def test_single_ranges(files: Path, live_server, http: httpx.Client) -> None:
    body = (files / "text.txt").read_bytes()
    with live_server(FlashStatic(directory=files)) as url:
        for spec, start, stop in [
            ("0-0", 0, 1),
            ("-10", 9990, 10000),
            ("9995-", 9995, 10000),
            ("100-199", 100, 200),
            ("9000-99999", 9000, 10000),
        ]:
            r = http.get(url + "/text.txt", headers={"range": f"bytes={spec}"})
            assert r.status_code == 206, spec
            assert r.content == body[start:stop]
            assert r.headers["content-range"] == f"bytes {start}-{stop - 1}/10000"
            assert r.headers["content-length"] == str(stop - start)
        r = http.get(url + "/text.txt", headers={"range": "bytes=10000-"})
        assert r.status_code == 416 and r.headers["content-range"] == "bytes */10000"
        assert "etag" in r.headers
        for malformed in ("bytes=5-2", "bytes=abc", "lines=1-2", "bytes=0-1;x"):
            r = http.get(url + "/text.txt", headers={"range": malformed})
            assert r.status_code == 200 and r.content == body, malformed
        # HEAD ignores Range (RFC 9110: range handling is defined for GET only).
        assert http.head(url + "/text.txt", headers={"range": "bytes=0-1"}).status_code == 200


def test_if_range(files: Path, live_server, http: httpx.Client) -> None:
    hour_ago = time.time() - 3600
    os.utime(files / "text.txt", (hour_ago, hour_ago))
    with live_server(FlashStatic(directory=files)) as url:
        full = http.get(url + "/text.txt")
        etag, date = full.headers["etag"], full.headers["last-modified"]
        ranged = {"range": "bytes=0-9"}
        assert http.get(url + "/text.txt", headers=ranged | {"if-range": etag}).status_code == 206
        assert http.get(url + "/text.txt", headers=ranged | {"if-range": date}).status_code == 206
        assert http.get(url + "/text.txt", headers=ranged | {"if-range": "W/" + etag}).status_code == 200
        assert http.get(url + "/text.txt", headers=ranged | {"if-range": '"stale"'}).status_code == 200
        old = formatdate(0, usegmt=True)
        assert http.get(url + "/text.txt", headers=ranged | {"if-range": old}).status_code == 200
        # A Last-Modified not yet a second in the past is a weak validator: another write in
        # that second would share it, so a date cannot vouch for the bytes (RFC 9110 13.1.5).
        # (A clock-skewed mtime in the future makes that deterministic here.)
        soon = time.time() + 30
        os.utime(files / "doc.html", (soon, soon))
        fresh = http.get(url + "/doc.html").headers["last-modified"]
        assert http.get(url + "/doc.html", headers=ranged | {"if-range": fresh}).status_code == 200


@needs_curl
def test_multipart_ranges_with_curl(files: Path, live_server) -> None:
    body = (files / "text.txt").read_bytes()
    with live_server(FlashStatic(directory=files)) as url:
        out = curl("--include", "--range", "0-9,20-29,25-39,100-109", url + "/text.txt").stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 206")
        boundary = head.split(b"boundary=")[1].split(b"\r\n")[0]
        assert int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]) == len(payload)
        parts = payload.split(b"--" + boundary)
        assert parts[0] == b"" and parts[-1] == b"--\r\n"
        got = []
        for part in parts[1:-1]:
            part_head, _, data = part.partition(b"\r\n\r\n")
            assert b"Content-Type: text/plain; charset=utf-8" in part_head
            first, last = map(int, part_head.split(b"Content-Range: bytes ")[1].split(b"/")[0].split(b"-"))
            data = data.removesuffix(b"\r\n")
            assert data == body[first : last + 1]
            got.append((first, last))
        # 20-29 and 25-39 overlap, so they come back as one part.
        assert got == [(0, 9), (20, 39), (100, 109)]


def test_range_killer_gets_the_whole_file(files: Path, live_server, http: httpx.Client) -> None:
    body = (files / "text.txt").read_bytes()
    with live_server(FlashStatic(directory=files)) as url:
        many = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 2000, 2))
        overlapping = "bytes=" + ",".join("0-" for _ in range(20))
        for spec in (many, overlapping):
            r = http.get(url + "/text.txt", headers={"range": spec})
            assert r.status_code == 200 and r.content == body


def raw_get(http: httpx.Client, url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
    """GET without httpx decoding Content-Encoding, so the bytes on the wire can be compared."""
    with http.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_negotiation(files: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=files)) as url:
        plain = http.get(url + "/app.js", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
        br, br_bytes = raw_get(http, url + "/app.js", {"accept-encoding": "gzip, br"})
        assert br.headers["content-encoding"] == "br"  # the smallest acceptable wins
        assert br_bytes == (files / "app.js.br").read_bytes()
        gz, gz_bytes = raw_get(http, url + "/app.js", {"accept-encoding": "gzip, br;q=0"})
        assert gz.headers["content-encoding"] == "gzip"
        assert gzip.decompress(gz_bytes) == plain.content
        assert len({plain.headers["etag"], br.headers["etag"], gz.headers["etag"]}) == 3
        r = http.get(url + "/app.js", headers={"accept-encoding": "gzip;q=0, br;q=0"})
        assert "content-encoding" not in r.headers
        # A range applies to the representation chosen.
        r, first_bytes = raw_get(http, url + "/app.js", {"accept-encoding": "gzip", "range": "bytes=0-1"})
        assert r.status_code == 206 and r.headers["content-encoding"] == "gzip"
        assert first_bytes == b"\x1f\x8b"
        assert r.headers["content-range"].endswith(f"/{(files / 'app.js.gz').stat().st_size}")
        # No sibling, no Vary.
        assert "vary" not in http.get(url + "/text.txt").headers


def test_empty_file(files: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=files)) as url:
        r = http.get(url + "/empty.txt")
        assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "0"
        assert http.get(url + "/empty.txt", headers={"range": "bytes=0-0"}).status_code == 416


def test_whitenoise_style_index(tmp_path: Path, live_server, http: httpx.Client) -> None:
    root = write_tree(tmp_path, {"index.html": "top", "blog/index.html": "blog", "blog/post.html": "post"})
    with live_server(FlashStatic(directory=root, index_file=True)) as url:
        assert http.get(url + "/").text == "top"
        assert http.get(url + "/blog/").text == "blog"
        r = http.get(url + "/blog/index.html?page=2")
        assert r.status_code == 307 and r.headers["location"] == "./?page=2"
        r = http.get(url + "/blog?page=2")
        assert r.status_code == 307 and r.headers["location"] == "./blog/?page=2"
        assert http.get(url + "/blog/post.html/").status_code == 404  # a file is not a directory
    # Starlette's html=True serves /dir/index.html as it is.
    with live_server(FlashStatic(directory=root, html=True)) as url:
        assert http.get(url + "/blog/index.html").text == "blog"
