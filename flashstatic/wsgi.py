"""The WSGI adapter: environ -> the same HTTP decisions and caches as the ASGI one -> a WSGI body.

WSGI has no event loop to keep free, so there are no AMPED helpers here: translation, opens
and small reads run in the worker that handles the request, which is what gunicorn's sync
and gthread workers are for. gthread workers share one adapter between threads, so every
cache operation runs under one lock (held for microseconds; never across disk access).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from .amped.jobs import FileChanged, open_checked
from .cache.bodies import BodyCache
from .cache.entry import FileEntry, Representation
from .cache.pathname import Answer, PathnameCache
from .cache.responses import CacheAnswers, assemble_body
from .config import static_options
from .http.headers import Header
from .http.paths import PathRejected
from .http.redirects import relative_redirect
from .http.respond import (
    RequestFields,
    ResponsePlan,
    plan_file_response,
    plan_not_found_page,
    plan_redirect,
    plan_text,
    request_from_fields,
)
from .transmit.iterables import FileShrank, file_body, read_exactly
from .translate import MISSING, RedirectTo, Translation, candidates, scan, translate, translate_not_found_page

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Body = Iterable[bytes]

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_REASONS = {400: "Bad Request", 404: "Not Found"}


def request_fields_from_environ(method: str, environ: Environ) -> RequestFields:
    """RequestFields, read straight from the environ: its values are already the native
    strings they hold (and repeated fields already joined by the server)."""
    get = environ.get
    return (method, get("HTTP_ACCEPT_ENCODING"), get("HTTP_IF_MATCH"), get("HTTP_IF_NONE_MATCH"),
            get("HTTP_IF_MODIFIED_SINCE"), get("HTTP_IF_UNMODIFIED_SINCE"), get("HTTP_RANGE"), get("HTTP_IF_RANGE"))


def route_path(environ: Environ) -> str:
    """PATH_INFO (below SCRIPT_NAME, where the app is mounted) as ASGI's decoded str path:
    PEP 3333 hands over the URL's bytes as latin-1, ASGI servers decode them as UTF-8 (the
    same string when all are ASCII, as most paths are)."""
    path: str = environ.get("PATH_INFO", "")
    if not path.isascii():
        path = path.encode("latin-1").decode("utf-8", "replace")
    return path or "/"


def raw_path(environ: Environ) -> bytes | None:
    """The path as the client sent it, when the server says (gunicorn: RAW_URI)."""
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    return uri.split("?", 1)[0].encode("latin-1") if uri else None


def native_headers(headers: Iterable[Header]) -> list[tuple[str, str]]:
    """PEP 3333's native strings. The hot path hands over the same header sequence for every
    request a plan answers, so conversions are remembered by that object's identity (the
    entry keeps the object alive; the memo holds it too, so its id cannot be reused)."""
    key = id(headers)
    known = _NATIVE.get(key)
    if known is not None and known[0] is headers:
        return list(known[1])
    native = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
    if isinstance(headers, tuple):  # a list is built per request: nothing to reuse
        if len(_NATIVE) >= _NATIVE_MAX:
            _NATIVE.clear()
        _NATIVE[key] = (headers, tuple(native))
    return native


_NATIVE: dict[int, tuple[Sequence[Header], tuple[tuple[str, str], ...]]] = {}
_NATIVE_MAX = 4096


class FlashStaticWSGI:
    """``FlashStaticWSGI(app, directory=..., prefix=...)``: the ASGI FlashStatic's arguments
    about what to serve (config.static_options), and WhiteNoise's ``root``/``prefix``."""

    def __init__(self, app: Any = None, directory: str | os.PathLike[str] | None = None,
                 prefix: str | None = None, **arguments: Any) -> None:
        if isinstance(app, (str, os.PathLike)):
            raise TypeError("FlashStaticWSGI's first argument is the WSGI app to wrap; "
                            "pass the directory as directory=...")
        self.app = app
        self.options = static_options(directory, prefix, **arguments)
        self._lock = threading.Lock()
        # One thread at a time revalidates a stale entry; the others serve it meanwhile.
        self._revalidating = threading.Lock()
        self._configure()

    def add_files(self, root: str | os.PathLike[str], prefix: str | None = None) -> None:
        """WhiteNoise's way to serve another directory; roots are searched in the order added."""
        self.options = self.options.with_root(os.fspath(root), prefix)
        self._configure()

    def _configure(self) -> None:
        self.pathnames = PathnameCache(self.options)
        self.not_found_page = PathnameCache(replace(self.options, pathname_cache_size=1))
        self.bodies = BodyCache(self.options.small_file_max, self.options.small_file_cache_bytes)
        self.answers = CacheAnswers(self.pathnames, self.bodies, max_ranges=self.options.max_ranges,
                                    read_fields=request_fields_from_environ)
        self._rules = self.options.rules
        self._scanned = scan(self._rules) if self.options.scan_once else None
        self.revalidations = 0
        self.transmissions: Counter[str] = Counter()

    def close(self) -> None:
        """Nothing to stop: no helpers, and every response closes its own file."""

    def stats(self) -> dict[str, dict[str, int]]:
        pathname = self.pathnames.counters.as_dict()
        pathname["revalidations"] = self.revalidations
        # Revalidation here is inline, without a queue to defer from, and without helpers
        # there is no backlog for directory listings to relieve.
        pathname["revalidations_deferred"] = 0
        pathname["misses_listed"] = 0
        pathname["entries"] = len(self.pathnames)
        bodies = self.bodies.counters.as_dict()
        bodies["bytes"] = self.bodies.bytes_held
        stats = {"pathname": pathname, "headers": self.pathnames.header_counters.as_dict(), "bodies": bodies,
                 "transmissions": dict(self.transmissions)}
        with self._lock:
            self.answers.add_counts(stats)
        return stats

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Body:
        path = route_path(environ)
        method = environ["REQUEST_METHOD"]
        with self._lock:
            plan = self.answers.plan(path, method, environ)
            response = None if plan is None else self.answers.response_from(plan)
        if response is not None:
            status, response_headers, body = response
            start_response(_STATUS_LINES[status], native_headers(response_headers))
            return [body] if body else []
        if plan is not None:
            # A fresh entry's plan that needs the file (a large one, or a small one not cached
            # yet): sent as the full path would, without translating or planning again.
            answered = self._transmit(environ, start_response, plan)
            if answered is not None:
                with self._lock:
                    self.answers.count_hit()
                return answered
        head = method == "HEAD"
        try:
            if any(root.covers(path) for root in self.options.roots):
                return self._serve(environ, start_response, path, method)
            return self._miss(environ, start_response)
        except PathRejected as rejected:
            if self.app is not None:
                return self.app(environ, start_response)
            plan = plan_text(rejected.status, f"{_REASONS[rejected.status]}: {rejected.reason}", head=head)
            return self._respond(start_response, plan)

    def _serve(self, environ: Environ, start_response: StartResponse, path: str, method: str) -> Body:
        # Two attempts: a file that changed between translation and open is translated afresh.
        for attempt in range(2):
            answer = self._answer(path, fresh=attempt > 0)
            if isinstance(answer, RedirectTo):
                location = relative_redirect(answer.kind, raw_path(environ), path,
                                             environ.get("QUERY_STRING", "").encode("latin-1"))
                return self._respond(start_response, plan_redirect(location, head=method == "HEAD"))
            if not isinstance(answer, FileEntry):
                return self._miss(environ, start_response)
            request = request_from_fields(request_fields_from_environ(method, environ))
            plan = plan_file_response(request, answer, max_ranges=self.options.max_ranges, now=int(time.time()))
            body = self._transmit(environ, start_response, plan)
            if body is not None:
                return body
            with self._lock:
                self.pathnames.forget(path)
        plan = plan_text(503, "Service Unavailable: the file is changing", [(b"retry-after", b"1")],
                         head=method == "HEAD")
        return self._respond(start_response, plan)

    def _transmit(self, environ: Environ, start_response: StartResponse, plan: ResponsePlan) -> Body | None:
        """Start ``plan``'s response; None if its file changed before anything was sent."""
        head = environ["REQUEST_METHOD"] == "HEAD"
        if not plan.body or plan.source is None:
            return self._respond(start_response, plan)
        facts = plan.source.facts  # type: ignore[attr-defined]
        try:
            if self.bodies.cacheable(facts):
                body = assemble_body(plan, self._small_body(plan.source))
                self.transmissions["memory"] += 1
                start_response(_STATUS_LINES[plan.status], native_headers(plan.headers))
                return [body]
            fd = open_checked(facts, self._rules)
        except (FileChanged, FileShrank, FileNotFoundError, NotADirectoryError):
            return None
        except PermissionError:
            return self._respond(start_response, plan_text(403, "Forbidden", head=head))
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            # Out of descriptors: a passing condition, so the client is told to come back.
            return self._respond(start_response, plan_text(
                503, "Service Unavailable: no file descriptor left", [(b"retry-after", b"1")], head=head))
        wrapper = environ.get("wsgi.file_wrapper")
        body = file_body(fd, plan.body, wrapper, self.options.chunk_size)  # owns fd from here
        self.transmissions["file_wrapper" if wrapper is not None and len(plan.body) == 1 else "iterator"] += 1
        try:
            start_response(_STATUS_LINES[plan.status], native_headers(plan.headers))
        except BaseException:
            body.close()
            raise
        return body

    def _respond(self, start_response: StartResponse, plan: ResponsePlan) -> Body:
        """A plan whose body is all bytes (text answers, redirects, bodiless statuses)."""
        start_response(_STATUS_LINES[plan.status], native_headers(plan.headers))
        return [b"".join(part for part in plan.body if isinstance(part, bytes))] if plan.body else []

    def _small_body(self, rep: Representation) -> bytes:
        facts = rep.facts
        with self._lock:
            body = self.bodies.get(facts)
        if body is None:
            fd = open_checked(facts, self._rules)
            try:
                body = read_exactly(fd, 0, facts.size)
            finally:
                os.close(fd)
            with self._lock:
                self.bodies.put(facts, body)
        return body

    def _answer(self, path: str, *, fresh: bool = False) -> Answer:
        now = time.monotonic()
        if not fresh:
            with self._lock:
                answer, stale = self.pathnames.lookup(path, now)
                if isinstance(answer, FileEntry):
                    self.pathnames.header_counters.hits += 1
            if answer is not None and not stale:
                return answer
            if answer is not None and self.options.revalidate_interval > 0:
                # Periodic revalidation: one thread stats, the others keep serving the entry.
                if not self._revalidating.acquire(blocking=False):
                    return answer
                try:
                    self.revalidations += 1
                    return self._store(path, self._translate(path, fresh), now)
                finally:
                    self._revalidating.release()
        return self._store(path, self._translate(path, fresh), now)

    def _store(self, path: str, translation: Translation, now: float) -> Answer:
        with self._lock:
            return self.pathnames.store(path, translation, now)

    def _translate(self, path: str, fresh: bool) -> Translation:
        if self._scanned is None or fresh:
            return translate(self._rules, path)
        # autorefresh=False: the start-up scan knows every file, and the disk is asked again
        # only about a file that an open showed to have changed (fresh=True).
        for root, safe in candidates(self.options.roots, path):
            found = self._scanned[root].get(safe.url_path)
            if found is not None:
                return found
        return MISSING

    def _miss(self, environ: Environ, start_response: StartResponse) -> Body:
        if self.app is not None:
            return self.app(environ, start_response)
        head = environ["REQUEST_METHOD"] == "HEAD"
        page = self._not_found_page()
        if page is not None:
            body = self._transmit(environ, start_response, plan_not_found_page(page, head=head))
            if body is not None:
                return body
            with self._lock:
                self.not_found_page.forget("")
        return self._respond(start_response, plan_text(404, "Not Found", head=head))

    def _not_found_page(self) -> Representation | None:
        if self.options.not_found_file is None:
            return None
        now = time.monotonic()
        with self._lock:
            answer, stale = self.not_found_page.lookup("", now)
        if answer is None or stale:
            found = translate_not_found_page(self._rules)
            with self._lock:
                answer = self.not_found_page.store("", found or MISSING, now)
        return answer.identity if isinstance(answer, FileEntry) else None
