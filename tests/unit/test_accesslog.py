"""Combined Log Format lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import select
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flashstatic.server.accesslog import (
    FLUSH_LINES,
    FLUSH_SECONDS,
    AccessLogWriter,
    combined_line,
    direct_writer,
    escape,
    field_lines_part,
    header_fields_part,
    hit_line,
    hit_line_parts,
    json_line,
    log_time,
    referer_and_agent_values,
    request_line,
)


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


# -- the writer `flashstatic serve` logs through ------------------------------------------------


class Stream(io.StringIO):
    """A stream that counts its writes and can be made to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.failing: Exception | None = None

    def write(self, text: str) -> int:
        if self.failing is not None:
            raise self.failing
        self.writes += 1
        return super().write(text)


def test_the_writer_holds_at_most_a_batch_and_flushes_it_on_a_timer() -> None:
    stream = Stream()
    writer = AccessLogWriter(stream)

    async def scenario() -> None:
        for number in range(FLUSH_LINES - 1):
            writer.add(f"line {number}")
        assert stream.getvalue() == ""  # waiting for more, or for the timer
        writer.add(f"line {FLUSH_LINES - 1}")  # a whole batch: written at once
        assert stream.getvalue().splitlines() == [f"line {number}" for number in range(FLUSH_LINES)]
        writes = stream.writes
        writer.add("late")
        assert stream.getvalue().count("\n") == FLUSH_LINES
        await asyncio.sleep(FLUSH_SECONDS * 3)
        assert stream.getvalue().endswith("\nlate\n") and stream.writes == writes + 1

    asyncio.run(scenario())
    writer.add("outside a loop")  # nothing would flush it later: written at once
    assert stream.getvalue().endswith("\nlate\noutside a loop\n")


def test_a_line_given_as_parts_is_written_as_the_whole_line_in_its_place(utc) -> None:
    """add_parts keeps a cache answer's parts and its time apart until the batch is written:
    the line is the one hit_line makes, in the order lines were added, counted as one."""
    stream = Stream()
    writer = AccessLogWriter(stream)
    fields = (("10.0.0.1", 5555), "GET", "/a%20b", b"v=1", "1.1", [(b"user-agent", b"curl/8")], 200, 1234)
    parts = hit_line_parts(*fields)
    assert parts is not None

    def add_both() -> str:
        writer.add("before")
        writer.add_parts(parts)
        writer.add("after")
        return hit_line(*fields)

    expected, _ = _within_one_second(add_both)
    writer.flush()
    assert stream.getvalue() == f"before\n{expected}\nafter\n"

    written = stream.getvalue()

    async def batch() -> None:
        for _ in range(FLUSH_LINES - 1):
            writer.add_parts(parts)
        assert stream.getvalue() == written  # held
        writer.add_parts(parts)  # the batch's last line: written at once
        assert stream.getvalue().count("\n") == written.count("\n") + FLUSH_LINES

    asyncio.run(batch())


def test_lines_given_as_parts_show_the_second_they_were_added_in(utc, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = Stream()
    writer = AccessLogWriter(stream)
    parts = ("10.0.0.1 - - [", '] "GET / HTTP/1.1" 200 1 "-" "-"')
    for now in (1_700_000_000.2, 1_700_000_000.9, 1_700_000_001.0, 1_699_999_000.5):  # then set back
        monkeypatch.setattr(time, "time", lambda now=now: now)
        writer.add_parts(parts)
    writer.flush()
    assert [line.split("[")[1].split("]")[0] for line in stream.getvalue().splitlines()] == [
        "14/Nov/2023:22:13:20 +0000",
        "14/Nov/2023:22:13:20 +0000",
        "14/Nov/2023:22:13:21 +0000",
        "14/Nov/2023:21:56:40 +0000",
    ]


def test_closing_the_writer_writes_what_it_holds() -> None:
    stream = Stream()
    writer = AccessLogWriter(stream)

    async def scenario() -> None:
        writer.add("a")
        writer.add("b")

    asyncio.run(scenario())  # the loop ends before its timer fires
    assert stream.getvalue() == ""
    writer.close()  # as logging does at exit
    assert stream.getvalue() == "a\nb\n"


def test_a_failed_write_is_reported_once_and_later_lines_still_go_out(capsys: pytest.CaptureFixture[str]) -> None:
    stream = Stream()
    writer = AccessLogWriter(stream)
    stream.failing = BrokenPipeError(32, "Broken pipe")
    writer.add("lost")
    writer.add("lost too")
    stream.failing = None
    writer.add("kept")
    assert stream.getvalue() == "kept\n"
    stream.close()
    writer.add("after close")  # ValueError from a closed stream: dropped, not raised
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and "access log could not be written" in errors[0] and "Broken pipe" in errors[0]


def test_lines_skip_logging_only_while_the_writer_is_the_loggers_only_destination() -> None:
    logger = logging.getLogger("flashstatic.access")
    saved = (logger.handlers[:], logger.level, logger.propagate, logger.filters[:])
    writer = AccessLogWriter(Stream())
    try:
        logger.handlers[:] = [writer]
        logger.setLevel(logging.INFO)
        logger.propagate = False
        assert direct_writer() is writer
        logger.addFilter(lambda record: False)  # someone filters the lines: logging must see them
        assert direct_writer() is None
        logger.filters.clear()
        logger.addHandler(logging.NullHandler())
        assert direct_writer() is None
        logger.handlers[:] = [writer]
        logger.propagate = True  # a parent's handlers would see them too
        assert direct_writer() is None
        logger.propagate = False
        writer.setFormatter(logging.Formatter("access: %(message)s"))
        assert direct_writer() is None
        writer.emit(logging.LogRecord("flashstatic.access", logging.INFO, "", 0, "x", None, None))
        writer.flush()
        assert writer.stream.getvalue() == "access: x\n"
        logger.setLevel(logging.WARNING)
        writer.setFormatter(None)  # type: ignore[arg-type]
        assert direct_writer() is None
    finally:
        logger.handlers[:], logger.level, logger.propagate, logger.filters[:] = saved


def _within_one_second(make: Callable[[], str]) -> tuple[str, float]:
    """``make()`` and a time in the same second as the one it logged."""
    while True:
        before = time.time()
        line = make()
        if int(time.time()) == int(before):
            return line, before


def test_a_cache_answers_line_is_the_combined_line(utc) -> None:
    headers = [(b"host", b"x"), (b"user-agent", b"curl/8"), (b"referer", b"http://x/"), (b"user-agent", b"second")]
    line, now = _within_one_second(
        lambda: hit_line(("10.0.0.1", 5555), "GET", "/a%20b", b"v=1", "1.1", headers, 200, 1234)
    )
    assert line == combined_line(scope(query_string=b"v=1", headers=headers), 200, 1234, now)
    # Anything to escape, in the target or a header, is escaped as in every other line.
    forged = [(b"user-agent", b'x" 200 9 "forged\\')]
    line, now = _within_one_second(lambda: hit_line(None, "HEAD", '/q"', b"", "1.0", forged, 304, 0))
    assert line == combined_line(
        scope(client=None, method="HEAD", raw_path=b'/q"', http_version="1.0", headers=forged), 304, 0, now
    )
    assert line.count('"') == 6 and "\\x22forged\\x5C" in line


def test_cache_answers_lines_made_again_keep_each_requests_own_fields(utc, monkeypatch: pytest.MonkeyPatch) -> None:
    """hit_line reuses the line of an earlier request made of the same parts: every field
    that differs, and the time, must still be this request's."""
    variants = [
        (("10.0.0.1", 1), "/a", b"", [(b"user-agent", b"one")], 200, 10),
        (("10.0.0.1", 1), "/a", b"", [(b"user-agent", b"two")], 200, 10),
        (("10.0.0.2", 1), "/a", b"", [(b"user-agent", b"one")], 200, 10),
        (("10.0.0.1", 1), "/a", b"", [(b"user-agent", b"one"), (b"referer", b"http://r/")], 200, 10),
        (("10.0.0.1", 1), "/a", b"", [(b"referer", b"http://r/"), (b"user-agent", b"one")], 200, 10),
        (("10.0.0.1", 1), "/a", b"v=2", [(b"user-agent", b"one")], 200, 10),
        (("10.0.0.1", 1), "/a", b"", [(b"user-agent", b"one")], 304, 0),
        (("10.0.0.1", 1), "/a", b"", [(b"user-agent", b"one")], 206, 5),
        (("10.0.0.1", 1), "/a", b"", [(b"user-agent", b'forged" 200 1 "x')], 200, 10),
        (None, "/a", b"", [], 200, 10),
    ]
    for _ in range(2):  # the second time, each line is made from the parts kept the first time
        for client, target, query, headers, status, sent in variants:
            line, now = _within_one_second(
                lambda: hit_line(client, "GET", target, query, "1.1", headers, status, sent)  # noqa: B023
            )
            expected = scope(client=client, raw_path=target.encode(), query_string=query, headers=headers)
            assert line == combined_line(expected, status, sent, now)
    # The same parts an hour later: the line made before, with the new time.
    clock = iter([1_790_000_000.5, 1_790_003_600.5])
    monkeypatch.setattr(time, "time", lambda: next(clock))
    first, later = (hit_line(("10.0.0.1", 1), "GET", "/a", b"", "1.1", [], 200, 10) for _ in range(2))
    assert first == combined_line(scope(headers=[], raw_path=b"/a"), 200, 10, 1_790_000_000.5)
    assert later == combined_line(scope(headers=[], raw_path=b"/a"), 200, 10, 1_790_003_600.5)


def test_a_forwarded_client_address_cannot_forge_fields(utc) -> None:
    """Behind a proxy trusted for every address (``--forwarded-allow-ips '*'``), the client
    address logged is X-Forwarded-For's first entry, which the client itself may have sent."""
    forged = ('1.2.3.4" 200 0 "-" "x', 1)
    lines = [
        combined_line(scope(client=forged), 200, 10, time.time()),
        hit_line(forged, "GET", "/a", b"", "1.1", [], 200, 10),
    ]
    for line in lines:
        assert line.count('"') == 6 and line.startswith("1.2.3.4\\x22 200 0 \\x22-\\x22 \\x22x - - [")


def test_lines_kept_for_reuse_are_bounded(utc) -> None:
    """Lines are kept by what they are made of, so a client inventing huge header values must
    not grow what is kept: a long line is made, and written, but not kept."""
    from flashstatic.server import accesslog

    accesslog._hit_parts.clear()
    huge = [(b"user-agent", b"u" * 50_000)]
    line, now = _within_one_second(lambda: hit_line(("10.0.0.1", 1), "GET", "/a", b"", "1.1", huge, 200, 1))
    assert line == combined_line(scope(headers=huge, raw_path=b"/a"), 200, 1, now)
    assert not accesslog._hit_parts
    for number in range(accesslog._MAX_HIT_PARTS + 10):
        hit_line(("10.0.0.1", 1), "GET", "/a", b"", "1.1", [(b"user-agent", b"%d" % number)], 200, 1)
    assert 0 < len(accesslog._hit_parts) <= accesslog._MAX_HIT_PARTS


def test_field_lines_show_as_the_fields_uvicorn_hands_on_would() -> None:
    """A request's logged field lines as sent make the same Referer and User-Agent part as the
    fields uvicorn hands on (lowercase names, values stripped), the first of each counting;
    the second time from what was kept."""
    from flashstatic.server import accesslog
    from flashstatic.server.repeats import headers_of_lines

    cases = [
        [],
        [b"\r\nUser-Agent: a/1"],
        [b"\r\nREFERER:  http://r/  ", b"\r\nuser-agent:\tb\t"],
        [b"\r\nUser-Agent: first", b"\r\nReferer: x", b"\r\nUser-Agent: second", b"\r\nReferer: y"],
        [b'\r\nUser-Agent: q"\\ \xe9\x7f', b"\r\nX-Forwarded-For: 10.0.0.9"],
        [b"\r\nReferer:", b"\r\nUser-Agent: " + b"u" * 5000],
    ]
    accesslog._field_texts.clear()
    for _ in range(2):
        for lines in cases:
            expected = header_fields_part(*referer_and_agent_values(headers_of_lines(lines)))
            forwarded = any(line.lower().startswith(b"\r\nx-forwarded-for:") for line in lines)
            assert field_lines_part(lines) == (expected, forwarded)
    assert field_lines_part(cases[4])[0] == '"-" "q\\x22\\x5C \xe9\\x7F"'
    assert all(len(line) <= accesslog._MAX_FIELD_LINE for line in accesslog._field_texts)  # the long one not kept
    for number in range(accesslog._MAX_FIELD_TEXTS + 10):
        field_lines_part([b"\r\nReferer: %d" % number])
    assert 0 < len(accesslog._field_texts) <= accesslog._MAX_FIELD_TEXTS


def test_a_batch_is_written_in_whole_lines_no_larger_than_an_atomic_pipe_write() -> None:
    """Workers share stdout: a pipe write of at most PIPE_BUF bytes is never interleaved with
    another process's, so each write is whole lines within that size (a longer line alone)."""
    written: list[str] = []

    class Pieces(io.StringIO):
        def write(self, text: str) -> int:
            written.append(text)
            return len(text)

    writer = AccessLogWriter(Pieces())
    lines = [f"{number} " + "é" * (number % 300) for number in range(FLUSH_LINES - 1)] + ["long " + "x" * 10_000]

    async def scenario() -> None:
        for line in lines:
            writer.add(line)  # the last one completes the batch

    asyncio.run(scenario())
    assert "".join(written) == "".join(f"{line}\n" for line in lines)
    assert all(piece.endswith("\n") for piece in written)
    assert all(len(piece.encode()) <= select.PIPE_BUF for piece in written if not piece.startswith("long "))
    assert len(written) < len(lines) // 4  # batched all the same


class _CountedWrites(io.FileIO):
    """A descriptor whose write() calls are counted: what reaches the kernel."""

    writes = 0

    def write(self, data: Any) -> int:
        type(self).writes += 1
        return super().write(data)


@pytest.mark.blocking_allowed  # the writer's own write to its stream, as on stdout
@pytest.mark.parametrize("kind", ["file", "pipe"])
def test_a_batch_goes_in_one_write_to_a_file_and_in_pieces_to_a_pipe(tmp_path: Path, kind: str) -> None:
    """A write() to a regular file is never interleaved with another process's, whatever its
    size: a batch there is one system call. A pipe takes atomic pieces (test above)."""
    if kind == "file":
        raw_fd = os.open(tmp_path / "access.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        read_fd = os.open(tmp_path / "access.log", os.O_RDONLY)
    else:
        read_fd, raw_fd = os.pipe()
        os.set_blocking(read_fd, False)
    _CountedWrites.writes = 0
    stream = io.TextIOWrapper(io.BufferedWriter(_CountedWrites(raw_fd, "w")), encoding="utf-8")
    writer = AccessLogWriter(stream)
    lines = [f"{number} " + "x" * 100 for number in range(FLUSH_LINES)]  # 26 KiB: several pieces

    async def scenario() -> None:
        for line in lines:
            writer.add(line)

    try:
        asyncio.run(scenario())
        got = b""
        while chunk := os.read(read_fd, 1 << 20):
            got += chunk
            if len(got) >= sum(len(line) + 1 for line in lines):
                break
        assert got.decode() == "".join(f"{line}\n" for line in lines)
        if kind == "file":
            assert _CountedWrites.writes == 1
        else:
            assert _CountedWrites.writes >= len(got) // select.PIPE_BUF
    finally:
        stream.close()
        os.close(read_fd)


@pytest.mark.parametrize(
    ("client", "target", "query", "headers"),
    [
        (("203.0.113.9", 1), "/a.css", b"", [(b"user-agent", b"Mozilla/5.0 (X11)"), (b"referer", b"https://x/")]),
        (None, "/caf%C3%A9.txt", b"v=1&w=2", []),
        (("::1", 1), "/a", b"", [(b"user-agent", b'quote " and \\ backslash')]),
        (("127.0.0.1", 1), "/\u00e9", b"q=\xff", [(b"referer", b"tab\there")]),
        (("127.0.0.1", 1), "/a", b"", [(b"user-agent", b"")]),
    ],
)
def test_a_json_line_is_what_json_dumps_writes(client, target, query, headers) -> None:  # type: ignore[no-untyped-def]
    # Lines with nothing to escape skip json.dumps; every line must read back the same.
    line = json_line(client, "GET", target, query, "1.1", headers, 200, 7, 1_790_000_000.25)
    fields = dict(headers)
    expected = {
        "time": "2026-09-21T14:13:20.250Z",
        "client": client[0] if client else None,
        "method": "GET",
        "path": target,
        "query": query.decode("latin-1"),
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 7,
        "referer": fields[b"referer"].decode("latin-1") if b"referer" in fields else None,
        "user_agent": fields[b"user-agent"].decode("latin-1") if b"user-agent" in fields else None,
    }
    assert line == json.dumps(expected, separators=(",", ":"))
