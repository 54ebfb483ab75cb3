"""Property-based fuzzing over real HTTP: request paths and the Range, If-Range, If-None-Match,
If-Modified-Since and Accept-Encoding headers, against `flashstatic serve` (a subprocess with
its zero-copy protocol) and the middleware under stock uvicorn.

The served tree has decoys beside and inside it: a secret file next to the root, a directory
outside it, symlinks pointing out, dotfiles, a plain name linking to a dotfile. Every decoy is
random, high-entropy bytes; no 16-byte window of any may appear in any response. Every response
is parsed strictly (tests/httpcheck.py) and checked against an independent reading of the
request. The budget: FLASHSTATIC_FUZZ_EXAMPLES per property and server (default 200),
derandomized, no example database, so CI runs the same cases every time.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import PlainTextResponse

from conftest import _uvicorn_in_thread
from flashstatic import FlashStatic
from httpcheck import Decoys, Malformed, Response, content_range, exchange, multipart_parts, parse
from support import flashstatic_serve

PARSER_REFUSAL = b"Invalid HTTP request received."
EXAMPLES = int(os.environ.get("FLASHSTATIC_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# How many cases ran, by property and server (written to FLASHSTATIC_FUZZ_REPORT if set).
RAN: Counter[str] = Counter()

MTIME = time.time() - 2 * 86400  # old enough that Last-Modified is a strong validator

SERVED = {  # name -> size; contents are random
    "a.txt": 1000,
    "b.bin": 150 * 1024,
    "c.js": 5000,
    "c.js.gz": 2000,
    "c.js.br": 1500,
    "d.css": 0,
    "sub/e.txt": 300,
    "index.html": 200,
    "404.html": 100,
    "sub/index.html": 120,
    "x y%.txt": 50,
    "ü.txt": 60,
}
FILES = ["a.txt", "b.bin", "c.js", "d.css"]
ENCODED = {"c.js": {"gzip": "c.js.gz", "br": "c.js.br"}}


class Tree:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.contents: dict[str, bytes] = {}
        for name, size in SERVED.items():
            self._write(self.root / name, os.urandom(size), name)
        decoys = {
            base / "secret.bin": 4096,
            base / "outside" / "secret.bin": 4096,
            self.root / ".env": 2048,
            self.root / "sub" / ".hidden": 2048,
            self.root / ".git" / "config": 2048,
            self.root / ".well-known" / "x.txt": 1024,
        }
        self.decoy_contents = []
        for path, size in decoys.items():
            data = os.urandom(size)
            self._write(path, data, None)
            self.decoy_contents.append(data)
        os.symlink(base / "secret.bin", self.root / "link-out.txt")
        os.symlink(base / "outside", self.root / "link-dir")
        os.symlink(self.root / ".env", self.root / "env.txt")
        self.decoys = Decoys(self.decoy_contents)
        assert not any(self.decoys.leaked(data) for data in self.contents.values())

    def _write(self, path: Path, data: bytes, name: str | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (MTIME, MTIME))
        if name is not None:
            self.contents[name] = data

    def etag(self, name: str, encoding: str | None = None) -> str:
        st_ = os.stat(self.root / (ENCODED[name][encoding] if encoding else name))
        return f'"{st_.st_size:x}-{st_.st_mtime_ns:x}{"-" + encoding if encoding else ""}"'

    def last_modified(self, name: str) -> str:
        return email.utils.formatdate(os.stat(self.root / name).st_mtime, usegmt=True)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return Tree(tmp_path_factory.mktemp("fuzz"))


async def _fallback(scope, receive, send) -> None:
    await PlainTextResponse("from the app", status_code=404)(scope, receive, send)


@pytest.fixture(scope="module", params=["serve", "middleware"])
def server(request: pytest.FixtureRequest, tree: Tree) -> Iterator[tuple[str, int, str]]:
    """(kind, port, prefix)"""
    if request.param == "serve":
        with flashstatic_serve(tree.root) as (_, port):
            yield "serve", port, ""
    else:
        app = FlashStatic(_fallback, directory=tree.root, prefix="/static")
        with _uvicorn_in_thread(app) as url:
            yield "middleware", int(url.rsplit(":", 1)[1]), "/static"
        app.close()


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    target = os.environ.get("FLASHSTATIC_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps({"examples_per_property": EXAMPLES, "ran": dict(RAN)}, indent=1))


def request_bytes(method: str, target: bytes, headers: dict[str, str]) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: localhost", b"Connection: close"]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def assert_no_leak(tree: Tree, response: Response, body_verified: bool) -> None:
    scanned = response.raw if not body_verified else response.raw[: len(response.raw) - len(response.body)]
    assert not tree.decoys.leaked(scanned), "a decoy's bytes are in the response"


# -- paths ------------------------------------------------------------------------------------

SEGMENTS = st.sampled_from(
    [
        "..",
        ".",
        "",
        "%2e%2e",
        "%2E.",
        ".%2e",
        "%2f",
        "%5c",
        "..%2f",
        "..%5c",
        "%00",
        "%2e",
        "%252e%252e",
        "a.txt",
        "b.bin",
        "c.js",
        "c.js.gz",
        "sub",
        "e.txt",
        "index.html",
        "404.html",
        ".env",
        ".git",
        "config",
        ".hidden",
        ".well-known",
        "x.txt",
        "link-out.txt",
        "link-dir",
        "secret.bin",
        "env.txt",
        "outside",
        "root",
        "x%20y%25.txt",
        "%C3%BC.txt",
        "%c0%ae%c0%ae",
        "%ff",
        "%",
        "%zz",
        "~",
        "*",
        "?",
        "a.txt?x=1",
        "a.txt#frag",
        ";",
        "a.txt;x",
        "C:",
        "%u002e",
        "\\",
        "..\\..",
    ]
)
RAW_BYTES = st.binary(min_size=1, max_size=12)


def _percent(data: bytes) -> str:
    return "".join(f"%{byte:02x}" for byte in data)


PATH_PIECES = st.one_of(
    SEGMENTS,
    SEGMENTS,
    SEGMENTS,
    RAW_BYTES.map(_percent),  # any bytes, percent-encoded (non-UTF-8 included)
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8).map(
        lambda text: quote(text, safe="")
    ),
)


ANCHORS = st.sampled_from(
    [
        "link-out.txt",
        "link-dir/secret.bin",
        "env.txt",
        ".env",
        "sub/.hidden",
        ".git/config",
        ".well-known/x.txt",
        "../secret.bin",
        "../outside/secret.bin",
        "sub/../../secret.bin",
        "a.txt",
        "b.bin",
        "c.js",
        "sub/e.txt",
        "sub/",
        "sub",
        "",
        "x%20y%25.txt",
        "%C3%BC.txt",
    ]
)
DECORATIONS = st.sampled_from(["", "./", "/", "sub/../", "%2e/", "a.txt/../", "sub/%2e%2e/", "./sub/.."])


def _encode_some(text: str, mask: list[bool]) -> str:
    return "".join(f"%{ord(c):02X}" if flag and ord(c) < 128 else c for c, flag in zip(text, mask, strict=True))


@st.composite
def paths(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        # A known name (served or decoy), dressed up: dot-segments before it, some of its
        # characters percent-encoded.
        anchor = draw(ANCHORS)
        mask = draw(st.lists(st.booleans(), min_size=len(anchor), max_size=len(anchor)))
        path = "/" + draw(DECORATIONS) + _encode_some(anchor, mask)
        return path.encode("latin-1", "replace")
    pieces = draw(st.lists(PATH_PIECES, min_size=0, max_size=10))
    path = "/" + "/".join(pieces)
    if draw(st.booleans()):
        path += "/"
    data = path.encode("latin-1", "replace")
    if draw(st.integers(0, 9)) == 0:  # now and then, raw bytes the parser must refuse itself
        data += draw(st.binary(min_size=1, max_size=4).filter(lambda b: b"\r" not in b and b"\n" not in b))
    return data


def _served_bodies(tree: Tree) -> set[bytes]:
    return set(tree.contents.values())


@FUZZ
@given(target=paths(), method=st.sampled_from(["GET", "HEAD", "GET", "POST"]))
def test_fuzzed_paths_never_leak_and_never_fail(
    tree: Tree, server: tuple[str, int, str], target: bytes, method: str
) -> None:
    kind, port, prefix = server
    RAN[f"paths/{kind}"] += 1
    raw = exchange(port, request_bytes(method, prefix.encode() + target, {}))
    if raw.endswith(PARSER_REFUSAL) and b"\r\nconnection: close\r\n" in raw:
        # uvicorn's parser could not read the request, so it cannot know it was a HEAD: its 400
        # has a body, and the connection closes after it.
        method = "GET"
    response = parse(raw, method)
    assert response.status < 500, raw[:300]
    assert response.status in (200, 307, 400, 404, 405), raw[:300]
    if response.status == 200 and method == "GET":
        assert response.body in _served_bodies(tree), "200 with bytes that are no served file"
        assert_no_leak(tree, response, body_verified=True)
    else:
        assert_no_leak(tree, response, body_verified=False)


# -- headers ----------------------------------------------------------------------------------

JUNK = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="0123456789\x7f"), max_size=40)
NUMBER = st.one_of(st.integers(0, 2000), st.integers(0, 200_000), st.integers(0, 10**30))
SPEC = st.one_of(
    st.tuples(NUMBER, NUMBER).map(lambda p: f"{min(p)}-{max(p)}"),
    st.tuples(NUMBER, NUMBER).map(lambda p: f"{max(p)}-{min(p)}"),  # last < first: invalid
    NUMBER.map(lambda n: f"{n}-"),
    NUMBER.map(lambda n: f"-{n}"),
    st.sampled_from(["", " ", "-", "a-b", "0-0", "-0", "0-", " 0 - 1 "]),
)
RANGE = st.one_of(
    st.lists(SPEC, min_size=1, max_size=40).map(lambda specs: "bytes=" + ",".join(specs)),
    st.lists(SPEC, min_size=1, max_size=4).map(lambda specs: "BYTES = " + ", ".join(specs)),
    st.lists(SPEC, min_size=1, max_size=4).map(lambda specs: "items=" + ",".join(specs)),
    JUNK,
)
CODING = st.sampled_from(["gzip", "br", "zstd", "identity", "*", "x-gzip", "deflate", "GZIP", "bogus"])
QVALUE = st.sampled_from(["", ";q=0", ";q=1", ";q=0.5", ";q=0.001", ";q=1.0", ";q=2", ";q=abc", "; q=0.8", ";level=1"])
ACCEPT_ENCODING = st.one_of(st.lists(st.tuples(CODING, QVALUE).map("".join), max_size=5).map(", ".join), JUNK)


def ranges_for(size: int) -> st.SearchStrategy[str]:
    near = st.integers(0, size + 2)
    number = st.one_of(near, near, NUMBER)
    spec = st.one_of(
        st.tuples(number, number).map(lambda p: f"{min(p)}-{max(p)}"),
        number.map(lambda n: f"{n}-"),
        number.map(lambda n: f"-{n}"),
        SPEC,
    )
    disjoint = (
        st.lists(near, min_size=2, max_size=16, unique=True)
        .map(sorted)
        .map(
            lambda cuts: (
                "bytes="
                + ",".join(f"{a}-{b - 1}" if b > a else f"{a}-{a}" for a, b in zip(cuts[::2], cuts[1::2], strict=False))
            )
        )
    )
    touching = (
        st.lists(near, min_size=3, max_size=3).map(sorted).map(lambda c: f"bytes={c[1] + 1}-{c[2]},{c[0]}-{c[1]}")
    )  # adjacent: must be merged into one
    return st.one_of(
        disjoint,
        disjoint,
        touching,
        st.lists(spec, min_size=1, max_size=6).map(lambda specs: "bytes=" + ",".join(specs)),
        RANGE,
    )


def _conditional_strategies(tree: Tree, name: str) -> dict[str, st.SearchStrategy[str | None]]:
    reps = [tree.etag(name)] + [tree.etag(name, coding) for coding in ENCODED.get(name, {})]
    other = '"1-2"'
    tag = st.sampled_from([*reps, other])
    mtime = os.stat(tree.root / name).st_mtime
    dates = st.sampled_from(
        [
            tree.last_modified(name),
            email.utils.formatdate(mtime - 1, usegmt=True),
            email.utils.formatdate(mtime + 3600, usegmt=True),
            time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(mtime)),
            time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(mtime)),
            "Sun, 01 Jan 0000 00:00:00 GMT",
        ]
    )
    return {
        "Range": ranges_for(len(tree.contents[name])),
        "If-Range": tag | tag.map(lambda t: "W/" + t) | dates | JUNK,
        "If-None-Match": st.just("*")
        | tag
        | tag.map(lambda t: "W/" + t)
        | st.lists(tag, min_size=1, max_size=3).map(", ".join)
        | JUNK,
        "If-Modified-Since": dates | JUNK,
        "Accept-Encoding": ACCEPT_ENCODING,
    }


# How often each header is sent (percent): Range most, so that ranges meet the others.
PRESENCE = {"Range": 75, "If-Range": 20, "If-None-Match": 20, "If-Modified-Since": 15, "Accept-Encoding": 50}


@st.composite
def file_requests(draw: st.DrawFn, tree: Tree) -> tuple[str, str, dict[str, str]]:
    name = draw(st.sampled_from(FILES))
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD"]))
    headers = {}
    for header, strategy in _conditional_strategies(tree, name).items():
        if draw(st.integers(0, 99)) < PRESENCE[header]:
            headers[header] = draw(strategy).strip(" \t")
    return name, method, headers


def oracle_ranges(value: str, size: int, max_ranges: int = 32) -> list[tuple[int, int]] | str | None:
    """An independent reading of RFC 9110 section 14: None (ignore: 200), "416", or the merged
    ranges to send, or "whole" where the server may send the whole file instead (too many parts,
    or overlapping parts adding up to more than the file)."""
    unit, sep, rest = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = []
    for element in rest.split(","):
        element = element.strip(" \t")
        if not element:
            continue
        match = re.fullmatch(r"(\d*)-(\d*)", element)  # no whitespace inside a range-spec
        if match is None or not (match.group(1) or match.group(2)):
            return None
        first, last = (int(g) if g else None for g in match.groups())
        if first is not None and last is not None and last < first:
            return None
        specs.append((first, last))
    if not specs:
        return None
    if len(specs) > max_ranges:
        return "whole"
    chosen = []
    for first, last in specs:
        if first is None:
            start, stop = max(0, size - last), size  # type: ignore[operator]
        else:
            start, stop = first, size if last is None else min(last + 1, size)
        if start < stop:
            chosen.append((start, stop))
    if not chosen:
        return None if any(first is None and last for first, last in specs) and size == 0 else "416"
    if sum(stop - start for start, stop in chosen) > size:
        return "whole"
    chosen.sort()
    merged = [chosen[0]]
    for start, stop in chosen[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _if_range_holds(value: str | None, etag: str, last_modified: str) -> bool | None:
    """True/False when sure; None when the server may go either way."""
    if value is None:
        return True
    if value.startswith('"'):
        return value == etag
    if value.startswith("W/"):
        return False
    if value == last_modified:
        return True
    return None if re.search(r"\d", value) else False


_Q = {
    "": 1.0,
    ";q=0": 0.0,
    ";q=1": 1.0,
    ";q=0.5": 0.5,
    ";q=0.001": 0.001,
    ";q=1.0": 1.0,
    ";q=2": None,
    ";q=abc": None,
    "; q=0.8": 0.8,
    ";level=1": 1.0,
}


def oracle_coding(accept: str | None, sizes: dict[str | None, int]) -> str | bool | None:
    """The content-coding RFC 9110 section 12.5.3 lets the server pick (smallest offered, identity
    when none is), for headers built from CODING and QVALUE; False when the header is junk."""
    if accept is None:
        return None
    weights: dict[str, float] = {}
    for member in filter(None, accept.split(", ")):
        coding = next(
            (
                c
                for c in ("x-gzip", "identity", "deflate", "bogus", "gzip", "GZIP", "zstd", "br", "*")
                if member.startswith(c)
            ),
            None,
        )
        if coding is None or member[len(coding) :] not in _Q:
            return False
        q = _Q[member[len(coding) :]]
        if q is not None:
            weights[{"x-gzip": "gzip"}.get(coding.lower(), coding.lower())] = q

    def acceptable(coding: str | None) -> bool:
        key = coding or "identity"
        if key in weights:
            return weights[key] > 0
        if "*" in weights:
            return weights["*"] > 0
        return key == "identity"

    def offered(coding: str | None) -> bool:
        # "*" alone promises no particular coding: a coding is sent when named, and through
        # "*" only when identity is excluded (flashstatic's reading, as nginx and WhiteNoise).
        if coding is not None and acceptable(None):
            return weights.get(coding, 0) > 0
        return acceptable(coding)

    choices = [coding for coding in sizes if offered(coding)]
    return min(choices, key=lambda coding: sizes[coding]) if choices else None


def _representation(tree: Tree, name: str, response: Response) -> tuple[bytes, str]:
    """The representation the response is about, by its ETag; its Content-Encoding must agree."""
    reps = {tree.etag(name): (tree.contents[name], None)}
    for coding, sibling in ENCODED.get(name, {}).items():
        reps[tree.etag(name, coding)] = (tree.contents[sibling], coding)
    etag = (response.header(b"etag") or b"").decode()
    assert etag in reps, f"ETag {etag} names no representation of {name}"
    content, coding = reps[etag]
    if response.status != 304:
        assert response.header(b"content-encoding") == (coding.encode() if coding else None)
    return content, etag


@FUZZ
@given(data=st.data())
def test_fuzzed_headers_get_consistent_responses(tree: Tree, server: tuple[str, int, str], data: st.DataObject) -> None:
    kind, port, prefix = server
    name, method, headers = data.draw(file_requests(tree))
    RAN[f"headers/{kind}"] += 1
    raw = exchange(port, request_bytes(method, f"{prefix}/{name}".encode(), headers))
    try:
        response = parse(raw, method)
        check_file_response(tree, name, method, headers, response)
    except Malformed as exc:
        raise AssertionError(f"{exc}\nrequest: {method} {name} {headers}\nresponse: {raw[:600]!r}") from None
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nrequest: {method} {name} {headers}\nresponse: {raw[:600]!r}") from None


def check_file_response(tree: Tree, name: str, method: str, headers: dict[str, str], response: Response) -> None:
    assert response.status in (200, 206, 304, 416), response.status
    content, etag = _representation(tree, name, response)
    size = len(content)
    sizes = {None: len(tree.contents[name])}
    sizes.update({coding: len(tree.contents[sibling]) for coding, sibling in ENCODED.get(name, {}).items()})
    expected_coding = oracle_coding(headers.get("Accept-Encoding"), sizes)
    if expected_coding is not False:
        chosen = [coding for coding in sizes if (tree.etag(name, coding) if coding else tree.etag(name)) == etag]
        assert chosen == [expected_coding], f"sent {chosen}, the smallest acceptable is {expected_coding}"
    if "Accept-Encoding" not in headers:
        assert response.header(b"content-encoding") is None

    inm = headers.get("If-None-Match")
    if response.status == 304:
        assert inm is not None or "If-Modified-Since" in headers, "304 without a condition"
        if inm is not None:
            assert inm == "*" or etag.strip('"') in inm, "304 though no tag matched"
        assert_no_leak(tree, response, body_verified=True)
        return
    if inm is not None and (inm == "*" or re.search(r"(^|[ ,])(W/)?" + re.escape(etag) + r"($|[ ,])", inm)):
        raise AssertionError("If-None-Match matched, yet no 304")

    ranges = oracle_ranges(headers["Range"], size) if "Range" in headers and method == "GET" else None
    if_range = _if_range_holds(headers.get("If-Range"), etag, tree.last_modified(name))
    if response.status == 200:
        assert response.header(b"content-range") is None
        if method == "GET":
            assert response.body == content, "200 body is not the representation"
        assert int(response.header(b"content-length")) == size
        # Whole file: allowed unless a range was certainly satisfiable and certainly allowed.
        assert not (isinstance(ranges, list) and if_range is True), f"200 where {ranges} were due"
        assert not (ranges == "416" and if_range is True), "200 where 416 was due"
    elif response.status == 416:
        assert method == "GET" and ranges == "416" and if_range is not False, f"416 where {ranges} was due"
        assert response.header(b"content-range") == f"bytes */{size}".encode() and response.body == b""
    else:  # 206
        assert method == "GET" and if_range is not False and ranges not in (None, "416"), f"206, expected {ranges}"
        single = response.header(b"content-range")
        if single is not None:
            start, stop = content_range(single, size)
            assert response.body == content[start:stop]
            got = [(start, stop)]
        else:
            parts = multipart_parts(response, size)
            got = [part[0] for part in parts]
            for (start, stop), _, part in parts:
                assert part == content[start:stop]
            assert all(a[1] < b[0] for a, b in itertools.pairwise(got)), "parts overlap, touch or are unsorted"
            assert len(got) <= 32
        if ranges != "whole":
            assert got == ranges, f"sent {got}, asked {ranges}"
    assert_no_leak(tree, response, body_verified=True)
