"""Responses made wholly from the caches: the hot path.

When the pathname cache holds a fresh entry and the response needs no file bytes, or only
bytes the small-body cache holds, the whole response is known without a disk, a helper or a
wait: ``(status, headers, body)``. The ASGI adapter sends it as two messages; the uvicorn
protocol of ``flashstatic serve`` writes it to the socket without building an ASGI task.

The decision is the pure core's (``plan_file_response``), so the hot path cannot answer
differently from the full one. Anything else (a stale entry, a large file, a body not cached
yet) returns None and takes the full path. A caller that can send a file's bytes itself takes
the plan (``fresh_plan``) and, when its body is one slice of a large file, sends that.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from ..http.headers import Header
from ..http.respond import FileRequest, FileSlice, ResponsePlan, file_request, plan_file_response
from .bodies import BodyCache
from .entry import FileEntry
from .pathname import PathnameCache

CachedResponse = tuple[int, Sequence[Header], bytes]


def cached_response(
    pathnames: PathnameCache,
    bodies: BodyCache,
    path: str,
    method: str,
    raw_headers: Iterable[tuple[bytes, bytes]],
    *,
    max_ranges: int,
) -> CachedResponse | None:
    plan = fresh_plan(pathnames, path, method, raw_headers, max_ranges=max_ranges)
    return None if plan is None else response_from_plan(pathnames, bodies, plan)


def fresh_plan(pathnames: PathnameCache, path: str, method: str, raw_headers: Iterable[tuple[bytes, bytes]],
               *, max_ranges: int) -> ResponsePlan | None:
    """The plan for the request from a fresh entry, if the pathname cache holds one."""
    entry, stale = pathnames.lookup(path, time.monotonic(), count=False)
    if stale or not isinstance(entry, FileEntry):
        return None
    request = file_request(method, raw_headers)
    if request.range is None:
        return _plan_without_range(entry, request, max_ranges)
    # The clock only matters to an If-Range date (is Last-Modified a strong validator yet?).
    now = int(time.time()) if request.if_range is not None else None
    return plan_file_response(request, entry, max_ranges=max_ranges, now=now)


def response_from_plan(pathnames: PathnameCache, bodies: BodyCache, plan: ResponsePlan) -> CachedResponse | None:
    """The whole response, if it needs no bytes but the body cache's. Nothing is counted
    unless the answer is given here: otherwise the full path looks again and counts."""
    if not plan.body:
        count_hits(pathnames)
        return plan.status, plan.headers, b""
    if plan.source is None:
        return None  # a text answer (405): rare enough for the full path
    body = bodies.get_uncounted(plan.source.facts)  # type: ignore[attr-defined]
    if body is None:
        return None
    count_hits(pathnames)
    bodies.counters.hits += 1
    return plan.status, plan.headers, assemble_body(plan, body)


def single_slice(plan: ResponsePlan) -> FileSlice | None:
    """The slice of the file, when a plan's body is one slice and nothing else (a whole
    file or a single range)."""
    if plan.source is not None and len(plan.body) == 1 and isinstance(plan.body[0], FileSlice):
        return plan.body[0]
    return None


# Distinct requests remembered per entry; more are planned each time (a client cannot grow
# the memo by inventing header values).
_PLANS_PER_ENTRY = 8


def _plan_without_range(entry: FileEntry, request: FileRequest, max_ranges: int) -> ResponsePlan:
    """Without a Range, the plan depends on nothing but the method, Accept-Encoding and the
    validators (If-Range matters only with a Range), so the entry keeps it: a browser
    revalidating with the ETag it was given asks the same question each time."""
    key = (request.method, request.accept_encoding, request.conditions)
    plan = entry.plans.get(key)
    if plan is None:
        plan = plan_file_response(request, entry, max_ranges=max_ranges)
        if len(entry.plans) < _PLANS_PER_ENTRY:
            entry.plans[key] = plan
    return plan


def cached_entry(pathnames: PathnameCache, path: str) -> FileEntry | None:
    """The fresh entry that answers ``path`` now, if any (not counted)."""
    entry, stale = pathnames.lookup(path, time.monotonic(), count=False)
    return entry if isinstance(entry, FileEntry) and not stale else None


def answered_again(pathnames: PathnameCache, bodies: BodyCache, path: str, entry: FileEntry, *, body: bool) -> bool:
    """Whether ``entry`` is still the fresh answer for ``path``, so that a response
    cached_response() made from it for the same request is right again; counted as a hit
    when it is. A changed file gets a new entry on revalidation, so identity is enough."""
    answer, stale = pathnames.lookup(path, time.monotonic(), count=False)
    if answer is not entry or stale:
        return False
    count_hits(pathnames)
    if body:
        bodies.counters.hits += 1
    return True


def count_hits(pathnames: PathnameCache) -> None:
    pathnames.counters.hits += 1
    pathnames.header_counters.hits += 1


def assemble_body(plan: ResponsePlan, body: bytes) -> bytes:
    """The plan's body with its file slices cut from the cached bytes."""
    parts = plan.body
    if len(parts) == 1 and isinstance(parts[0], FileSlice):
        part = parts[0]
        return body if part.start == 0 and part.stop == len(body) else body[part.start:part.stop]
    return b"".join(part if isinstance(part, bytes) else body[part.start:part.stop] for part in parts)
