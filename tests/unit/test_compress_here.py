"""compress=True's decisions, without sockets: which files, which coding, which validator, and
what the caches answer before and after a file is compressed."""

from __future__ import annotations

import gzip
import time

import pytest

from flashstatic.cache.encoder import available_codings, compress_body
from flashstatic.cache.entry import FileEntry, build_entry
from flashstatic.config import Options
from flashstatic.core import StaticCore
from flashstatic.http.compressible import MIN_SIZE, server_may_compress
from flashstatic.http.conditional import Conditions
from flashstatic.http.negotiate import preferred_coding
from flashstatic.http.respond import FileRequest, FileSlice, compression_due, plan_file_response
from flashstatic.translate import FileFacts, FoundFile

CSS = b"".join(b".rule-%d { margin: %dpx; }\n" % (i, i) for i in range(200))
FACTS = FileFacts("/site/style.css", len(CSS), 1_700_000_000_123_456_789, 1, 42)
ON = Options(compress=True)


def found(facts: FileFacts = FACTS, siblings: tuple[tuple[str, FileFacts], ...] = ()) -> FoundFile:
    return FoundFile("/" + facts.path.rsplit("/", 1)[1], facts, siblings)


def request(method: str = "GET", accept_encoding: str | None = "gzip", **fields: str) -> FileRequest:
    conditions = Conditions(if_none_match=fields.pop("if_none_match")) if "if_none_match" in fields else Conditions()
    return FileRequest(method, conditions, accept_encoding=accept_encoding, **fields)


def headers(plan: object) -> dict[bytes, bytes]:
    return dict(plan.headers)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip", "gzip"),
        ("gzip, br", "br"),  # the server's order, as for siblings of equal size
        ("br;q=0.1, gzip;q=1", "br"),  # any q above 0 is acceptance, as for siblings
        ("br;q=0, gzip", "gzip"),
        ("deflate", None),
        ("identity", None),
        ("gzip;q=0", None),
        ("*", None),  # names no coding: not known to decode one
        ("*, identity;q=0", "br"),  # identity refused: any coding "*" allows
        ("", None),
        (None, None),  # no header: identity, as for siblings
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
    ],
)
def test_preferred_coding_follows_the_sibling_rules(accept: str | None, expected: str | None) -> None:
    assert preferred_coding(accept, ("br", "gzip")) == expected


def test_preferred_coding_offers_only_what_the_server_has() -> None:
    assert preferred_coding("br, gzip", ("gzip",)) == "gzip"
    assert preferred_coding("br", ("gzip",)) is None
    assert preferred_coding("gzip", ()) is None


@pytest.mark.parametrize(
    ("name", "size", "siblings", "expected"),
    [
        ("style.css", 10_000, False, True),
        ("app.js", 10_000, False, True),
        ("index.html", 10_000, False, True),
        ("data.json", 10_000, False, True),
        ("logo.svg", 10_000, False, True),
        ("style.css", 10_000, True, False),  # its sibling is sent instead
        ("photo.png", 10_000, False, False),
        ("photo.jpg", 10_000, False, False),
        ("font.woff2", 10_000, False, False),
        ("data.json.gz", 10_000, False, False),
        ("archive.zip", 10_000, False, False),
        ("tiny.css", MIN_SIZE - 1, False, False),
        ("style.css", 65_537, False, False),  # over the bound: the body would be held in memory
        ("style.css", 65_536, False, True),
    ],
)
def test_which_files_the_server_compresses(name: str, size: int, siblings: bool, expected: bool) -> None:
    assert server_may_compress(name, size, has_siblings=siblings, max_size=65_536) is expected


def test_entries_say_which_codings_they_may_be_compressed_into() -> None:
    entry = build_entry(found(), ON)
    assert entry.compressible == available_codings() and "gzip" in entry.compressible
    assert available_codings()[-1] == "gzip"  # always there, and last: br is preferred when present
    assert (b"vary", b"Accept-Encoding") in entry.identity.headers.ok
    assert (b"vary", b"Accept-Encoding") in entry.identity.headers.not_modified

    off = build_entry(found(), Options())
    assert off.compressible == () and b"vary" not in dict(off.identity.headers.ok)
    sibling = FileFacts("/site/style.css.gz", 300, FACTS.mtime_ns, 1, 43)
    assert build_entry(found(siblings=(("gzip", sibling),)), ON).compressible == ()
    assert build_entry(found(), Options(compress=True, small_file_max=len(CSS) - 1)).compressible == ()
    assert build_entry(found(), Options(compress=True, small_file_cache_bytes=0)).compressible == ()
    png = FileFacts("/site/logo.png", 10_000, FACTS.mtime_ns, 1, 44)
    assert build_entry(found(png), ON).compressible == ()


def test_compression_is_due_for_get_and_head_that_accept_it_without_a_range() -> None:
    entry = build_entry(found(), ON)
    assert compression_due(request(), entry) == "gzip"
    assert compression_due(request("HEAD"), entry) == "gzip"  # HEAD has GET's headers: the compressed length
    assert compression_due(request(range="bytes=0-9"), entry) is None
    assert compression_due(request(accept_encoding="identity"), entry) is None
    assert compression_due(request(accept_encoding=None), entry) is None
    assert compression_due(request("POST"), entry) is None
    assert compression_due(request(), build_entry(found(), Options())) is None


def _compressed(core: StaticCore, entry: FileEntry, coding: str = "gzip") -> bytes:
    body = compress_body(CSS, coding)
    core.compressed(entry, coding, body)
    return body


def test_a_compressed_body_has_its_own_validator_length_and_coding() -> None:
    core = StaticCore(ON)
    entry = build_entry(found(), ON)
    before = plan_file_response(request(), entry, max_ranges=8)
    assert before.source is entry.identity  # planned before compressing: identity (a driver compresses first)
    body = _compressed(core, entry)
    assert compression_due(request(), entry) is None  # once per version

    plan = plan_file_response(request(), entry, max_ranges=8)
    sent = headers(plan)
    assert plan.status == 200 and plan.body == (FileSlice(0, len(body)),)
    assert sent[b"content-encoding"] == b"gzip" and sent[b"content-length"] == str(len(body)).encode()
    assert sent[b"vary"] == b"Accept-Encoding"
    assert sent[b"etag"] == f'"{FACTS.size:x}-{FACTS.mtime_ns:x}-gzip"'.encode()
    assert sent[b"etag"] != entry.identity.etag.encode()
    assert core.bodies.get_uncounted(plan.source.body_key, plan.source.size) == body  # type: ignore[union-attr]
    assert core.bodies.get(FACTS) is None  # kept under its own key, not the file's

    head = plan_file_response(request("HEAD"), entry, max_ranges=8)
    assert head.headers == plan.headers and head.body == ()
    not_modified = plan_file_response(request(if_none_match=sent[b"etag"].decode()), entry, max_ranges=8)
    assert not_modified.status == 304 and headers(not_modified)[b"etag"] == sent[b"etag"]
    plain = plan_file_response(request(accept_encoding="identity"), entry, max_ranges=8)
    assert plain.source is entry.identity and headers(plain)[b"vary"] == b"Accept-Encoding"
    partial = plan_file_response(request(range="bytes=0-9"), entry, max_ranges=8)
    assert partial.status == 206 and partial.source is entry.identity
    assert b"content-encoding" not in headers(partial)


def test_a_body_that_does_not_pay_is_not_sent_and_not_tried_again() -> None:
    core = StaticCore(ON)
    entry = build_entry(found(), ON)
    core.compressed(entry, "gzip", CSS[:-10])  # saves 10 bytes: not worth a decompression
    assert entry.compressed == {"gzip": None}
    assert compression_due(request(), entry) is None
    assert plan_file_response(request(), entry, max_ranges=8).source is entry.identity


def test_the_hot_path_waits_for_compression_then_answers_from_the_body_cache() -> None:
    core = StaticCore(ON)
    core.store("/style.css", found(), time.monotonic())
    gzip_request = [(b"accept-encoding", b"gzip")]
    assert core.answers.plan("/style.css", "GET", gzip_request) is None  # compressing is the full path's work
    assert core.answers.plan("/style.css", "GET", [(b"accept-encoding", b"identity")]) is not None
    entry = core.answers.entry("/style.css")
    assert entry is not None and entry.plans  # the identity plan, remembered
    body = _compressed(core, entry)
    assert not entry.plans  # made before the compressed body existed: forgotten
    plan = core.answers.plan("/style.css", "GET", gzip_request)
    assert plan is not None
    status, sent, cached = core.answers.response_from(plan) or (0, (), b"")
    assert status == 200 and cached == body and gzip.decompress(cached) == CSS
    assert dict(sent)[b"content-encoding"] == b"gzip"


def test_a_new_version_of_the_file_starts_uncompressed() -> None:
    core = StaticCore(ON)
    entry = build_entry(found(), ON)
    _compressed(core, entry)
    changed = FACTS._replace(size=FACTS.size + 1, mtime_ns=FACTS.mtime_ns + 10**9)
    newer = build_entry(found(changed), ON)
    assert newer.compressed == {} and compression_due(request(), newer) == "gzip"
    assert core.bodies.get_compressed(changed, "gzip") is None
    assert core.bodies.get_compressed(FACTS, "gzip") is not None


@pytest.mark.parametrize("coding", available_codings())
def test_compressing_again_gives_the_same_bytes(coding: str) -> None:
    # A body dropped by the body cache is compressed again under the ETag already sent.
    first, again = compress_body(CSS, coding), compress_body(CSS, coding)
    assert first == again and len(first) < len(CSS)
    if coding == "gzip":
        assert gzip.decompress(first) == CSS
    else:
        import brotli

        assert brotli.decompress(first) == CSS


def test_an_unknown_coding_is_refused() -> None:
    with pytest.raises(ValueError, match="zstd"):
        compress_body(CSS, "zstd")
