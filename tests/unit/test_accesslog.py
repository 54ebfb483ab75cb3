"""Combined Log Format lines."""

from __future__ import annotations

import os
import time

import pytest

from flashstatic.server.accesslog import combined_line, escape, log_time, request_line


def scope(**extra) -> dict:
    base = {
        "method": "GET",
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"",
        "http_version": "1.1",
        "client": ("10.0.0.1", 5555),
        "headers": [(b"user-agent", b"curl/8"), (b"referer", b"http://x/")],
    }
    return {**base, **extra}


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_line(utc) -> None:
    assert combined_line(scope(), 200, 1234, 1_700_000_000) == (
        '10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET /a%20b HTTP/1.1" 200 1234 "http://x/" "curl/8"'
    )


def test_no_body_no_headers_no_client(utc) -> None:
    line = combined_line(scope(client=None, headers=[], method="HEAD"), 304, 0, 0)
    assert line == '- - - [01/Jan/1970:00:00:00 +0000] "HEAD /a%20b HTTP/1.1" 304 - "-" "-"'


def test_request_line_keeps_the_query_and_the_raw_path() -> None:
    assert request_line(scope(query_string=b"v=1&x=%22")) == "GET /a%20b?v=1&x=%22 HTTP/1.1"
    assert request_line(scope(raw_path=None)) == "GET /a b HTTP/1.1"


def test_a_client_cannot_forge_fields_or_lines() -> None:
    assert escape('a"b\\c\nd\x7f') == "a\\x22b\\x5Cc\\x0Ad\\x7F"
    line = combined_line(scope(headers=[(b"user-agent", b'x" 200 9 "forged')]), 200, 1, 0)
    assert line.endswith('"x\\x22 200 9 \\x22forged"') and line.count('"') == 6


def test_time_zone_offset(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert log_time(0) == "01/Jan/1970:05:30:00 +0530"
    finally:
        monkeypatch.undo()
        time.tzset()
    assert os.environ.get("TZ") != "Asia/Kolkata"
