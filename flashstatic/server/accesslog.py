"""The access log: one line per response in the Combined Log Format (Apache's and nginx's
default), so that the usual log tools read it.

    127.0.0.1 - - [10/Oct/2026:13:55:36 +0000] "GET /app.js HTTP/1.1" 200 2326 "-" "curl/8.5.0"

Written to the ``flashstatic.access`` logger at INFO; under your own uvicorn configure that
logger to see it. Nothing is formatted unless the logger is enabled.

`flashstatic serve` gives that logger one handler, an ``AccessLogWriter`` on stdout, and while
it is the logger's only destination the lines are handed to it directly (``direct_writer``):
``logging`` makes a record and takes a lock per line, several times the cost of the line
itself. The writer keeps lines in order in a bounded buffer and writes them when
``FLUSH_LINES`` have gathered or ``FLUSH_SECONDS`` after the first of them (a timer on the
event loop), and at shutdown (``logging`` flushes handlers at exit): in one write to a file or
a terminal, in pieces of whole lines up to a pipe's atomic write to a pipe or a socket.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import select
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TextIO, Unpack

from ..http.dates import MONTH_NAMES

ACCESS_LOGGER = logging.getLogger("flashstatic.access")

# Quotes, backslashes and control bytes would let a client forge fields or lines: escaped as
# nginx does (\xHH).
_ESCAPES = {i: f"\\x{i:02X}" for i in (*range(0x20), 0x22, 0x5C, 0x7F)}


def escape(value: str) -> str:
    # translate() looks every character up; most values have nothing to escape.
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return value.translate(_ESCAPES)


# The time field of the second last logged: most lines share it with the line before.
_last_time: tuple[int, str] = (-1, "")


def current_log_time(now: float) -> str:
    """``log_time(now)``, formatted once per second."""
    global _last_time
    second = int(now)
    if _last_time[0] != second:
        _last_time = (second, log_time(second))
    return _last_time[1]


def log_time(now: float) -> str:
    """``10/Oct/2026:13:55:36 +0200``: local time, English month names whatever the locale."""
    local = time.localtime(now)
    offset = local.tm_gmtoff or 0
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return (
        f"{local.tm_mday:02d}/{MONTH_NAMES[local.tm_mon - 1]}/{local.tm_year}:"
        f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d} {sign}{hours:02d}{minutes:02d}"
    )


def request_line(scope: Mapping[str, Any]) -> str:
    """The request line as the client sent it (raw path, so percent-escapes stay escaped)."""
    raw = scope.get("raw_path")
    target = raw.decode("latin-1") if raw else scope["path"]
    return request_line_of(scope["method"], target, scope.get("query_string", b""), scope.get("http_version", "1.1"))


def request_line_of(method: str, target: str, query: bytes, http_version: str) -> str:
    if query:
        return f"{method} {target}?{query.decode('latin-1')} HTTP/{http_version}"
    return f"{method} {target} HTTP/{http_version}"


def referer_and_agent(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str]:
    """The first Referer and User-Agent, escaped, or "-" for a missing one."""
    referer = agent = None
    for name, value in headers:
        if name == b"referer":
            if referer is None:
                referer = escape(value.decode("latin-1"))
        elif name == b"user-agent" and agent is None:
            agent = escape(value.decode("latin-1"))
    return ("-" if referer is None else referer), ("-" if agent is None else agent)


# The line format, chosen once at start (`flashstatic serve --access-log-format`): "combined",
# or "json" for log pipelines. Module state: the lines are made in the protocol, which has no
# app to carry a setting.
FORMATS = ("combined", "json")
_line_format = ["combined"]


def use_format(name: str) -> None:
    if name not in FORMATS:
        raise ValueError(f"access log format {name!r} is not one of {', '.join(FORMATS)}")
    _line_format[0] = name


def combined_lines() -> bool:
    """Whether lines are in Combined Log Format, which a cache answer's line can be made from
    kept parts of (``hit_line_parts``); a JSON line's time has milliseconds."""
    return _line_format[0] == "combined"


def json_line(
    client: tuple[str, int] | None,
    method: str,
    target: str,
    query: bytes,
    http_version: str,
    headers: Iterable[tuple[bytes, bytes]],
    status: int,
    sent: int,
    now: float,
) -> str:
    """One JSON object on one line: JSON's escapes (ASCII only) leave no control byte or
    newline in it, so a client cannot forge fields or lines."""
    referer = agent = None
    for name, value in headers:
        if name == b"referer" and referer is None:
            referer = value.decode("latin-1")
        elif name == b"user-agent" and agent is None:
            agent = value.decode("latin-1")
    stamp = f"{_utc_second(now)}.{int(now * 1000) % 1000:03d}Z"
    host = client[0] if client else None
    text = query.decode("latin-1")
    # Most lines hold nothing JSON would escape (printable ASCII, no quote or backslash): they
    # are written as json.dumps would write them, without building and encoding a dict.
    plain = f"{host}{method}{target}{text}{referer}{agent}"
    if plain.isascii() and plain.isprintable() and '"' not in plain and "\\" not in plain:
        return (
            f'{{"time":"{stamp}","client":{_quoted(host)},"method":"{method}","path":"{target}",'
            f'"query":"{text}","protocol":"HTTP/{http_version}","status":{status},"bytes":{sent},'
            f'"referer":{_quoted(referer)},"user_agent":{_quoted(agent)}}}'
        )
    fields = {
        "time": stamp,
        "client": host,
        "method": method,
        "path": target,
        "query": text,
        "protocol": f"HTTP/{http_version}",
        "status": status,
        "bytes": sent,
        "referer": referer,
        "user_agent": agent,
    }
    return json.dumps(fields, separators=(",", ":"))


def _quoted(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


_last_utc: tuple[int, str] = (-1, "")


def _utc_second(now: float) -> str:
    """``2026-10-10T13:55:36``, formatted once per second."""
    global _last_utc
    second = int(now)
    if _last_utc[0] != second:
        _last_utc = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return _last_utc[1]


def combined_line(scope: Mapping[str, Any], status: int, sent: int, now: float) -> str:
    """One Combined Log Format line (a JSON one if so chosen); ``sent`` counts body bytes only
    ("-" for none)."""
    if _line_format[0] == "json":
        raw = scope.get("raw_path")
        target = raw.decode("latin-1") if raw else scope["path"]
        query = scope.get("query_string", b"")
        version = scope.get("http_version", "1.1")
        return json_line(
            scope.get("client"), scope["method"], target, query, version, scope.get("headers", ()), status, sent, now
        )
    return line_of(scope.get("client"), request_line(scope), scope.get("headers", ()), status, sent, now)


def line_of(
    client: tuple[str, int] | None,
    request: str,
    headers: Iterable[tuple[bytes, bytes]],
    status: int,
    sent: int,
    now: float,
) -> str:
    """``combined_line`` from its parts, for a caller without a scope."""
    referer, agent = referer_and_agent(headers)
    return (
        f'{escape(client[0]) if client else "-"} - - [{current_log_time(now)}] "{escape(request)}" {status or "-"} '
        f'{sent or "-"} "{referer}" "{agent}"'
    )


# What a cache answer's line is made of: client, method, target, query, HTTP version, request
# headers, status, body bytes.
LineFields = tuple[tuple[str, int] | None, str, str, bytes, str, list[tuple[bytes, bytes]], int, int]


def hit_line(*fields: Unpack[LineFields]) -> str:
    """``combined_line`` for a cache answer, now: the same line in fewer steps, for the lines
    most of a busy server's are."""
    parts = hit_line_parts(*fields)
    if parts is None:
        return json_line(*fields, time.time())
    return stamped(parts)


def hit_line_parts(
    client: tuple[str, int] | None,
    method: str,
    target: str,
    query: bytes,
    http_version: str,
    headers: list[tuple[bytes, bytes]],
    status: int,
    sent: int,
) -> tuple[str, str] | None:
    """``hit_line``'s line before and after its time; None in the JSON format, whose time
    has milliseconds."""
    if _line_format[0] == "json":
        return None
    referer, agent = referer_and_agent_values(headers)
    key = (client[0] if client else "-", method, target, query, http_version, status, sent, referer, agent)
    return _hit_parts.get(key) or _line_parts(key)


def referer_and_agent_values(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bytes | None]:
    """The first Referer and User-Agent as sent, or None for a missing one."""
    referer = agent = None
    for name, value in reversed(headers):  # the first of each is the one logged
        if name == b"user-agent":
            agent = value
        elif name == b"referer":
            referer = value
    return referer, agent


def stamped(parts: tuple[str, str]) -> str:
    """A Combined line from its parts before and after its time, at the time now."""
    now = time.time()
    stamp = _last_time[1] if _last_time[0] == int(now) else current_log_time(now)
    return f"{parts[0]}{stamp}{parts[1]}"


# The lines of cache answers without their time, by what they are made of: clients ask for the
# same files with the same few headers, so most lines are made from a line made before. Bounded
# in count and in the size of a line kept (at most 4096 x 2 KiB of line, and its key): a client
# inventing header values only makes it start over.
_hit_parts: dict[tuple[Any, ...], tuple[str, str]] = {}
_MAX_HIT_PARTS = 4096
_MAX_KEPT_LINE = 2048


def _line_parts(key: tuple[Any, ...]) -> tuple[str, str]:
    """The Combined line of ``hit_line``'s key, before and after its time, escaped as
    ``line_of`` escapes."""
    host, method, target, query, http_version, status, sent, referer, agent = key
    # The client address too: behind a proxy trusted for every address it is the first
    # X-Forwarded-For entry, which the client may have written.
    parts = (
        client_part(host),
        request_part(method, target, query, http_version, status, sent) + header_fields_part(referer, agent),
    )
    if len(parts[0]) + len(parts[1]) <= _MAX_KEPT_LINE:
        if len(_hit_parts) >= _MAX_HIT_PARTS:
            _hit_parts.clear()
        _hit_parts[key] = parts
    return parts


# A Combined line in three parts, each made once for what it depends on: the client, up to the
# time; the request, status and size, after it; the Referer and User-Agent.


def client_part(host: str) -> str:
    return f"{escape(host)} - - ["


def request_part(method: str, target: str, query: bytes, http_version: str, status: int, sent: int) -> str:
    request = f"{method} {target}?{query.decode('latin-1')}" if query else f"{method} {target}"
    return f'] "{escape(f"{request} HTTP/{http_version}")}" {status or "-"} {sent or "-"} '


def header_fields_part(referer: bytes | None, agent: bytes | None) -> str:
    return f'"{_header_field(referer)}" "{_header_field(agent)}"'


def field_lines_part(lines: list[bytes]) -> tuple[str, bool]:
    """``header_fields_part`` of a request's Referer, User-Agent and X-Forwarded-For field
    lines as sent (each after its CRLF: ``b"\r\nUser-Agent: x"``), and whether an
    X-Forwarded-For is among them."""
    referer = agent = None
    forwarded = False
    for line in lines:
        first = line[2] | 0x20  # the name's first letter, lowercase: the three differ in it
        if first == _REFERER:
            if referer is None:
                referer = _field_texts.get(line) or _field_text(line)
        elif first == _USER_AGENT:
            if agent is None:
                agent = _field_texts.get(line) or _field_text(line)
        else:
            forwarded = True
    return f'"{"-" if referer is None else referer}" "{"-" if agent is None else agent}"', forwarded


_REFERER, _USER_AGENT = b"ru"

# Field lines' values as a line shows them, by the lines as sent: clients send the same few
# User-Agents, and a page's assets the same Referer. Bounded in count and in the size of a
# line kept (at most 1024 of at most 1 KiB).
_field_texts: dict[bytes, str] = {}
_MAX_FIELD_TEXTS = 1024
_MAX_FIELD_LINE = 1024


def _field_text(line: bytes) -> str:
    # As uvicorn hands a value on: no whitespace around it.
    text = escape(line.partition(b":")[2].strip(b" \t").decode("latin-1"))
    if len(line) <= _MAX_FIELD_LINE:
        if len(_field_texts) >= _MAX_FIELD_TEXTS:
            _field_texts.clear()
        _field_texts[line] = text
    return text


def _header_field(value: bytes | None) -> str:
    return "-" if value is None else escape(value.decode("latin-1"))


def log_response(request: Mapping[str, Any] | str, status: int, sent: int) -> None:
    """Write the line of a response: ``request`` is its scope, or the line already made."""
    if ACCESS_LOGGER.isEnabledFor(logging.INFO):
        line = request if isinstance(request, str) else combined_line(request, status, sent, time.time())
        writer = direct_writer()
        if writer is not None:
            writer.add(line)
        else:
            ACCESS_LOGGER.info(line)


def line_writers() -> tuple[Callable[[str], None], Callable[[tuple[str, str]], None]]:
    """What a connection hands its lines to, chosen when it is made (as uvicorn decides then
    whether to log): whole lines, and lines given as ``hit_line_parts``. The writer's own
    ``add`` and ``add_parts`` when lines may skip ``logging`` (it keeps parts and time apart
    until it joins its batch), else the logger, which needs each whole line now."""
    writer = direct_writer()
    if writer is None:
        return ACCESS_LOGGER.info, _log_parts
    return writer.add, writer.add_parts


def _log_parts(parts: tuple[str, str]) -> None:
    ACCESS_LOGGER.info(stamped(parts))


FLUSH_LINES = 256
FLUSH_SECONDS = 0.1


class AccessLogWriter(logging.Handler):
    """A handler that writes messages as they are, one per line, in batches: at most
    ``FLUSH_LINES`` wait, for at most ``FLUSH_SECONDS`` when an event loop runs in the thread
    that adds them (written at once otherwise). A failed write drops its batch, is reported
    once on stderr and does not stop the next ones."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(logging.INFO)
        self.stream = stream if stream is not None else sys.stdout
        self._whole = _writes_whole(self.stream)
        # The lines waiting, in pieces joined once when written: a line made from kept parts
        # is not made at all before then.
        self._pieces: list[str] = []
        self._held = 0  # lines in the pieces
        # add_parts' time field, and the second it stands for: [since, until).
        self._stamp = ""
        self._since = self._until = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._failed = False

    def emit(self, record: logging.LogRecord) -> None:
        self.add(self.format(record))

    def add(self, line: str) -> None:
        self._pieces += (line, "\n")
        held = self._held = self._held + 1
        if held >= FLUSH_LINES:
            self.flush()
        elif held == 1:
            self._flush_soon()

    def add_parts(self, parts: tuple[str, str]) -> None:
        """The line of ``parts`` (``hit_line_parts``), at the time now: ``add`` without the
        line made, for most lines of a busy server."""
        now = time.time()
        if not self._since <= now < self._until:  # a new second, or the clock was set back
            self._stamp_second(now)
        before, after = parts
        self._pieces += (before, self._stamp, after, "\n")
        # add's last lines, written out: a call more per line would cost more than they do.
        held = self._held = self._held + 1
        if held >= FLUSH_LINES:
            self.flush()
        elif held == 1:
            self._flush_soon()

    def _stamp_second(self, now: float) -> None:
        self._stamp = current_log_time(now)
        self._since = float(int(now))
        self._until = self._since + 1

    def _flush_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no loop to flush later: now
            return
        self._timer = loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._held:
            return
        text = "".join(self._pieces)
        self._pieces, self._held = [], 0
        try:
            for piece in (text,) if self._whole else pipe_pieces(text):
                self.stream.write(piece)
                self.stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            self._report(exc)

    def _report(self, exc: Exception) -> None:
        if self._failed:
            return
        self._failed = True
        try:
            print(f"flashstatic: the access log could not be written ({exc}); lines are dropped", file=sys.stderr)
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        self.flush()
        super().close()


def _writes_whole(stream: TextIO) -> bool:
    """Whether a batch may go in one write: to a regular file or a terminal (or /dev/null)
    the kernel does not interleave one write() with another process's, as it may for a pipe or
    a socket past PIPE_BUF bytes. A stream without a descriptor is written in pieces."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False
    return stat.S_ISREG(mode) or stat.S_ISCHR(mode)


# Characters per write: at most PIPE_BUF bytes once encoded, at up to two bytes a character
# (the latin-1 text of headers in UTF-8).
PIECE_CHARS = select.PIPE_BUF // 2


def pipe_pieces(text: str) -> Iterator[str]:
    """``text``, whole lines, in pieces of at most ``PIECE_CHARS`` (a longer line alone). The
    workers of `flashstatic serve` share stdout, and a pipe write of at most PIPE_BUF bytes is
    never interleaved with another's: so no worker's write cuts into another's line."""
    start, end = 0, len(text)
    while end - start > PIECE_CHARS:
        stop = text.rfind("\n", start, start + PIECE_CHARS) + 1
        if stop <= start:  # one line longer than a piece
            stop = text.index("\n", start) + 1
        yield text[start:stop]
        start = stop
    if start < end:
        yield text[start:]


def direct_writer() -> AccessLogWriter | None:
    """The access logger's writer, when it is the logger's only destination and would write
    each message as it is: lines may then skip ``logging``. None when anything else (another
    handler, a filter, a formatter, a parent logger) should see them."""
    logger = ACCESS_LOGGER
    if logger.disabled or logger.propagate or logger.filters or not logger.isEnabledFor(logging.INFO):
        return None
    handlers = logger.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if type(handler) is not AccessLogWriter or handler.filters or handler.formatter is not None:
        return None
    return handler if handler.level <= logging.INFO else None


def flush_access_log() -> None:
    """Write what the access logger's writers hold: the server has no connection left (it is
    idle, or shutting down)."""
    for handler in ACCESS_LOGGER.handlers:
        if isinstance(handler, AccessLogWriter):
            handler.flush()
