"""The fast lane's pure parts: answer keys, logged fields, and the bound on kept log lines."""

from __future__ import annotations

import itertools
import random

from flashstatic.server.repeats import answer_key, find_logged_lines, key_and_logged_lines, logged_headers

HEAD = (
    b'GET /a.css?v=2 HTTP/1.1\r\nHost: x\r\nUser-Agent: UA/1  \r\nIf-None-Match: "AbC"\r\n'
    b"X-If-None-Match: *\r\nAccept-Encoding: gzip\r\nCookie: range: 1\r\nRange: bytes=0-1\r\n"
    b"Referer: http://r/\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n"
)


def test_an_answer_key_is_the_request_line_and_the_decisive_lines_as_sent() -> None:
    key = answer_key(HEAD, HEAD.find(b"\r\n"))
    assert key == (
        b'GET /a.css?v=2 HTTP/1.1\r\nIf-None-Match: "AbC"\r\nAccept-Encoding: gzip\r\nRange: bytes=0-1'
        b"\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"
    )
    assert not key.endswith(b"\r\n\r\n")  # never taken for a request's bytes
    plain = b"GET /a.css HTTP/1.1\r\nHost: x\r\nX-Req: 1\r\n\r\n"
    assert answer_key(plain, plain.find(b"\r\n")) == b"GET /a.css HTTP/1.1"


def test_framing_and_connection_fields_are_decisive() -> None:
    for field in (b"Connection: close", b"Content-Length: 0", b"Transfer-Encoding: chunked", b"Origin: http://o"):
        head = b"GET / HTTP/1.1\r\nHost: x\r\n" + field + b"\r\n\r\n"
        assert answer_key(head, head.find(b"\r\n")) == b"GET / HTTP/1.1\r\n" + field


# Field lines whose names begin as the decisive and logged ones do, or nearly match one of them.
FIELDS = [
    b"Range: bytes=0-1",
    b"Referer: http://r/",
    b"Reference: 1",
    b"Ranges: 2",
    b"User-Agent: UA/1",
    b"Upgrade: h2c",
    b"X-Forwarded-For: 10.0.0.1",
    b"X-Forwarded-Proto: https",
    b"If-Range: x",
    b"Origin: http://o",
    b"Accept-Encoding: gzip",
    b"Accept: */*",
    b"Connection: keep-alive",
    b"Cookie: referer: 3",
]


LETTERS = range(ord("a"), ord("z") + 1)


def test_one_scan_finds_the_key_and_the_logged_lines_the_two_scans_find() -> None:
    shuffle = random.Random(7)
    heads = [HEAD, b"GET / HTTP/1.1\r\n\r\n"]
    for count in (1, 2, 3):
        for fields in itertools.permutations(FIELDS, count):
            # Each letter in either case.
            lines = [
                bytes(c ^ 0x20 if c | 0x20 in LETTERS and shuffle.random() < 0.5 else c for c in line)
                for line in fields
            ]
            heads.append(b"GET /a HTTP/1.1\r\nHost: x\r\n" + b"\r\n".join(lines) + b"\r\n\r\n")
    for head in heads:
        line_end = head.find(b"\r\n")
        assert key_and_logged_lines(head, line_end) == (answer_key(head, line_end), find_logged_lines(head))


def test_logged_fields_as_uvicorn_hands_them_on() -> None:
    assert find_logged_lines(HEAD) == [b"\r\nUser-Agent: UA/1  ", b"\r\nReferer: http://r/"]
    assert logged_headers(HEAD) == [(b"user-agent", b"UA/1"), (b"referer", b"http://r/")]
