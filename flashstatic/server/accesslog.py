"""The access log: one line per response in the Combined Log Format (Apache's and nginx's
default), so that the usual log tools read it.

    127.0.0.1 - - [10/Oct/2026:13:55:36 +0000] "GET /app.js HTTP/1.1" 200 2326 "-" "curl/8.5.0"

Written to the ``flashstatic.access`` logger at INFO; `flashstatic serve` sends it to stdout,
under your own uvicorn configure that logger to see it. Nothing is formatted unless the logger
is enabled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

ACCESS_LOGGER = logging.getLogger("flashstatic.access")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Quotes, backslashes and control bytes would let a client forge fields or lines: escaped as
# nginx does (\xHH).
_ESCAPES = {i: f"\\x{i:02X}" for i in (*range(0x20), 0x22, 0x5C, 0x7F)}


def escape(value: str) -> str:
    return value.translate(_ESCAPES)


def log_time(now: float) -> str:
    """``10/Oct/2026:13:55:36 +0200``: local time, English month names whatever the locale."""
    local = time.localtime(now)
    offset = local.tm_gmtoff or 0
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return (
        f"{local.tm_mday:02d}/{_MONTHS[local.tm_mon - 1]}/{local.tm_year}:"
        f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d} {sign}{hours:02d}{minutes:02d}"
    )


def request_line(scope: Mapping[str, Any]) -> str:
    """The request line as the client sent it (raw path, so percent-escapes stay escaped)."""
    raw = scope.get("raw_path")
    target = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    return f"{scope['method']} {target} HTTP/{scope.get('http_version', '1.1')}"


def _header(scope: Mapping[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return escape(value.decode("latin-1"))
    return "-"


def combined_line(scope: Mapping[str, Any], status: int, sent: int, now: float) -> str:
    """One Combined Log Format line; ``sent`` counts body bytes only ("-" for none)."""
    client = scope.get("client")
    host = client[0] if client else "-"
    size = str(sent) if sent else "-"
    return (
        f'{host} - - [{log_time(now)}] "{escape(request_line(scope))}" {status or "-"} {size} '
        f'"{_header(scope, b"referer")}" "{_header(scope, b"user-agent")}"'
    )


def log_response(scope: Mapping[str, Any], status: int, sent: int) -> None:
    if ACCESS_LOGGER.isEnabledFor(logging.INFO):
        ACCESS_LOGGER.info(combined_line(scope, status, sent, time.time()))
