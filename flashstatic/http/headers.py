"""Response header lists, built once per file representation and reused for every request.

This is the paper's response-header cache: the bytes are encoded when a file is first seen
(or seen to change) and a hit does no formatting at all.
"""

from __future__ import annotations

from dataclasses import dataclass

Header = tuple[bytes, bytes]

# RFC 9110 section 15.4.5: what a 304 carries, and what we add for caches and browsers.
# Last-Modified goes too: every response has an ETag, and the section asks for no other
# representation metadata then (each header left out is work saved on every 304).
_NOT_MODIFIED_EXCLUDES = {
    b"content-type",
    b"content-length",
    b"content-encoding",
    b"accept-ranges",
    b"x-content-type-options",
    b"content-range",
    b"last-modified",
}


@dataclass(frozen=True, slots=True)
class FilePolicy:
    """Per-file header decisions taken once: its type, its caching and any extra headers."""

    content_type: str
    # Headers every response about this file carries, in order: Cache-Control, CORS, the
    # user's own (add_headers_function), nosniff.
    common: tuple[tuple[str, str], ...]
    # CORS with listed origins: those whose requests get their Origin echoed.
    origins: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class HeaderSet:
    """Encoded headers of one representation (one file, one content-coding)."""

    # Tuples: plans and hot responses share them, and nothing that receives them can change
    # them for the next request.
    content_type: bytes
    ok: tuple[Header, ...]  # 200: everything, including Content-Length
    representation: tuple[Header, ...]  # 206: everything but Content-Type and Content-Length
    not_modified: tuple[Header, ...]  # 304, and the base of 412 and 416
    origins: frozenset[str] = frozenset()  # FilePolicy.origins


def _encode(name: str, value: str) -> Header:
    return name.lower().encode("latin-1"), value.encode("latin-1")


def build_header_set(
    policy: FilePolicy,
    *,
    size: int,
    etag: str,
    last_modified: str,
    encoding: str | None,
    varies: bool,
) -> HeaderSet:
    representation: list[Header] = []
    if encoding:
        representation.append((b"content-encoding", encoding.encode("ascii")))
    representation.append((b"accept-ranges", b"bytes"))
    representation.append((b"etag", etag.encode("latin-1")))
    representation.append((b"last-modified", last_modified.encode("latin-1")))
    if varies:
        representation.append((b"vary", b"Accept-Encoding"))
    representation.extend(_encode(name, value) for name, value in policy.common)

    content_type = policy.content_type.encode("latin-1")
    ok = [(b"content-type", content_type), (b"content-length", str(size).encode("ascii"))]
    ok.extend(representation)
    not_modified = tuple(header for header in representation if header[0] not in _NOT_MODIFIED_EXCLUDES)
    return HeaderSet(content_type, tuple(ok), tuple(representation), not_modified, policy.origins)
