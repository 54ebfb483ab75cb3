"""The immutable facts about a served file, with everything a response needs precomputed."""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass, field
from wsgiref.headers import Headers

from ..config import ONE_YEAR, Options
from ..http.cachecontrol import cache_control_for
from ..http.compressible import server_may_compress
from ..http.conditional import make_etag
from ..http.cors import CorsPolicy, file_cors_headers
from ..http.dates import format_http_date, nearest_http_date
from ..http.headers import FilePolicy, HeaderSet, build_header_set
from ..http.mediatypes import media_type_for
from ..http.respond import RequestFields, ResponsePlan
from ..translate import FileFacts, FoundFile
from .bodies import BodyKey
from .encoder import available_codings

logger = logging.getLogger("flashstatic")

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def valid_header(name: str, value: str) -> bool:
    """RFC 9110 field syntax, in latin-1: no CR, LF or NUL can reach the wire."""
    return _TOKEN.fullmatch(name) is not None and _FIELD_VALUE.fullmatch(value) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Representation(HeaderSet):
    """One file as sent: the original (encoding None), a precompressed sibling, or the
    original compressed here (compress=True), whose bytes exist only in the body cache.

    It is its own header set rather than holding one: a cached file keeps its representations
    for as long as it is cached, and each object kept is one more for every full garbage
    collection to visit."""

    facts: FileFacts  # the file the bytes come from
    encoding: str | None
    etag: str
    last_modified: int  # whole seconds, as Last-Modified says
    size: int  # of the bytes sent
    body_key: BodyKey  # where the body cache keeps them

    @property
    def headers(self) -> HeaderSet:
        return self

    @property
    def compressed_here(self) -> bool:
        return not isinstance(self.body_key, FileFacts)


@dataclass(frozen=True, slots=True)
class FileEntry:
    # What translation saw: its URL here, its facts in ``identity`` and its siblings in
    # ``encoded``; not the FoundFile itself, which would be one more object per cached file.
    url: str
    identity: Representation
    encoded: tuple[Representation, ...]
    # compress=True: the codings the server may compress this file into itself (none when it
    # has a sibling or is not worth it), in order of preference; the headers' policy for them.
    compressible: tuple[str, ...] = ()
    policy: FilePolicy | None = field(default=None, compare=False, repr=False)
    # Those compressed so far, by coding, None for one that did not pay; filled in by the
    # driver that compressed (through StaticCore.compressed), so once per file version.
    compressed: dict[str, Representation | None] = field(default_factory=dict, compare=False, repr=False)
    # Plans for requests without a Range, by their RequestFields: a pure function of the
    # entry, so made once (see cache/responses.py).
    plans: dict[RequestFields, ResponsePlan] = field(default_factory=dict, compare=False, repr=False)

    def built_from(self, found: FoundFile) -> bool:
        """Whether this entry is what ``found`` would build: a revalidation that sees the same
        file, at the same URL, with the same siblings, keeps it."""
        return (
            found.url == self.url
            and found.facts == self.identity.facts
            and found.siblings == tuple((rep.encoding, rep.facts) for rep in self.encoded)
        )


def file_policy(path: str, url: str, options: Options) -> FilePolicy:
    content_type = media_type_for(os.path.basename(path), options.mimetypes, options.charset)
    # Nothing but these three differs from file to file unless a function edits the headers:
    # files of one type and caching share a policy.
    shared = _shared_policy(content_type, _cache_control(path, url, options), options.cors)
    if options.add_headers_function is None and _valid_content_type(content_type):
        return shared
    return _edited_policy(path, url, options, shared)


@functools.lru_cache(maxsize=1024)
def _valid_content_type(content_type: str) -> bool:
    # Files of one type share the answer: two regular expressions, run once per type.
    return valid_header("Content-Type", content_type)


def _cache_control(path: str, url: str, options: Options) -> str | None:
    cache_control = cache_control_for(options.cache_control, url, options.index_file)
    if cache_control is not None or options.max_age is None:
        return cache_control
    if options.immutable_file_test(path, url):
        return f"max-age={ONE_YEAR}, public, immutable"
    return f"max-age={options.max_age}, public"


@functools.lru_cache(maxsize=1024)
def _shared_policy(content_type: str, cache_control: str | None, cors: CorsPolicy | None) -> FilePolicy:
    """The policy of a file nothing edits; its headers are valid by construction (Cache-Control
    values are checked with the options)."""
    common = [] if cache_control is None else [("Cache-Control", cache_control)]
    common.extend(file_cors_headers(cors))
    common.append(("X-Content-Type-Options", "nosniff"))
    if cors is None:
        return FilePolicy(content_type, tuple(common))  # the class's one empty set: not one more per file
    return FilePolicy(content_type, tuple(common), cors.origins)


def _edited_policy(path: str, url: str, options: Options, shared: FilePolicy) -> FilePolicy:
    """``shared`` made for one file: add_headers_function may edit its headers, each checked
    after, and an invalid Content-Type (a ``mimetypes`` entry's) is replaced, with an error."""
    headers = Headers([("Content-Type", shared.content_type), *shared.common])
    if options.add_headers_function is not None:
        # WhiteNoise's contract: the function edits the headers in place, once per file.
        options.add_headers_function(headers, path, url)
    content_type = headers.get("Content-Type", shared.content_type)
    del headers["Content-Type"]
    common = []
    for name, value in headers.items():
        if valid_header(name, value):
            common.append((name, value))
        else:
            logger.error("add_headers_function gave %r an invalid header %r: %r; not sent", url, name, value)
    if not valid_header("Content-Type", content_type):
        logger.error("invalid Content-Type %r for %r; sending application/octet-stream", content_type, url)
        content_type = "application/octet-stream"
    return FilePolicy(content_type, tuple(common), shared.origins)


def compressible_codings(found: FoundFile, options: Options) -> tuple[str, ...]:
    """The codings the server compresses this file into itself; none without compress=True
    or a body cache to hold the result."""
    if not options.compress or options.small_file_cache_bytes <= 0:
        return ()
    facts = found.facts
    name = os.path.basename(facts.path)
    if not server_may_compress(name, facts.size, has_siblings=bool(found.siblings), max_size=options.small_file_max):
        return ()
    return available_codings()


def _representation(
    policy: FilePolicy, facts: FileFacts, encoding: str | None, varies: bool, size: int, key: BodyKey
) -> Representation:
    # A body compressed here is tagged with the original's size and time: its own validator,
    # known before compressing, and a new one with every new version of the file.
    etag = make_etag(facts.size, facts.mtime_ns, encoding)
    last_modified = nearest_http_date(facts.mtime_ns // 1_000_000_000)
    headers = build_header_set(
        policy,
        size=size,
        etag=etag,
        last_modified=format_http_date(last_modified),
        encoding=encoding,
        varies=varies,
    )
    return Representation(
        headers.content_type,
        headers.ok,
        headers.representation,
        headers.not_modified,
        headers.origins,
        facts=facts,
        encoding=encoding,
        etag=etag,
        last_modified=last_modified,
        size=size,
        body_key=key,
    )


def build_entry(found: FoundFile, options: Options) -> FileEntry:
    policy = file_policy(found.facts.path, found.url, options)
    compressible = compressible_codings(found, options)
    varies = bool(found.siblings) or bool(compressible)
    return FileEntry(
        found.url,
        _representation(policy, found.facts, None, varies, found.facts.size, found.facts),
        tuple(_representation(policy, facts, coding, varies, facts.size, facts) for coding, facts in found.siblings),
        compressible,
        policy if compressible else None,
    )


def compressed_representation(entry: FileEntry, coding: str, size: int) -> Representation:
    """The representation of ``entry``'s file compressed here into ``size`` bytes of ``coding``."""
    assert entry.policy is not None, "only a compressible entry has one"
    facts = entry.identity.facts
    return _representation(entry.policy, facts, coding, True, size, (facts, coding))
