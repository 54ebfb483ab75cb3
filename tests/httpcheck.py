"""A strict reader of HTTP/1.1 responses for the fuzz tests, and the checks they share.

Strict means: one response per connection (the request says Connection: close), so every byte
after the head is body and must be exactly Content-Length long; one Content-Length; multipart
bodies parsed to the last byte; every Content-Range checked against the representation size.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

_STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) [\x20-\x7e]*")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTENT_RANGE = re.compile(rb"bytes (\d+)-(\d+)/(\d+)")


class Malformed(AssertionError):
    pass


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    raw: bytes

    def header(self, name: bytes) -> bytes | None:
        values = [value for key, value in self.headers if key == name]
        if len(values) > 1:
            raise Malformed(f"{name!r} appears {len(values)} times")
        return values[0] if values else None


def exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(262144):
            chunks.append(chunk)
    return b"".join(chunks)


def parse(raw: bytes, method: str = "GET") -> Response:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise Malformed(f"no end of head in {raw[:200]!r}")
    lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise Malformed(f"bad status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name) or any((c < 0x20 and c != 9) or c == 0x7F for c in value):
            raise Malformed(f"bad header line {line!r}")
        headers.append((name.lower(), value.strip(b" \t")))
    response = Response(int(match.group(1)), headers, body, raw)
    length = response.header(b"content-length")
    no_body = method == "HEAD" or response.status in (204, 304)
    if no_body and body:
        raise Malformed(f"{len(body)} body bytes after a {method} {response.status}")
    if length is not None:
        if not length.isdigit():
            raise Malformed(f"Content-Length {length!r}")
        if not no_body and int(length) != len(body):
            raise Malformed(f"Content-Length {int(length)} but {len(body)} body bytes")
    elif not no_body and response.header(b"transfer-encoding") is None:
        raise Malformed("neither Content-Length nor Transfer-Encoding")
    return response


def content_range(value: bytes, size: int) -> tuple[int, int]:
    """(start, stop) of a "bytes first-last/size" value, checked."""
    match = _CONTENT_RANGE.fullmatch(value)
    if match is None:
        raise Malformed(f"Content-Range {value!r}")
    first, last, total = map(int, match.groups())
    if total != size or not first <= last < size:
        raise Malformed(f"Content-Range {value!r} for {size} bytes")
    return first, last + 1


def multipart_parts(response: Response, size: int) -> list[tuple[tuple[int, int], bytes, bytes]]:
    """Parse multipart/byteranges to the last byte: [((start, stop), part content type, data)]."""
    content_type = response.header(b"content-type") or b""
    match = re.fullmatch(rb"multipart/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})", content_type)
    if match is None:
        raise Malformed(f"Content-Type {content_type!r} on a multipart 206")
    boundary = match.group(1)
    body, at, parts = response.body, 0, []
    while True:
        delimiter = (b"\r\n" if parts else b"") + b"--" + boundary
        if not body.startswith(delimiter, at):
            raise Malformed(f"expected a boundary at {at}")
        at += len(delimiter)
        if body[at:] == b"--\r\n":
            break
        head_end = body.find(b"\r\n\r\n", at)
        if not body.startswith(b"\r\n", at) or head_end < 0:
            raise Malformed(f"bad part head at {at}")
        part_headers = dict(line.split(b": ", 1) for line in body[at + 2 : head_end].split(b"\r\n"))
        start, stop = content_range(part_headers[b"Content-Range"], size)
        data = body[head_end + 4 : head_end + 4 + stop - start]
        if len(data) != stop - start:
            raise Malformed("part shorter than its Content-Range")
        parts.append(((start, stop), part_headers[b"Content-Type"], data))
        at = head_end + 4 + stop - start
    if len(parts) < 2:
        raise Malformed("a multipart response with fewer than two parts")
    return parts


class Decoys:
    """Every 16-byte window of the decoy files: any one of them in a response is a leak."""

    WINDOW = 16

    def __init__(self, contents: list[bytes]) -> None:
        self._windows = {data[i : i + self.WINDOW] for data in contents for i in range(len(data) - self.WINDOW + 1)}

    def leaked(self, raw: bytes) -> bool:
        windows = self._windows
        width = self.WINDOW
        return any(raw[i : i + width] in windows for i in range(len(raw) - width + 1))
