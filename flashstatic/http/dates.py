"""HTTP-date formatting and strict parsing (RFC 9110 section 5.6.7)."""

from __future__ import annotations

import calendar
import re
import time

# English names, whatever the locale: HTTP-dates and the access log's time use them.
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, start=1)}

_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT", re.ASCII
)
_RFC850 = re.compile(
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
    r"(\d\d)-([A-Z][a-z]{2})-(\d\d) (\d\d):(\d\d):(\d\d) GMT",
    re.ASCII,
)
_ASCTIME = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})", re.ASCII
)


# The instants an HTTP-date can name: its year has four digits.
FIRST_DATE = -62135596800  # Mon, 01 Jan 0001 00:00:00 GMT
LAST_DATE = 253402300799  # Fri, 31 Dec 9999 23:59:59 GMT


def nearest_http_date(seconds: int) -> int:
    """``seconds``, or the nearest instant an HTTP-date can name (a file's time may lie
    outside: some filesystems keep any 64-bit time)."""
    return min(max(seconds, FIRST_DATE), LAST_DATE)


def format_http_date(seconds: int) -> str:
    """IMF-fixdate, for an instant between FIRST_DATE and LAST_DATE."""
    t = time.gmtime(seconds)
    return (
        f"{_DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {MONTH_NAMES[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def parse_http_date(value: str, current_year: int | None = None) -> int | None:
    """Seconds since the epoch for a valid HTTP-date, else None.

    Strict on purpose: RFC 9110 tells recipients to ignore conditional headers whose
    value is not a valid HTTP-date, and a lenient parser would turn junk into a date.
    """
    value = value.strip()
    if m := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hh, mm, ss = m.groups()
    elif m := _RFC850.fullmatch(value):
        day, month, yy, hh, mm, ss = m.groups()
        year = str(_four_digit_year(int(yy), current_year or time.gmtime().tm_year))
    elif m := _ASCTIME.fullmatch(value):
        month, day, hh, mm, ss, year = m.groups()
    else:
        return None
    month_number = _MONTHS.get(month)
    if month_number is None:
        return None
    fields = (int(year), month_number, int(day), int(hh), int(mm), int(ss))
    if not 1 <= fields[0] <= 9999:
        return None  # year 0 is no date; calendar would raise on it
    if not (
        1 <= fields[2] <= calendar.monthrange(fields[0], month_number)[1]
        and fields[3] < 24
        and fields[4] < 60
        and fields[5] < 61
    ):
        return None  # 31 Feb is not a date, not 2 or 3 March
    return calendar.timegm((*fields, 0, 0, 0))


def _four_digit_year(yy: int, current_year: int) -> int:
    """RFC 9110 section 5.6.7: a two-digit year that would lie more than 50 years in the
    future is the most recent past year with those digits."""
    year = current_year - current_year % 100 + yy
    if year > current_year + 50:
        year -= 100
    return year
