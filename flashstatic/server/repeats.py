"""Requests answered again: the same response for a request that asks the same question.

A browser or a load generator asks the same questions over and over. A cache answer's
response (cached.py) is a pure function of the request line, of the few header fields a
file's response depends on, and of the cache entry that answered it (plans of requests
without an If-Range are). So a response is remembered under its request's *answer key*: the
request line and those fields' lines, as sent (``answer_key``). A later request with the same
key, on any connection, gets the same response again, as long as that entry is still the
fresh answer for its path; only uvicorn's Date line is renewed, once a second. Every other
header (cookies, tracing ids, User-Agent) may differ: the response does not depend on them.

A read repeated byte for byte is looked up by its bytes before it is parsed: a key's response
is remembered under a request's bytes too once the same bytes came twice in a row for it.

What this skips per request: the cache lookup and the response's assembly; for a repeat by
bytes, the parse too. Nothing else is: counters, both access logs (with each request's own
client, Referer and User-Agent) and uvicorn's request count are kept as for any other cache
answer. The fast lane (fastlane.py) looks here first; a read that is not exactly one whole
request, arrives while anything is in flight, or names an entry that changed takes the
ordinary way.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from .cached import AnsweredHit, default_block
from .shortcut import StaticShortcut

if TYPE_CHECKING:
    from ..cache.entry import FileEntry
    from ..http.headers import Header

# Bounds on what is kept per app: a client inventing targets or header values cannot grow it
# further, only make it start over.
MAX_REQUEST_BYTES = 4096
MAX_REPEATS = 1024
MAX_REPEAT_BYTES = 16 * 1024 * 1024

# The header lines a cache answer depends on (read_fields' fields, CORS's Origin), or that
# make a request more than one head to answer (a body, Connection). llhttp, which has parsed
# the head first, takes CRLF line ends only and no folded lines or space before a colon, so
# every field line starts right after a CRLF and ends at the next CR. The lookahead on a
# name's first letter turns most other lines away before the names are tried one by one.
_DECISIVE_NAMES = (
    rb"if-[!#$%&'*+.^_`|~0-9a-z-]*|range|accept-encoding|origin|connection|content-length|transfer-encoding"
)
_DECISIVE = re.compile(rb"\r\n(?=[iraoct])(?:" + _DECISIVE_NAMES + rb"):[^\r]*", re.IGNORECASE)
# The fields an access-log line shows: Referer and User-Agent, and the client address behind a
# trusted proxy (X-Forwarded-For).
_LOGGED_NAMES = rb"referer|user-agent|x-forwarded-for"
_LOGGED = re.compile(rb"\r\n(?=[rux])(?:" + _LOGGED_NAMES + rb"):[^\r]*", re.IGNORECASE)
# Both kinds in one scan of the head, for a request whose line is made from its fields.
_DECISIVE_OR_LOGGED = re.compile(
    rb"\r\n(?=[iraoctux])(?:" + _DECISIVE_NAMES + rb"|" + _LOGGED_NAMES + rb"):[^\r]*", re.IGNORECASE
)
# The first letter of a logged name, any case (of names the pattern above found; "r" also
# begins "range", told apart by its second letter).
_R, _U, _X, _E = b"ruxe"


def answer_key(head: bytes, line_end: int) -> bytes:
    """A parsed head's request line and decisive field lines, as sent; ``line_end`` is where
    its request line ends."""
    found = _DECISIVE.findall(head, line_end)
    return head[:line_end] + b"".join(found) if found else head[:line_end]


def key_and_logged_lines(head: bytes, line_end: int) -> tuple[bytes, list[bytes]]:
    """``answer_key`` and ``find_logged_lines`` of a parsed head, found in one scan."""
    found = _DECISIVE_OR_LOGGED.findall(head, line_end)
    if not found:
        return head[:line_end], found
    decisive = []
    logged = []
    for line in found:  # a loop: no function made per call
        first = line[2] | 0x20  # ASCII lowercase
        if first in (_U, _X) or (first == _R and line[3] | 0x20 == _E):
            logged.append(line)
        else:
            decisive.append(line)
    return (head[:line_end] + b"".join(decisive) if decisive else head[:line_end]), logged


# find_logged_lines(head): the field lines of a parsed head that an access-log line shows, as
# sent; the pattern's own method, called without a Python frame.
find_logged_lines: Callable[[bytes], list[bytes]] = _LOGGED.findall


def logged_headers(head: bytes) -> list[Header]:
    """The fields of a parsed head that an access-log line shows, as uvicorn hands them on
    (lowercase names, no whitespace around values)."""
    return headers_of_lines(_LOGGED.findall(head))


def headers_of_lines(lines: list[bytes]) -> list[Header]:
    """Field lines as ``find_logged_lines`` gives them, as uvicorn hands them on."""
    found: list[Header] = []
    for line in lines:  # a loop: no function made per call
        name, _, value = line[2:].partition(b":")
        found.append((name.lower(), value.strip(b" \t")))
    return found


class Repeat:
    __slots__ = ("defaults", "entry", "hit", "last", "log_middle", "wire")

    def __init__(self, hit: AnsweredHit, entry: FileEntry) -> None:
        self.hit = hit
        self.entry = entry
        self.defaults: list[tuple[bytes, bytes]] | None = None
        self.wire = b""
        self.last = b""  # the last request answered again by its key
        # (root path, the middle of its access-log lines), made when a line is first needed.
        self.log_middle: tuple[str, str] | None = None

    def wire_for(self, defaults: list[tuple[bytes, bytes]]) -> bytes:
        """The whole response under uvicorn's current default headers (a new list each second)."""
        if defaults is not self.defaults:
            self.wire = STATUS_LINE[self.hit.status] + default_block(defaults) + self.hit.tail
            self.defaults = defaults
        return self.wire


class RepeatCache:
    """Responses by answer key and by request bytes, in tables apart: a read that happens to
    hold just a key's bytes (a request line, the rest of its head still to come) is no
    request to answer."""

    def __init__(self) -> None:
        self._by_key: dict[bytes, Repeat] = {}
        self._by_request: dict[bytes, Repeat] = {}
        # get(key) and get_request(bytes): the dicts' own methods, called without a Python frame.
        self.get: Callable[[bytes], Repeat | None] = self._by_key.get
        self.get_request: Callable[[bytes], Repeat | None] = self._by_request.get
        self._bytes = 0

    def remember(self, key: bytes, hit: AnsweredHit, entry: FileEntry) -> None:
        self._keep(self._by_key, key, Repeat(hit, entry))

    def keep(self, request: bytes, repeat: Repeat) -> None:
        """``repeat`` for a request's whole bytes."""
        self._keep(self._by_request, request, repeat)

    def _keep(self, table: dict[bytes, Repeat], name: bytes, repeat: Repeat) -> None:
        size = len(name) + 2 * len(repeat.hit.tail)  # the tail, and the wire made from it
        if len(self._by_key) + len(self._by_request) >= MAX_REPEATS or self._bytes + size > MAX_REPEAT_BYTES:
            self._by_key.clear()
            self._by_request.clear()
            self._bytes = 0
        table[name] = repeat
        self._bytes += size


_caches: weakref.WeakKeyDictionary[StaticShortcut, RepeatCache] = weakref.WeakKeyDictionary()


def repeat_cache_for(static: StaticShortcut) -> RepeatCache:
    """One per app (per shortcut it offers), shared by its connections."""
    cache = _caches.get(static)
    if cache is None:
        cache = _caches[static] = RepeatCache()
    return cache


def repeatable(key: bytes, hit: AnsweredHit) -> bool:
    if len(key) > MAX_REQUEST_BYTES or not hit.keep_alive:
        return False
    # An If-Range date is judged against the clock (is Last-Modified strong yet?).
    return not any(name == b"if-range" for name, _ in hit.headers)
