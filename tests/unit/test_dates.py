"""HTTP-date parsing and formatting (RFC 9110 section 5.6.7)."""

from __future__ import annotations

from email.utils import formatdate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashstatic.http.dates import FIRST_DATE, LAST_DATE, format_http_date, nearest_http_date, parse_http_date

# The RFC's own example instant: Sun, 06 Nov 1994 08:49:37 GMT.
RFC_EXAMPLE = 784111777


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 format
        "Sun Nov  6 08:49:37 1994",  # ANSI C asctime() format
        "Sun Nov 06 08:49:37 1994",  # asctime with a zero-padded day
    ],
)
def test_the_three_formats_parse_to_the_same_instant(value: str) -> None:
    assert parse_http_date(value) == RFC_EXAMPLE


def test_surrounding_whitespace_is_trimmed() -> None:
    assert parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t") == RFC_EXAMPLE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Thu Jan  1 00:00:00 1970", 0),
        ("Sat, 01 Jan 2000 00:00:00 GMT", 946684800),
        ("Saturday, 01-Jan-00 00:00:00 GMT", 946684800),  # two-digit year 00 is 2000
        ("Sat Jan  1 00:00:00 2000", 946684800),
        ("Tue, 29 Feb 2000 23:59:59 GMT", 951868799),
        ("Fri, 31 Dec 2038 23:59:59 GMT", 2177452799),
    ],
)
def test_known_instants(value: str, expected: int) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "junk",
        "784111777",  # epoch seconds are not an HTTP-date
        "Sun, 06 Nov 1994 08:49:37 +0200",  # numeric zone
        "Sun, 06 Nov 1994 08:49:37 +0000",  # numeric zone, even zero
        "Sun, 06 Nov 1994 08:49:37 UTC",  # only "GMT" is allowed
        "Sun, 06 Nov 1994 08:49:37 gmt",  # case-sensitive
        "Sun, 06 Nov 1994 08:49:37",  # no zone at all
        "06 Nov 1994 08:49:37 GMT",  # missing weekday
        "Sun 06 Nov 1994 08:49:37 GMT",  # missing comma
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",  # two dates joined
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",  # even identical ones
        "Sun, 6 Nov 1994 08:49:37 GMT",  # day must be two digits
        "Sun, 06 nov 1994 08:49:37 GMT",  # month names are case-sensitive
        "Sun, 06 NOV 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",  # no such month
        "Sun, 06 November 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",  # IMF-fixdate needs a four-digit year
        "Sun, 06 Nov 1994 8:49:37 GMT",  # hour must be two digits
        "Sun, 06 Nov 1994 08:49 GMT",  # missing seconds
        "Sun, 00 Nov 1994 08:49:37 GMT",  # day 0
        "Sun, 32 Nov 1994 08:49:37 GMT",  # day 32
        "Sun, 06 Nov 1994 24:00:00 GMT",  # hour 24
        "Sun, 06 Nov 1994 08:60:00 GMT",  # minute 60
        "Sun, 06 Nov 1994 08:49:62 GMT",  # second 62
        "Sun,  06 Nov 1994 08:49:37 GMT",  # doubled space
        "sun, 06 Nov 1994 08:49:37 GMT",  # weekday is case-sensitive
        "Sunday, 06 Nov 1994 08:49:37 GMT",  # long weekday with IMF layout
        "Sun, 06-Nov-94 08:49:37 GMT",  # short weekday with RFC 850 layout
        "Sunday, 06-Nov-1994 08:49:37 GMT",  # RFC 850 has a two-digit year
        "Sunday, 6-Nov-94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",  # asctime pads the day with a space
        "Sun Nov  6 08:49:37 1994 GMT",  # asctime has no zone
        "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT",  # non-ASCII digits
        "Sun, 06 Nov 1994 08:49:37 GMT\x00",
        "Sun, 06 Nov 1994 08:49:37 GMTX",
        "XSun, 06 Nov 1994 08:49:37 GMT",
        "2024-01-01T00:00:00Z",  # ISO 8601
    ],
)
def test_invalid_or_lenient_values_are_rejected(value: str) -> None:
    assert parse_http_date(value) is None


def test_format_is_imf_fixdate() -> None:
    assert format_http_date(RFC_EXAMPLE) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert format_http_date(951868799) == "Tue, 29 Feb 2000 23:59:59 GMT"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=FIRST_DATE, max_value=LAST_DATE))
def test_format_is_what_the_standard_library_writes(seconds: int) -> None:
    assert format_http_date(seconds) == formatdate(seconds, usegmt=True)


def test_instants_no_http_date_can_name_are_brought_to_the_nearest() -> None:
    assert [nearest_http_date(s) for s in (FIRST_DATE - 1, 0, LAST_DATE + 1)] == [FIRST_DATE, 0, LAST_DATE]
    assert format_http_date(FIRST_DATE) == "Mon, 01 Jan 0001 00:00:00 GMT"
    assert format_http_date(LAST_DATE) == "Fri, 31 Dec 9999 23:59:59 GMT"


@settings(max_examples=120, deadline=None)
@given(st.integers(min_value=0, max_value=253402300799))  # up to 9999-12-31T23:59:59
def test_format_then_parse_round_trips(seconds: int) -> None:
    text = format_http_date(seconds)
    assert len(text) == 29
    assert text.endswith(" GMT")
    assert parse_http_date(text) == seconds


@settings(max_examples=120, deadline=None)
@given(st.text(max_size=40))
def test_parse_never_raises(value: str) -> None:
    result = parse_http_date(value)
    assert result is None or isinstance(result, int)


@pytest.mark.parametrize(
    "yy, current_year, expected_year",
    [
        ("70", 2026, 2070),  # 44 years ahead: not more than 50, so the future
        ("77", 2026, 1977),  # 51 years ahead would be too far: the past century
        ("76", 2026, 2076),
        ("94", 2026, 1994),
        ("00", 2026, 2000),
        ("99", 2049, 2099),
        ("99", 2048, 1999),
    ],
)
def test_two_digit_years_follow_the_fifty_year_rule(yy: str, current_year: int, expected_year: int) -> None:
    import calendar

    parsed = parse_http_date(f"Thursday, 01-Jan-{yy} 00:00:00 GMT", current_year=current_year)
    assert parsed == calendar.timegm((expected_year, 1, 1, 0, 0, 0, 0, 0, 0))


def test_impossible_calendar_dates_are_not_dates() -> None:
    assert parse_http_date("Wed, 31 Feb 2024 00:00:00 GMT") is None
    assert parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT") is not None
    assert parse_http_date("Tue, 29 Feb 2023 00:00:00 GMT") is None
