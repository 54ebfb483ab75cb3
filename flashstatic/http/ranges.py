"""Range and If-Range (RFC 9110 sections 14.1 to 14.4, 13.1.5).

The answer is one of: the whole representation (``None``), a list of byte ranges to send
(sorted, coalesced, half-open ``(start, stop)``), or ``UNSATISFIABLE`` (416).
"""

from __future__ import annotations

import re

from .conditional import parse_etag_list
from .dates import parse_http_date

# More range-specs than this and we answer with the whole file: browsers and download
# managers send one or a few; thousands are the CVE-2011-3192 "range killer".
DEFAULT_MAX_RANGES = 32

# Beyond this many significant digits a position is absurd; refusing such a header keeps int()
# from parsing strings of unbounded length.
_MAX_DIGITS = 100

_SPEC = re.compile(r"[ \t]*(\d*)-(\d*)[ \t]*", re.ASCII)


class _Unsatisfiable:
    def __repr__(self) -> str:
        return "UNSATISFIABLE"


UNSATISFIABLE = _Unsatisfiable()

ByteRanges = list[tuple[int, int]]


class _Absurd(ValueError):
    pass


def _number(digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    if len(significant) > _MAX_DIGITS:
        raise _Absurd(digits)
    return int(significant)


def parse_range_header(value: str, max_ranges: int = DEFAULT_MAX_RANGES) -> list[tuple[int | None, int | None]] | None:
    """The range-specs of a ``bytes=`` Range header, or None if it must be ignored.

    Ignored: another unit, any syntax error, an invalid spec (last < first), and more
    specs than ``max_ranges``. Each spec is ``(first, last)`` (inclusive) or ``(None, suffix)``.
    """
    unit, sep, spec_text = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    if spec_text.count(",") >= max_ranges * 2:
        return None  # cheap refusal before splitting a hostile header
    specs: list[tuple[int | None, int | None]] = []
    for part in spec_text.split(","):
        if not part.strip(" \t"):
            continue  # RFC 9110 list syntax allows empty elements
        match = _SPEC.fullmatch(part)
        if match is None:
            return None
        first_text, last_text = match.groups()
        try:
            if first_text:
                first = _number(first_text)
                last = _number(last_text) if last_text else None
                if last is not None and last < first:
                    return None
                specs.append((first, last))
            elif last_text:
                specs.append((None, _number(last_text)))
            else:
                return None  # a lone "-"
        except _Absurd:
            return None
    if not specs or len(specs) > max_ranges:
        return None
    return specs


def if_range_allows_partial(if_range: str | None, etag: str, last_modified: int, now: int | None = None) -> bool:
    """True when the Range may be honoured: no If-Range, or its validator still matches.

    An entity tag must match strongly (a weak tag never does); a date must equal
    Last-Modified exactly, and Last-Modified must be a strong validator: at least a second
    older than ``now`` (RFC 9110 section 13.1.5), else two writes within that second could
    be spliced together.
    """
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        tags = parse_etag_list(value)
        return tags is not None and len(tags) == 1 and not tags[0].weak and tags[0].opaque == etag
    date = parse_http_date(value)
    strong = now is None or last_modified <= now - 1
    return date is not None and date == last_modified and strong


def select_ranges(
    range_header: str | None, size: int, max_ranges: int = DEFAULT_MAX_RANGES
) -> ByteRanges | _Unsatisfiable | None:
    """Which bytes of a representation of ``size`` bytes to send."""
    if range_header is None:
        return None
    specs = parse_range_header(range_header, max_ranges)
    if specs is None:
        return None

    ranges: ByteRanges = []
    satisfiable_suffix = False
    for first, last in specs:
        if first is None:
            assert last is not None
            if last == 0:
                continue  # a zero-length suffix can never be satisfied
            satisfiable_suffix = True
            start, stop = max(0, size - last), size
        else:
            if first >= size:
                continue
            start, stop = first, size if last is None else min(last + 1, size)
        if stop > start:
            ranges.append((start, stop))

    if not ranges:
        # A non-empty suffix of an empty file selects nothing, yet is satisfiable.
        return None if satisfiable_suffix else UNSATISFIABLE
    if sum(stop - start for start, stop in ranges) > size:
        return None  # overlapping requests add up to more than the file: never amplify
    return _coalesce(ranges)


def _coalesce(ranges: ByteRanges) -> ByteRanges:
    ranges.sort()
    merged = [ranges[0]]
    for start, stop in ranges[1:]:
        last_start, last_stop = merged[-1]
        if start <= last_stop:  # overlapping or adjacent
            merged[-1] = (last_start, max(last_stop, stop))
        else:
            merged.append((start, stop))
    return merged
