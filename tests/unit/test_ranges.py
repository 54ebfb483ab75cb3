"""Range and If-Range (RFC 9110 sections 14.1 to 14.4 and 13.1.5)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashstatic.http.dates import format_http_date
from flashstatic.http.ranges import (
    DEFAULT_MAX_RANGES,
    UNSATISFIABLE,
    if_range_allows_partial,
    parse_range_header,
    select_ranges,
)

SIZE = 100
HUGE30 = "9" * 30


def select(header: str | None, size: int = SIZE, max_ranges: int = DEFAULT_MAX_RANGES):
    return select_ranges(header, size, max_ranges)


# --- parse_range_header ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "specs"),
    [
        ("bytes=0-0", [(0, 0)]),
        ("bytes=0-499", [(0, 499)]),
        ("bytes=500-", [(500, None)]),
        ("bytes=-500", [(None, 500)]),
        ("bytes=-0", [(None, 0)]),
        ("bytes=0-1,5-9,-3", [(0, 1), (5, 9), (None, 3)]),
        ("Bytes=0-1", [(0, 1)]),
        ("BYTES=0-1", [(0, 1)]),
        ("bytes= 0-1 ,\t2-3\t", [(0, 1), (2, 3)]),
        ("bytes=0-1,,2-3,", [(0, 1), (2, 3)]),  # empty list elements
        ("bytes=5-5", [(5, 5)]),
    ],
)
def test_parse_range_header(value: str, specs: list) -> None:
    assert parse_range_header(value) == specs


@pytest.mark.parametrize(
    "value",
    [
        "bytes=a-b",
        "bytes=5-2",
        "bytes=-",
        "bytes=0-1,-",
        "items=0-1",
        "bytes",
        "bytes=",
        "bytes= ",
        "bytes=,",
        "bytes=1_0-2",
        "bytes=+1-2",
        "bytes=1-+2",
        "bytes=-1-2",
        "bytes=0x10-0x20",
        "bytes=1.0-2",
        "bytes=0-1;2-3",
        "bytes=\u0661-\u0662",  # non-ASCII digits
        "bytes=0-1,a-b",  # one bad spec spoils the header
        "bytes=0-1,5-2",
        "=0-1",
        "",
        "0-1",
    ],
)
def test_malformed_headers_are_ignored(value: str) -> None:
    assert parse_range_header(value) is None
    assert select(value) is None


def test_too_many_specs_are_ignored() -> None:
    assert parse_range_header("bytes=0-0,2-2,4-4", max_ranges=3) == [(0, 0), (2, 2), (4, 4)]
    assert parse_range_header("bytes=0-0,2-2,4-4,6-6", max_ranges=3) is None


def test_default_max_ranges() -> None:
    assert DEFAULT_MAX_RANGES == 32
    ok = "bytes=" + ",".join(f"{3 * i}-{3 * i}" for i in range(32))
    too_many = "bytes=" + ",".join(f"{3 * i}-{3 * i}" for i in range(33))
    assert parse_range_header(ok) is not None and len(parse_range_header(ok)) == 32
    assert parse_range_header(too_many) is None


def test_huge_comma_flood_is_ignored_quickly() -> None:
    assert parse_range_header("bytes=" + "," * 1_000_000 + "0-1") is None
    assert parse_range_header("bytes=" + "0-0," * 100_000) is None


# --- select_ranges --------------------------------------------------------------------------


def test_no_header_is_whole() -> None:
    assert select(None) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", [(0, 1)]),
        ("bytes=0-9", [(0, 10)]),
        ("bytes=10-19", [(10, 20)]),
        ("bytes=99-99", [(99, 100)]),
        ("bytes=-1", [(99, 100)]),
        ("bytes=-10", [(90, 100)]),
        ("bytes=-100", [(0, 100)]),
        ("bytes=-1000", [(0, 100)]),  # suffix longer than the file: all of it
        ("bytes=90-", [(90, 100)]),
        ("bytes=0-", [(0, 100)]),
        ("bytes=99-", [(99, 100)]),
        ("bytes=50-1000", [(50, 100)]),  # last beyond the end is clipped
        ("bytes=0-99", [(0, 100)]),
        ("Bytes=0-0", [(0, 1)]),
        ("bytes= 0-0 ", [(0, 1)]),
        ("bytes=\t5-6\t", [(5, 7)]),
    ],
)
def test_single_range(header: str, expected: list) -> None:
    assert select(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=100-",
        "bytes=100-200",
        "bytes=1000-",
        "bytes=-0",
        "bytes=100-100,200-",
        "bytes=-0,-0",
        "bytes=-0,100-",
        f"bytes={HUGE30}-",
        f"bytes={HUGE30}-{HUGE30}",
    ],
)
def test_all_unsatisfiable(header: str) -> None:
    assert select(header) is UNSATISFIABLE


def test_unsatisfiable_repr() -> None:
    assert repr(UNSATISFIABLE) == "UNSATISFIABLE"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0,100-", [(0, 1)]),
        ("bytes=200-300,-5", [(95, 100)]),
        ("bytes=-0,10-19", [(10, 20)]),
        (f"bytes={HUGE30}-,0-1", [(0, 2)]),
    ],
)
def test_unsatisfiable_specs_are_dropped_when_others_are_satisfiable(header: str, expected: list) -> None:
    assert select(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-1,5-6", [(0, 2), (5, 7)]),
        ("bytes=50-59,0-9", [(0, 10), (50, 60)]),  # sorted
        ("bytes=0-9,5-14", [(0, 15)]),  # overlapping
        ("bytes=0-9,10-19", [(0, 20)]),  # adjacent
        ("bytes=10-19,0-9", [(0, 20)]),
        ("bytes=0-4,20-24,5-9", [(0, 10), (20, 25)]),
        ("bytes=0-9,2-3", [(0, 10)]),  # contained
        ("bytes=0-0,-1", [(0, 1), (99, 100)]),
        ("bytes=90-,-5", [(90, 100)]),
        ("bytes=0-1,3-4,6-7", [(0, 2), (3, 5), (6, 8)]),
    ],
)
def test_multiple_ranges_are_sorted_and_coalesced(header: str, expected: list) -> None:
    assert select(header) == expected


def test_more_specs_than_max_ranges_is_whole() -> None:
    assert select("bytes=0-0,2-2", max_ranges=2) == [(0, 1), (2, 3)]
    assert select("bytes=0-0,2-2,4-4", max_ranges=2) is None
    assert select("bytes=0-0", max_ranges=1) == [(0, 1)]
    assert select("bytes=0-0,2-2", max_ranges=1) is None


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-,0-",
        "bytes=0-99,0-99",
        "bytes=-100,0-",
        "bytes=0-60,40-99",  # 61 + 60 > 100
        "bytes=" + ",".join(["0-10"] * 10),  # 110 > 100
        "bytes=" + ",".join(["-50"] * 3),
    ],
)
def test_requests_summing_to_more_than_the_file_are_whole(header: str) -> None:
    # CVE-2011-3192: overlapping ranges must not amplify the response.
    assert select(header) is None


def test_overlap_within_the_size_is_coalesced() -> None:
    assert select("bytes=" + ",".join(["0-8"] * 10)) == [(0, 9)]  # 90 <= 100


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"bytes=0-{HUGE30}", [(0, SIZE)]),
        (f"bytes=-{HUGE30}", [(0, SIZE)]),
        (f"bytes=10-{HUGE30}", [(10, SIZE)]),
        (f"bytes={HUGE30}-", UNSATISFIABLE),
        ("bytes=0-" + "0" * 29 + "5", [(0, 6)]),  # leading zeros: still the number 5
        ("bytes=" + "0" * 30 + "-" + "0" * 30, [(0, 1)]),
    ],
)
def test_huge_numbers(header: str, expected) -> None:
    assert select(header) == expected


def test_huge_numbers_are_compared_before_clamping() -> None:
    # last < first is an invalid spec, whatever the magnitude: the header is ignored.
    first = "2" + "0" * 29
    last = "1" + "0" * 29
    assert parse_range_header(f"bytes={first}-{last}") is None
    assert select(f"bytes={first}-{last}") is None


def test_empty_file() -> None:
    assert select("bytes=-5", size=0) is None
    assert select("bytes=0-0", size=0) is UNSATISFIABLE
    assert select("bytes=0-", size=0) is UNSATISFIABLE
    assert select("bytes=-0", size=0) is UNSATISFIABLE
    assert select(None, size=0) is None


def test_one_byte_file() -> None:
    assert select("bytes=0-0", size=1) == [(0, 1)]
    assert select("bytes=-1", size=1) == [(0, 1)]
    assert select("bytes=1-", size=1) is UNSATISFIABLE


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.integers(0, 150), st.one_of(st.none(), st.integers(0, 150))),
            st.tuples(st.none(), st.integers(0, 150)),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 120),
)
def test_selected_ranges_are_valid(specs: list, size: int) -> None:
    def spec_text(first, last) -> str:
        return f"{'' if first is None else first}-{'' if last is None else last}"

    header = "bytes=" + ",".join(spec_text(*spec) for spec in specs)
    result = select(header, size=size)
    if any(first is not None and last is not None and last < first for first, last in specs):
        assert result is None
        return
    if result is None or result is UNSATISFIABLE:
        return
    assert result
    previous_stop = -1
    for start, stop in result:
        assert 0 <= start < stop <= size
        assert start > previous_stop  # sorted, disjoint and not adjacent
        previous_stop = stop
    assert sum(stop - start for start, stop in result) <= size


# --- if_range_allows_partial ----------------------------------------------------------------

ETAG = '"abc"'
LAST_MODIFIED = 784111777


class TestIfRange:
    def test_absent_allows(self) -> None:
        assert if_range_allows_partial(None, ETAG, LAST_MODIFIED) is True

    def test_exact_strong_etag_allows(self) -> None:
        assert if_range_allows_partial('"abc"', ETAG, LAST_MODIFIED) is True
        assert if_range_allows_partial(' "abc" ', ETAG, LAST_MODIFIED) is True

    @pytest.mark.parametrize("value", ['W/"abc"', '"other"', '"ABC"', '"abc", "abc"', '"abc', '"ab"'])
    def test_other_or_weak_etag_refuses(self, value: str) -> None:
        assert if_range_allows_partial(value, ETAG, LAST_MODIFIED) is False

    def test_equal_date_allows(self) -> None:
        assert if_range_allows_partial(format_http_date(LAST_MODIFIED), ETAG, LAST_MODIFIED) is True
        assert if_range_allows_partial("Sunday, 06-Nov-94 08:49:37 GMT", ETAG, LAST_MODIFIED) is True

    @pytest.mark.parametrize("delta", [-1, 1, -86400, 3600])
    def test_different_date_refuses(self, delta: int) -> None:
        assert if_range_allows_partial(format_http_date(LAST_MODIFIED + delta), ETAG, LAST_MODIFIED) is False

    @pytest.mark.parametrize("value", ["junk", "", "*", "Sun, 06 Nov 1994 08:49:37 +0000", "784111777", "abc"])
    def test_invalid_value_refuses(self, value: str) -> None:
        assert if_range_allows_partial(value, ETAG, LAST_MODIFIED) is False
