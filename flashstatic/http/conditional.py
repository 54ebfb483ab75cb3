"""Entity tags and the evaluation of preconditions (RFC 9110 sections 8.8.3 and 13.2.2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from .dates import parse_http_date


class Precondition(Enum):
    PROCEED = 0
    NOT_MODIFIED = 304
    FAILED = 412


@dataclass(frozen=True, slots=True)
class EntityTag:
    opaque: str  # including its double quotes, as it appears on the wire
    weak: bool


def make_etag(size: int, mtime_ns: int, encoding: str | None) -> str:
    """A strong validator from what every replica of a file agrees on: never the inode."""
    tag = f"{size:x}-{mtime_ns:x}"
    if encoding:
        tag += f"-{encoding}"
    return f'"{tag}"'


def parse_etag_list(value: str) -> list[EntityTag] | None:
    """Parse ``#entity-tag``; None for ``*``; an empty list when nothing valid is found.

    Written as a scanner, not a split on commas, because an opaque tag may contain commas.
    """
    if value.strip() == "*":
        return None
    tags: list[EntityTag] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        if i >= n:
            break
        weak = value.startswith("W/", i)
        if weak:
            i += 2
        if i >= n or value[i] != '"':
            return tags  # malformed from here on: keep what was well formed
        end = value.find('"', i + 1)
        if end < 0:
            return tags
        tags.append(EntityTag(value[i : end + 1], weak))
        i = end + 1
    return tags


def _matches(header: str, etag: str, weak_comparison: bool) -> bool:
    if header == etag:
        return True  # a revalidating browser sends back exactly our (strong) tag: no parsing
    tags = parse_etag_list(header)
    if tags is None:
        return True  # "*": the representation exists, or we would not be here
    return any(tag.opaque == etag and (weak_comparison or not tag.weak) for tag in tags)


class Conditions(NamedTuple):
    """The request's precondition headers, as received (None when absent). A NamedTuple: one
    is made per conditional request, and the hot path keys its plans by it (cheap to hash and
    compare, where a frozen dataclass's hash and equality build tuples each time)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None


def evaluate_preconditions(method: str, conditions: Conditions, etag: str, last_modified: int) -> Precondition:
    """RFC 9110 section 13.2.2, steps 1 to 4, for a representation that exists.

    ``etag`` is our (strong) validator; ``last_modified`` is in whole seconds.
    """
    if conditions.if_match is not None:
        if not _matches(conditions.if_match, etag, weak_comparison=False):
            return Precondition.FAILED
    elif conditions.if_unmodified_since is not None:
        date = parse_http_date(conditions.if_unmodified_since)
        if date is not None and last_modified > date:
            return Precondition.FAILED

    safe = method in ("GET", "HEAD")
    if conditions.if_none_match is not None:
        if _matches(conditions.if_none_match, etag, weak_comparison=True):
            return Precondition.NOT_MODIFIED if safe else Precondition.FAILED
    elif safe and conditions.if_modified_since is not None:
        date = parse_http_date(conditions.if_modified_since)
        if date is not None and last_modified <= date:
            return Precondition.NOT_MODIFIED
    return Precondition.PROCEED
