"""Cache hits written straight to the connection, framed as uvicorn itself frames them.

``FlashStatic.answer_from_cache`` knows a hit's whole response before any await; going through
ASGI would add a scope, a task, a trip through the middleware stack and two send() coroutines,
which together cost several times the decision itself. The protocol writes instead the bytes
uvicorn's ``RequestResponseCycle.send`` writes for the same two messages: status line,
uvicorn's default headers, ours, ``connection: close`` when the connection will close, the body
unless HEAD. tests/test_hot_path.py compares the two byte for byte.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from ..cache.responses import CachedResponse
from ..http.headers import Header

Answerer = Callable[[str, str, list[tuple[bytes, bytes]]], "CachedResponse | None"]


@dataclass(frozen=True)
class CacheShortcut:
    answer: Answerer
    # uvicorn's proxy-headers middleware sits in front: it only rewrites the client address and
    # scheme, which no file response depends on, but the access log shows the rewritten address.
    behind_proxy_headers: bool


def find_cache_shortcut(app: Any) -> CacheShortcut | None:
    """The shortcut to a FlashStatic app that uvicorn runs directly (through nothing but
    uvicorn's proxy-headers middleware); None otherwise, for any other outer middleware must
    see every response."""
    from ..asgi import FlashStatic

    proxied = False
    while isinstance(app, ProxyHeadersMiddleware):
        app, proxied = app.app, True
    if isinstance(app, FlashStatic):
        return CacheShortcut(app.answer_from_cache, proxied)
    return None


def encode_response(response: CachedResponse, default_headers: list[Header], *, keep_alive: bool,
                    head: bool) -> bytes:
    status, headers, body = response
    content = [STATUS_LINE[status], _default_block(default_headers), _header_block(headers)]
    if not keep_alive:
        content.append(b"connection: close\r\n")
    content.append(b"\r\n")
    if not head:
        content.append(body)
    return b"".join(content)


def log_access(logger: logging.Logger, client: tuple[str, int] | None, method: str, path: str, query: bytes,
               http_version: str, status: int) -> None:
    """uvicorn's access-log line, with the same arguments it passes."""
    target = urllib.parse.quote(path)
    if query:
        target = f"{target}?{query.decode('ascii')}"
    logger.info('%s - "%s %s HTTP/%s" %d', "%s:%d" % client if client else "", method, target, http_version, status)


# uvicorn's default headers: a new list each second (for Date), the same list in between.
_last_defaults: tuple[list[Header] | None, bytes] = (None, b"")


def _default_block(headers: list[Header]) -> bytes:
    global _last_defaults
    seen, block = _last_defaults
    if seen is not headers:
        block = _encode(headers)
        _last_defaults = (headers, block)
    return block


# Encoded header blocks of cached representations, by the identity of their header tuple:
# the same object request after request. The tuple is kept with its block, so its id cannot
# be reused by another object while the block is here.
_blocks: dict[int, tuple[Sequence[Header], bytes]] = {}
_MAX_BLOCKS = 4096


def _header_block(headers: Sequence[Header]) -> bytes:
    """Encoded header lines; lists are made for one response (a 206's Content-Range)."""
    if not isinstance(headers, tuple):
        return _encode(headers)
    known = _blocks.get(id(headers))
    if known is not None and known[0] is headers:
        return known[1]
    if len(_blocks) >= _MAX_BLOCKS:
        _blocks.clear()
    block = _encode(headers)
    _blocks[id(headers)] = (headers, block)
    return block


def _encode(headers: Sequence[Header]) -> bytes:
    return b"".join([b"%s: %s\r\n" % (name, value) for name, value in headers])
