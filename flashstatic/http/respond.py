"""The whole HTTP decision for one request: status, headers and what the body is made of.

Given the request's method and headers and a file entry's precomputed facts, return a
ResponsePlan. The body is a sequence of literal bytes and file slices; the transmit layer
decides how slices travel (body messages now, sendfile later).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import NamedTuple, Protocol

from .conditional import Conditions, Precondition, evaluate_preconditions
from .headers import Header, HeaderSet
from .negotiate import choose_representation, preferred_coding
from .ranges import UNSATISFIABLE, if_range_allows_partial, select_ranges

ALLOWED_METHODS = ("GET", "HEAD")


class Representation(Protocol):
    @property
    def encoding(self) -> str | None: ...
    @property
    def size(self) -> int: ...
    @property
    def etag(self) -> str: ...
    @property
    def last_modified(self) -> int: ...
    @property
    def headers(self) -> HeaderSet: ...


class Entry(Protocol):
    @property
    def identity(self) -> Representation: ...
    @property
    def encoded(self) -> Sequence[Representation]: ...
    @property
    def compressible(self) -> Sequence[str]:
        """The codings the server may compress this file into itself, in its order of preference."""

    @property
    def compressed(self) -> Mapping[str, Representation | None]:
        """Those compressed so far, by coding (None: tried, and it did not pay)."""


# FileSlice, ResponsePlan and FileRequest are NamedTuples, not frozen dataclasses: as immutable,
# and one is made per request on the hot path, where a frozen dataclass's __init__ costs several
# times more.
class FileSlice(NamedTuple):
    start: int
    stop: int  # exclusive


BodyPart = bytes | FileSlice


class ResponsePlan(NamedTuple):
    status: int
    # Often the representation's own cached tuple: whoever hands it on makes a list.
    headers: Sequence[Header]
    body: tuple[BodyPart, ...] = ()
    # The representation whose bytes the FileSlices refer to.
    source: Representation | None = None


NO_CONDITIONS = Conditions()


class FileRequest(NamedTuple):
    """The parts of a request that decide a file response, as received (None when absent)."""

    method: str
    conditions: Conditions = NO_CONDITIONS
    range: str | None = None
    if_range: str | None = None
    accept_encoding: str | None = None
    origin: str | None = None  # read only when the response depends on it (CORS with listed origins)


_REQUEST_HEADERS = {
    b"if-match": "if_match",
    b"if-none-match": "if_none_match",
    b"if-modified-since": "if_modified_since",
    b"if-unmodified-since": "if_unmodified_since",
    b"range": "range",
    b"if-range": "if_range",
    b"accept-encoding": "accept_encoding",
}
_REQUEST_HEADERS_WITH_ORIGIN = {**_REQUEST_HEADERS, b"origin": "origin"}

# The request's method and relevant fields as one plain tuple, in this order: method,
# Accept-Encoding, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, Range,
# If-Range, Origin (None when absent; Origin is only read where CORS echoes it). Building and
# hashing it costs a fraction of making a FileRequest and its Conditions (Python-level
# constructors), so the hot path keys its plan memo by it and makes the FileRequest only when
# it has to plan.
RequestFields = tuple[
    str, str | None, str | None, str | None, str | None, str | None, str | None, str | None, str | None
]
RANGE = 6  # the Range field's index in RequestFields

_PLAIN_FIELDS: dict[str, RequestFields] = {
    method: (method, None, None, None, None, None, None, None, None) for method in ALLOWED_METHODS
}

FieldsReader = Callable[[str, Iterable[tuple[bytes, bytes]]], RequestFields]


def _fields_reader(wanted: Mapping[bytes, str]) -> FieldsReader:
    def read_fields(method: str, raw_headers: Iterable[tuple[bytes, bytes]]) -> RequestFields:
        """Pick the relevant headers out of an ASGI-style header list.

        Repeated fields are joined with ", " as RFC 9110 section 5.3 allows for list fields;
        for a single-valued field (a date, a Range) the join makes it invalid, and so ignored,
        which is what the RFC asks of a field with more than one member.
        """
        found: dict[str, str] | None = None
        for name, value in raw_headers:
            key = wanted.get(name.lower())
            if key is not None:
                if found is None:
                    found = {}
                text = value.decode("latin-1")
                found[key] = f"{found[key]}, {text}" if key in found else text
        if found is None:
            # Most requests: no validators, no range, no codings. Shared, as tuples are immutable.
            return _PLAIN_FIELDS.get(method) or (method, None, None, None, None, None, None, None, None)
        get = found.get
        return (
            method,
            get("accept_encoding"),
            get("if_match"),
            get("if_none_match"),
            get("if_modified_since"),
            get("if_unmodified_since"),
            get("range"),
            get("if_range"),
            get("origin"),
        )

    return read_fields


request_fields = _fields_reader(_REQUEST_HEADERS)
# For CORS with listed origins, where a response depends on the request's Origin.
request_fields_with_origin = _fields_reader(_REQUEST_HEADERS_WITH_ORIGIN)


def request_from_fields(fields: RequestFields) -> FileRequest:
    (
        method,
        accept_encoding,
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
        range_,
        if_range,
        origin,
    ) = fields
    if if_match is None and if_none_match is None and if_modified_since is None and if_unmodified_since is None:
        conditions = NO_CONDITIONS
    else:
        conditions = Conditions(if_match, if_none_match, if_modified_since, if_unmodified_since)
    return FileRequest(method, conditions, range_, if_range, accept_encoding, origin)


def body_expected(fields: RequestFields) -> str | None:
    """What of a file's body a request will most likely be sent, before its file is known:
    "whole", "part" (a Range), or None (a HEAD, another method, or a GET with If-None-Match or
    If-Modified-Since, mostly answered 304). A guess to prepare the disk by, never a plan."""
    method, _, _, if_none_match, if_modified_since, _, range_, _, _ = fields
    if method != "GET" or if_none_match is not None or if_modified_since is not None:
        return None
    return "whole" if range_ is None else "part"


def file_request(method: str, raw_headers: Iterable[tuple[bytes, bytes]]) -> FileRequest:
    """The FileRequest of an ASGI-style header list (request_fields says how it is read)."""
    return request_from_fields(request_fields(method, raw_headers))


def plan_file_response(
    request: FileRequest, entry: Entry, *, max_ranges: int, boundary: str | None = None, now: int | None = None
) -> ResponsePlan:
    """``now`` (seconds) lets If-Range trust a date only once it is a strong validator."""
    plan = _plan_file_response(request, entry, max_ranges, boundary, now)
    if request.origin is not None and request.origin in entry.identity.headers.origins and plan.status != 405:
        # CORS with listed origins: this request's origin is one of them.
        return plan._replace(
            headers=(*plan.headers, (b"access-control-allow-origin", request.origin.encode("latin-1")))
        )
    return plan


def _plan_file_response(
    request: FileRequest, entry: Entry, max_ranges: int, boundary: str | None, now: int | None
) -> ResponsePlan:
    if request.method not in ALLOWED_METHODS:
        return plan_method_not_allowed()
    rep = choose_representation(request.accept_encoding, entry.identity, entry.encoded)
    if entry.compressible:
        rep = _compressed_here(request, entry) or rep
    headers = rep.headers

    if request.conditions is not NO_CONDITIONS:
        precondition = evaluate_preconditions(request.method, request.conditions, rep.etag, rep.last_modified)
        if precondition is Precondition.NOT_MODIFIED:
            return ResponsePlan(304, headers.not_modified)
        if precondition is Precondition.FAILED:
            return ResponsePlan(412, [*headers.not_modified, (b"content-length", b"0")])

    size = rep.size
    ranges = None
    # RFC 9110 section 14.2: range handling is defined for GET only.
    if (
        request.range is not None
        and request.method == "GET"
        and if_range_allows_partial(request.if_range, rep.etag, rep.last_modified, now)
    ):
        ranges = select_ranges(request.range, size, max_ranges)

    if ranges is None:
        body = () if request.method == "HEAD" or size == 0 else (FileSlice(0, size),)
        return ResponsePlan(200, headers.ok, body, rep)
    if ranges is UNSATISFIABLE:
        # The length in Content-Range is that of the selected representation: say which one.
        coding = [(b"content-encoding", rep.encoding.encode("ascii"))] if rep.encoding else []
        return ResponsePlan(
            416,
            [
                *headers.not_modified,
                *coding,
                (b"content-range", f"bytes */{size}".encode("ascii")),
                (b"content-length", b"0"),
            ],
        )
    assert isinstance(ranges, list)
    if len(ranges) == 1:
        start, stop = ranges[0]
        return ResponsePlan(
            206,
            [
                (b"content-type", headers.content_type),
                (b"content-length", str(stop - start).encode("ascii")),
                (b"content-range", f"bytes {start}-{stop - 1}/{rep.size}".encode("ascii")),
                *headers.representation,
            ],
            (FileSlice(start, stop),),
            rep,
        )
    return _plan_multipart(rep, ranges, boundary or secrets.token_hex(16))


def compression_due(request: FileRequest, entry: Entry) -> str | None:
    """The coding to compress the file into before ``request`` is planned: the one this
    client prefers, if not tried yet. None: plan now."""
    if not entry.compressible or request.range is not None or request.method not in ALLOWED_METHODS:
        return None
    coding = preferred_coding(request.accept_encoding, entry.compressible)
    return None if coding is None or coding in entry.compressed else coding


def _compressed_here(request: FileRequest, entry: Entry) -> Representation | None:
    """The body compressed by the server that this request gets, if any. A Range request
    gets identity bytes (RFC 9110 allows it), so its ranges never depend on compressor output."""
    if request.range is not None:
        return None
    coding = preferred_coding(request.accept_encoding, entry.compressible)
    return None if coding is None else entry.compressed.get(coding)


def _plan_multipart(rep: Representation, ranges: list[tuple[int, int]], boundary: str) -> ResponsePlan:
    """RFC 9110 section 14.6: one part per range, each with its own Content-Range."""
    content_type = rep.headers.content_type.decode("latin-1")
    body: list[BodyPart] = []
    for index, (start, stop) in enumerate(ranges):
        head = (
            f"{'' if index == 0 else chr(13) + chr(10)}--{boundary}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Range: bytes {start}-{stop - 1}/{rep.size}\r\n\r\n"
        )
        body.append(head.encode("latin-1"))
        body.append(FileSlice(start, stop))
    body.append(f"\r\n--{boundary}--\r\n".encode("latin-1"))
    length = sum(len(part) if isinstance(part, bytes) else part.stop - part.start for part in body)
    headers = [
        (b"content-type", f"multipart/byteranges; boundary={boundary}".encode("latin-1")),
        (b"content-length", str(length).encode("ascii")),
        *rep.headers.representation,
    ]
    return ResponsePlan(206, headers, tuple(body), rep)


def plan_text(status: int, text: str, extra: Sequence[Header] = (), *, head: bool = False) -> ResponsePlan:
    body = text.encode("utf-8")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode("ascii")),
        *extra,
    ]
    return ResponsePlan(status, headers, () if head else (body,))


def plan_method_not_allowed() -> ResponsePlan:
    return plan_text(405, "Method Not Allowed", [(b"allow", b"GET, HEAD")])


def plan_redirect(location: str, *, head: bool = False, status: int = 307) -> ResponsePlan:
    # 307 keeps the method, as Starlette's StaticFiles redirects do; WhiteNoise's ways in send 302.
    reason = HTTPStatus(status).phrase
    return plan_text(status, reason, [(b"location", location.encode("latin-1"))], head=head)


def plan_health(method: str) -> ResponsePlan:
    """The health endpoint: the process answers, which is all it says; never cached."""
    if method not in ALLOWED_METHODS:
        return plan_method_not_allowed()
    return plan_text(200, "ok", [(b"cache-control", b"no-cache")], head=method == "HEAD")


def plan_not_found_page(rep: Representation, *, head: bool) -> ResponsePlan:
    """html=True: a miss answered with 404.html. Not cacheable: the next deploy may fix it.
    nosniff as on every file response: the page is sent for any URL, so a browser must take
    it as the type its name says and nothing else."""
    headers = [
        (b"content-type", rep.headers.content_type),
        (b"content-length", str(rep.size).encode("ascii")),
        (b"cache-control", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
    ]
    body = () if head or rep.size == 0 else (FileSlice(0, rep.size),)
    return ResponsePlan(404, headers, body, rep)
