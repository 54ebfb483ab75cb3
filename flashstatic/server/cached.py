"""Cache hits written straight to the connection, as uvicorn itself would frame them.

``FlashStatic.cached_response`` knows a hit's whole response before any await; going through
ASGI would add a task, a trip through the middleware stack and two send() coroutines, which
cost more than the decision itself. Here the protocol writes the same bytes uvicorn's
``RequestResponseCycle.send`` writes for those two messages (status line, uvicorn's default
headers, ours, ``connection: close`` when the connection will close, the body unless HEAD) and
does the same bookkeeping, so keep-alive, pipelining, access logs and request counts behave
as before. tests/test_hot_path.py compares both paths byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from ..cache.responses import CachedResponse
from ..http.headers import Header

CachedResponder = Callable[[dict[str, Any]], "CachedResponse | None"]

# Middleware that cannot change a static response: it only rewrites the client's address and
# scheme, which a cached file response never depends on.
_TRANSPARENT = (ProxyHeadersMiddleware,)


def find_cached_responder(app: Any) -> CachedResponder | None:
    """FlashStatic's ``cached_response`` when it is the app uvicorn runs, else None (any other
    outer middleware must see every response, so then there is no shortcut)."""
    from ..asgi import FlashStatic

    while isinstance(app, _TRANSPARENT):
        app = app.app
    if isinstance(app, FlashStatic):
        return app.cached_response
    return None


def write_cached_response(cycle: RequestResponseCycle, response: CachedResponse) -> None:
    status, headers, body = response
    scope = cycle.scope
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    if cycle.access_log:
        cycle.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope), scope["method"],
                                 get_path_with_query_string(scope), scope["http_version"], status)
    content = [STATUS_LINE[status], _header_block(tuple(cycle.default_headers)), _header_block(headers)]
    if not cycle.keep_alive:
        content.append(b"connection: close\r\n")
    content.append(b"\r\n")
    if scope["method"] != "HEAD":
        content.append(body)
    cycle.transport.write(b"".join(content))
    cycle.response_complete = True
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()


_blocks: dict[Sequence[Header], bytes] = {}
_MAX_BLOCKS = 4096


def _header_block(headers: Sequence[Header]) -> bytes:
    """Encoded header lines. Tuples are memoised: uvicorn's default headers (Date changes each
    second) and a representation's cached headers recur request after request; lists are
    made for one response (a 206's Content-Range)."""
    if not isinstance(headers, tuple):
        return _encode(headers)
    block = _blocks.get(headers)
    if block is None:
        if len(_blocks) >= _MAX_BLOCKS:
            _blocks.clear()
        block = _blocks[headers] = _encode(headers)
    return block


def _encode(headers: Sequence[Header]) -> bytes:
    return b"".join([b"%s: %s\r\n" % (name, value) for name, value in headers])
