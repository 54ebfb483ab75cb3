"""Responses made wholly from the caches: the hot path.

When the pathname cache holds a fresh entry and the response needs no file bytes, or only
bytes the small-body cache holds, the whole response is known without a disk, a helper or a
wait: ``(status, headers, body)``. The ASGI adapter sends it as two messages; the uvicorn
protocol of ``flashstatic serve`` writes it to the socket without building an ASGI task.

The decision is the pure core's (``plan_file_response``), so the hot path cannot answer
differently from the full one. Anything else (a stale entry, a large file, a body not cached
yet) returns None and takes the full path. A caller that can send a file's bytes itself takes
the plan (``CacheAnswers.plan``) and, when its body is one slice of a large file, sends that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ..http.headers import Header
from ..http.respond import (
    RANGE,
    FileSlice,
    RequestFields,
    ResponsePlan,
    compression_due,
    plan_file_response,
    request_fields,
    request_from_fields,
)
from .bodies import BodyCache
from .entry import FileEntry
from .pathname import PathnameCache

CachedResponse = tuple[int, Sequence[Header], bytes]


class CacheAnswers:
    """The hot path over one pair of caches: the answers they alone can give.

    A hit is the common request, and on it each Python call costs about as much as the work it
    wraps, so ``response`` keeps its calls few: a fresh entry, the request's relevant headers,
    the plan the entry remembers, the cached body. Hits are counted here, two integers, and
    added to the caches' counters when they are read (``add_counts``).
    """

    def __init__(
        self,
        pathnames: PathnameCache,
        bodies: BodyCache,
        *,
        max_ranges: int,
        read_fields: Callable[[str, Any], RequestFields] = request_fields,
    ) -> None:
        self.pathnames = pathnames
        self.bodies = bodies
        self.max_ranges = max_ranges
        # How the adapter's request headers are read: ASGI's header list by default; the WSGI
        # adapter reads its environ directly.
        self.read_fields = read_fields
        self.hits = 0  # answered here: pathname and response-header cache hits
        self.body_hits = 0  # of them, with a body from the body cache

    def response(self, path: str, method: str, headers: Any) -> CachedResponse | None:
        """The whole response, if the caches hold all of it; None sends the caller the full way.
        ``headers`` as ``read_fields`` takes them."""
        plan = self.plan(path, method, headers)
        return None if plan is None else self.response_from(plan)

    def plan(self, path: str, method: str, headers: Any) -> ResponsePlan | None:
        """The plan for the request from a fresh entry, if the pathname cache holds one."""
        entry = self.pathnames.fresh_entry(path, time.monotonic())
        if entry is None:
            return None
        fields = self.read_fields(method, headers)
        if fields[RANGE] is not None:
            request = request_from_fields(fields)
            # The clock only matters to an If-Range date (is Last-Modified a strong validator yet?).
            now = int(time.time()) if request.if_range is not None else None
            return plan_file_response(request, entry, max_ranges=self.max_ranges, now=now)
        plan = entry.plans.get(fields)
        return plan if plan is not None else _remember_plan(entry, fields, self.max_ranges)

    def response_from(self, plan: ResponsePlan) -> CachedResponse | None:
        """The whole response for ``plan``, if it needs no bytes but the body cache's. Nothing
        is counted unless the answer is given here: otherwise the full path looks again and counts."""
        parts = plan.body
        if not parts:
            self.hits += 1
            return plan.status, plan.headers, b""
        if plan.source is None:
            return None  # a text answer (405): rare enough for the full path
        source = plan.source
        body = self.bodies.get_uncounted(source.body_key, source.size)  # type: ignore[attr-defined]
        if body is None:
            return None
        self.hits += 1
        self.body_hits += 1
        if len(parts) == 1 and parts[0] == (0, len(body)):
            return plan.status, plan.headers, body  # the whole file, as most are
        return plan.status, plan.headers, assemble_body(plan, body)

    def entry(self, path: str) -> FileEntry | None:
        """The fresh entry that answers ``path`` now, if any (not counted)."""
        return self.pathnames.fresh_entry(path, time.monotonic())

    def answered_again(self, path: str, entry: FileEntry, *, body: bool) -> bool:
        """Whether ``entry`` is still the fresh answer for ``path``, so that a response made
        from it for the same request is right again; counted as a hit when it is. A changed
        file gets a new entry on revalidation, so identity is enough."""
        if self.pathnames.fresh_entry(path, time.monotonic()) is not entry:
            return False
        self.hits += 1
        if body:
            self.body_hits += 1
        return True

    def count_hit(self) -> None:
        """A plan from here that the caller answered in its own way (a file it sends)."""
        self.hits += 1

    def add_counts(self, stats: dict[str, dict[str, int]]) -> None:
        """Add the hits counted here to stats()'s pathname, headers and bodies counters, and
        the bodies sent to its transmissions."""
        stats["pathname"]["hits"] += self.hits
        stats["headers"]["hits"] += self.hits
        stats["bodies"]["hits"] += self.body_hits
        transmissions = stats["transmissions"]
        if self.body_hits:
            transmissions["memory"] = transmissions.get("memory", 0) + self.body_hits


def single_slice(plan: ResponsePlan) -> FileSlice | None:
    """The slice of the file, when a plan's body is one slice and nothing else (a whole
    file or a single range)."""
    if plan.source is not None and len(plan.body) == 1 and isinstance(plan.body[0], FileSlice):
        return plan.body[0]
    return None


# Distinct requests remembered per entry; more are planned each time (a client cannot grow
# the memo by inventing header values).
_PLANS_PER_ENTRY = 8


def _remember_plan(entry: FileEntry, fields: RequestFields, max_ranges: int) -> ResponsePlan | None:
    """Without a Range, the plan depends on nothing but the method, Accept-Encoding and the
    validators, so the entry keeps it: a browser revalidating with the ETag it was given asks
    the same question each time. None: the file is to be compressed first (the full path's
    work, off the loop); the entry forgets its plans when it gains a compressed body."""
    request = request_from_fields(fields)
    if entry.compressible and compression_due(request, entry) is not None:
        return None
    plan = plan_file_response(request, entry, max_ranges=max_ranges)
    if len(entry.plans) < _PLANS_PER_ENTRY:
        entry.plans[fields] = plan
    return plan


def assemble_body(plan: ResponsePlan, body: bytes) -> bytes:
    """The plan's body with its file slices cut from the cached bytes."""
    parts = plan.body
    if len(parts) == 1 and isinstance(parts[0], FileSlice):
        part = parts[0]
        return body if part.start == 0 and part.stop == len(body) else body[part.start : part.stop]
    return b"".join(part if isinstance(part, bytes) else body[part.start : part.stop] for part in parts)
