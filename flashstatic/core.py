"""The static core: what every way in (ASGI, WSGI, the protocol's shortcut) shares, and no I/O.

It owns the options, Flash's caches (pathname, response headers inside the entries, small
bodies, the 404 page), the start-up scan, the decisions that turn a cache answer or a failed
open into a response plan, and the counters. A driver asks it, does whatever disk or network
work the answer calls for in its own way (awaiting a disk strategy, or a direct call under a
lock), and tells it what it learnt: so every way in gives the same statuses, headers and bytes,
and a decision is written once.
"""

from __future__ import annotations

import errno
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .cache.bodies import BodyCache
from .cache.entry import FileEntry, Representation, compressed_representation
from .cache.pathname import Answer, PathnameCache
from .cache.responses import CacheAnswers
from .config import Options
from .http.compressible import pays
from .http.cors import preflight_headers
from .http.listing import plan_bad_listing_query, plan_listing, wants_json
from .http.paths import PathRejected
from .http.respond import FileRequest, RequestFields, ResponsePlan, plan_file_response, plan_text, request_fields
from .listing import DirectoryPage, ListingAnswer
from .translate import MISSING, FoundFile, Translation, candidates, scan

_REASONS = {400: "Bad Request", 404: "Not Found"}
_RETRY = [(b"retry-after", b"1")]


class StaticCore:
    def __init__(self, options: Options, read_fields: Callable[[str, Any], RequestFields] = request_fields) -> None:
        self.options = options
        self.rules = options.rules
        self.cors = options.cors
        self.pathnames = PathnameCache(options)
        # html=True's 404.html, cached on its own: no request path can reach this entry.
        self.not_found_page = PathnameCache(replace(options, pathname_cache_size=1))
        self.bodies = BodyCache(options.small_file_max, options.small_file_cache_bytes)
        # The hot path; ``read_fields`` reads the driver's request headers (ASGI's list, an environ).
        self.answers = CacheAnswers(self.pathnames, self.bodies, max_ranges=options.max_ranges, read_fields=read_fields)
        # autorefresh=False: every servable path, translated once at start.
        self.scanned = scan(self.rules) if options.scan_once else None
        self.revalidations = 0
        self.revalidations_deferred = 0  # stale hits not queued for revalidation: the queue was full
        self.misses_listed = 0  # misses answered from directory listings
        # File responses by how their bytes went out.
        self.transmissions: Counter[str] = Counter()

    def covers(self, path: str) -> bool:
        return any(root.covers(path) for root in self.options.roots)

    # -- pathname translation ---------------------------------------------------------------

    def lookup(self, path: str, now: float) -> tuple[Answer | None, bool]:
        """The cached answer for ``path`` (None if none) and whether it is due for revalidation."""
        answer, stale = self.pathnames.lookup(path, now)
        if isinstance(answer, FileEntry):
            self.pathnames.header_counters.hits += 1  # its encoded headers will be reused
        return answer, stale

    def from_scan(self, path: str) -> Translation | None:
        """autorefresh=False's answer from the start-up scan; None when the disk must be asked.
        The disk is asked again, with a scan, only about a file an open showed to have changed."""
        if self.scanned is None:
            return None
        for root, safe in candidates(self.options.roots, path):
            found = self.scanned[root].get(safe.url_path)
            if found is not None:
                return found
        return MISSING

    def store(self, path: str, translation: Translation, now: float) -> Answer:
        return self.pathnames.store(path, translation, now)

    def forget(self, path: str) -> None:
        """The file an answer named changed before it could be sent: translate afresh."""
        self.pathnames.forget(path)

    def directories_to_watch(self) -> list[str]:
        """Where the files of cached answers lie, new since the last call: a driver that can
        watch directories for changes (watch.py) watches these."""
        return self.pathnames.take_new_directories() + self.not_found_page.take_new_directories()

    def changed(self, directory: str | None, subtree: bool = False) -> None:
        """A watched directory changed (None: anything may have): what was answered from it is
        forgotten, to be translated afresh when next asked."""
        for cache in (self.pathnames, self.not_found_page):
            if directory is None:
                cache.forget_all()
            else:
                cache.forget_changed(directory, subtree)

    # -- the 404 page -----------------------------------------------------------------------

    def not_found_page_due(self, now: float) -> bool:
        """Whether html=True's 404.html must be looked for on disk before it can be answered."""
        if self.options.not_found_file is None:
            return False
        answer, stale = self.not_found_page.lookup("", now)
        return answer is None or stale

    def not_found_page_found(self, found: FoundFile | None, now: float) -> None:
        self.not_found_page.store("", found or MISSING, now)

    def not_found_representation(self) -> Representation | None:
        """The 404 page to send, as last found (None: a plain 404)."""
        if self.options.not_found_file is None:
            return None
        answer, _ = self.not_found_page.lookup("", time.monotonic())
        return answer.identity if isinstance(answer, FileEntry) else None

    def not_found_page_changed(self) -> None:
        self.not_found_page.forget("")

    # -- plans ------------------------------------------------------------------------------

    def plan(self, request: FileRequest, entry: FileEntry) -> ResponsePlan:
        return plan_file_response(request, entry, max_ranges=self.options.max_ranges, now=int(time.time()))

    def compressed(self, entry: FileEntry, coding: str, body: bytes) -> None:
        """``entry``'s file compressed into ``coding`` by the driver: kept when it pays, and
        remembered either way, so that a file version is compressed once."""
        if pays(entry.identity.size, len(body)):
            entry.compressed[coding] = compressed_representation(entry, coding, len(body))
            self.bodies.put_compressed(entry.identity.facts, coding, body)
        else:
            entry.compressed[coding] = None
        entry.plans.clear()  # made before this body existed

    def compressed_before(self, entry: FileEntry, coding: str) -> bool:
        """Whether the body cache holds ``entry``'s file in ``coding`` already (another URL of
        the same file had it compressed); ``entry`` then takes that body, with nothing to do."""
        body = self.bodies.get_compressed(entry.identity.facts, coding)
        if body is None:
            return False
        self.compressed(entry, coding, body)
        return True

    def preflight(
        self, origin: str | None, request_method: str | None, request_headers: str | None
    ) -> ResponsePlan | None:
        """The 204 answer to a CORS preflight for a file; None for an OPTIONS that is not one,
        or that CORS does not allow, which is answered as without CORS."""
        headers = preflight_headers(self.cors, origin, request_method, request_headers)
        return None if headers is None else ResponsePlan(204, headers)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters of Flash's caches and of the ways file bodies went out (the driver adds its
        disk's counters, if it has a disk strategy)."""
        pathname = self.pathnames.counters.as_dict()
        pathname["revalidations"] = self.revalidations
        pathname["revalidations_deferred"] = self.revalidations_deferred
        pathname["misses_listed"] = self.misses_listed
        pathname["entries"] = len(self.pathnames)
        bodies = self.bodies.counters.as_dict()
        bodies["bytes"] = self.bodies.bytes_held
        stats = {
            "pathname": pathname,
            "headers": self.pathnames.header_counters.as_dict(),
            "bodies": bodies,
            "transmissions": dict(self.transmissions),
        }
        self.answers.add_counts(stats)
        return stats


def listing_plan(
    found: ListingAnswer, start: int | None, *, method: str, accept: str | None, query: str, url_path: str
) -> ResponsePlan | str | None:
    """listing=True's answer for a GET or HEAD of a path that names no file: a plan for a
    directory's page (or a 400 for a bad ``from``, ``start`` None), "slash" for a directory
    asked without its slash (the caller redirects), None for a miss."""
    if not isinstance(found, DirectoryPage):
        return found
    if start is None:
        return plan_bad_listing_query(method)
    return plan_listing(
        method,
        url_path=url_path,
        total=found.total,
        has_parent=found.has_parent,
        start=found.start,
        entries=found.entries,
        as_json=wants_json(accept, query),
    )


def file_of(plan: ResponsePlan) -> Representation | None:
    """The cached representation whose bytes ``plan`` sends, if any: the plans made here are
    over cache entries, whose representations know the file they came from."""
    source = plan.source
    if source is None:
        return None
    assert isinstance(source, Representation)
    return source


def rejected_plan(rejected: PathRejected, *, head: bool) -> ResponsePlan:
    """A path no root could serve, for a driver without an app to hand it to."""
    return plan_text(rejected.status, f"{_REASONS[rejected.status]}: {rejected.reason}", head=head)


def changing_plan(*, head: bool) -> ResponsePlan:
    """A file that changed under two attempts in a row: the client is told to come back."""
    return plan_text(503, "Service Unavailable: the file is changing", _RETRY, head=head)


def busy_plan(reason: object, *, head: bool) -> ResponsePlan:
    """No helper to do the disk work now (a full queue, or helpers that failed)."""
    return plan_text(503, f"Service Unavailable: {reason}", _RETRY, head=head)


def open_failure_plan(error: OSError, *, head: bool) -> ResponsePlan | None:
    """The answer to a failed open: None when the file vanished or changed (translate it
    again), a plan for a passing or permanent condition, or ``error`` raised again."""
    if isinstance(error, (FileNotFoundError, NotADirectoryError)):
        return None
    if isinstance(error, PermissionError):
        return plan_text(403, "Forbidden", head=head)
    if error.errno in (errno.EMFILE, errno.ENFILE):
        # Out of descriptors: a passing condition (connections close, cached files are
        # evicted), so the client is told to come back, as for a busy helper pool.
        return plan_text(503, "Service Unavailable: no file descriptor left", _RETRY, head=head)
    raise error
