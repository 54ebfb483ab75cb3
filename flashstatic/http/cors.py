"""CORS for static files: which origin a response names, and the answer to a preflight.

Files are public to whoever may fetch them, so the only choice is which origins may read
them from a script: any (``*``, the same header on every response, decided once per file) or
a list (the request's Origin echoed when listed, with ``Vary: Origin`` on every response so
that a shared cache keeps one copy per origin).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .headers import Header

ANY_ORIGIN = "*"
# How long a browser may reuse a preflight's answer, in seconds (browsers cap it lower).
PREFLIGHT_MAX_AGE = 86400

# RFC 6454 serialised origin: scheme "://" host [":" port], nothing after.
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[a-z0-9._~!$&'()*+,;=%-]+)(:[0-9]{1,5})?", re.IGNORECASE)
# A header name in Access-Control-Request-Headers that may be echoed: an RFC 9110 token.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Names echoed from one preflight, at most: the answer is bounded whatever is asked.
_MAX_ASKED_HEADERS = 32


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    any_origin: bool
    origins: frozenset[str]  # listed origins, exactly as browsers send them


def cors_policy(origins: Iterable[str], *, allow_all_origins: bool = False) -> CorsPolicy | None:
    """The policy for ``cors_origins`` (``allow_all_origins=True`` is ``("*",)``); None when
    CORS is off. A bad origin is a ValueError naming it."""
    listed = set()
    for origin in origins:
        if not isinstance(origin, str) or (origin != ANY_ORIGIN and _ORIGIN.fullmatch(origin) is None):
            raise ValueError(f"cors_origins: {origin!r} is not '*' or an origin such as 'https://example.com'")
        listed.add(origin)
    if allow_all_origins or ANY_ORIGIN in listed:
        return CorsPolicy(True, frozenset())
    return CorsPolicy(False, frozenset(listed)) if listed else None


def echoes_origin(policy: CorsPolicy | None) -> bool:
    """Whether responses depend on the request's Origin (listed origins), so it must be read."""
    return policy is not None and not policy.any_origin


def file_cors_headers(policy: CorsPolicy | None) -> tuple[tuple[str, str], ...]:
    """The CORS headers every response about a file carries, whatever its request."""
    if policy is None:
        return ()
    if policy.any_origin:
        return (("Access-Control-Allow-Origin", ANY_ORIGIN),)
    return (("Vary", "Origin"),)


def echoed_origin(policy: CorsPolicy | None, origin: str | None) -> Header | None:
    """The Access-Control-Allow-Origin a listed origin's request gets (None for any other)."""
    if policy is None or origin is None or origin not in policy.origins:
        return None
    return (b"access-control-allow-origin", origin.encode("latin-1"))


def asked_headers(value: str | None) -> str | None:
    """Access-Control-Request-Headers, reduced to the header names it may echo (lower-cased,
    in order, without repeats); None when none is left."""
    if not value:
        return None
    names: list[str] = []
    for item in value.split(","):
        name = item.strip().lower()
        if _HEADER_NAME.fullmatch(name) and name not in names:
            names.append(name)
            if len(names) == _MAX_ASKED_HEADERS:
                break
    return ", ".join(names) or None


_PREFLIGHT_FIELDS = {
    b"origin": 0,
    b"access-control-request-method": 1,
    b"access-control-request-headers": 2,
}


def preflight_fields(raw_headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None, str | None]:
    """Origin, Access-Control-Request-Method and -Headers of an ASGI-style header list."""
    found: list[str | None] = [None, None, None]
    for name, value in raw_headers:
        index = _PREFLIGHT_FIELDS.get(name.lower())
        if index is not None:
            text = value.decode("latin-1")
            previous = found[index]
            found[index] = text if previous is None else f"{previous}, {text}"
    return found[0], found[1], found[2]


def preflight_headers(
    policy: CorsPolicy | None, origin: str | None, request_method: str | None, request_headers: str | None
) -> list[Header] | None:
    """The headers of a 204 answer to a CORS preflight for a file; None when the request is no
    preflight (no Origin or no Access-Control-Request-Method) or its origin is not allowed,
    for the caller to answer OPTIONS as without CORS."""
    if policy is None or origin is None or request_method is None:
        return None
    if policy.any_origin:
        headers = [(b"access-control-allow-origin", b"*")]
    else:
        echoed = echoed_origin(policy, origin)
        if echoed is None:
            return None
        headers = [echoed, (b"vary", b"Origin")]
    headers.append((b"access-control-allow-methods", b"GET, HEAD"))
    allowed = asked_headers(request_headers)
    if allowed is not None:
        headers.append((b"access-control-allow-headers", allowed.encode("ascii")))
    headers.append((b"access-control-max-age", str(PREFLIGHT_MAX_AGE).encode("ascii")))
    return headers
