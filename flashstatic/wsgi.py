"""The WSGI adapter: environ -> the same HTTP decisions and caches as the ASGI one -> a WSGI body.

WSGI has no event loop to keep free, so there are no AMPED helpers here: translation, opens
and small reads run in the worker that handles the request, which is what gunicorn's sync
and gthread workers are for. gthread workers share one adapter between threads, so every
cache operation runs under one lock (held for microseconds; never across disk access).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

from .amped.jobs import FileChanged, open_checked
from .cache.encoder import compress_body
from .cache.entry import FileEntry, Representation
from .cache.pathname import Answer
from .cache.responses import assemble_body
from .config import SERVING_KEYWORDS, ImmutableTest, Options, ServingArguments, options_or_arguments
from .core import StaticCore, changing_plan, file_of, listing_plan, open_failure_plan, rejected_plan
from .http.cors import echoes_origin
from .http.headers import Header
from .http.listing import listing_start
from .http.paths import PathRejected
from .http.redirects import relative_redirect
from .http.respond import (
    FileRequest,
    RequestFields,
    ResponsePlan,
    compression_due,
    plan_not_found_page,
    plan_redirect,
    plan_text,
    request_from_fields,
)
from .listing import list_page
from .translate import MISSING, FileFacts, RedirectTo, Translation, translate, translate_not_found_page
from .transmit.iterables import FileShrank, file_body, read_exactly

if TYPE_CHECKING:
    from typing_extensions import Unpack

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Body = Iterable[bytes]

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def request_fields_from_environ(method: str, environ: Environ) -> RequestFields:
    """RequestFields, read straight from the environ: its values are already the native
    strings they hold (and repeated fields already joined by the server)."""
    get = environ.get
    return (
        method,
        get("HTTP_ACCEPT_ENCODING"),
        get("HTTP_IF_MATCH"),
        get("HTTP_IF_NONE_MATCH"),
        get("HTTP_IF_MODIFIED_SINCE"),
        get("HTTP_IF_UNMODIFIED_SINCE"),
        get("HTTP_RANGE"),
        get("HTTP_IF_RANGE"),
        None,
    )


def request_fields_with_origin_from_environ(method: str, environ: Environ) -> RequestFields:
    """RequestFields with the Origin too, for CORS with listed origins."""
    return (*request_fields_from_environ(method, environ)[:-1], environ.get("HTTP_ORIGIN"))


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


# WhiteNoise's defaults where FlashStatic has Starlette's, so that a WhiteNoise user switches by
# changing the class name: CORS on, the roots read once at start, and a missing root a
# warning rather than an error (docs/usage.md, "Switching from WhiteNoise").
WHITENOISE_DEFAULTS: ServingArguments = {"allow_all_origins": True, "autorefresh": False, "check_dir": False}
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def checked_redirect_status(status: object) -> int:
    if type(status) is not int or status not in REDIRECT_STATUSES:
        raise ValueError(f"redirect_status must be one of {REDIRECT_STATUSES}, not {status!r}")
    return status


def warn_missing_roots(options: Options) -> None:
    """Roots read once at start (autorefresh=False) serve nothing if absent: say so, as
    WhiteNoise does. With revalidation a directory created later is found, so no warning."""
    if not options.scan_once:
        return
    for root in options.roots:
        if not os.path.isdir(root.directory):
            warnings.warn(f"No directory at: {root.directory}", stacklevel=3)


class FlashStaticWSGI:
    """``FlashStaticWSGI(app, directory=..., prefix=...)``: the ASGI FlashStatic's keywords about
    what to serve (config.ServingArguments), WhiteNoise's ``root``/``prefix`` among them, with
    WhiteNoise's defaults (``defaults``, and 302 redirects)."""

    # This way in's own defaults, where they differ from Options' (each documented); a
    # subclass may state others.
    defaults: ClassVar[ServingArguments] = WHITENOISE_DEFAULTS

    def __init__(
        self,
        app: Any = None,
        directory: str | os.PathLike[str] | None = None,
        prefix: str | None = None,
        *,
        options: Options | None = None,
        redirect_status: int = 302,
        **arguments: Unpack[ServingArguments],
    ) -> None:
        if isinstance(app, (str, os.PathLike)):
            raise TypeError(
                "FlashStaticWSGI's first argument is the WSGI app to wrap; pass the directory as directory=..."
            )
        self.app = app
        self.redirect_status = checked_redirect_status(redirect_status)
        defaults = self.defaults
        if "cors_origins" in arguments and "allow_all_origins" not in arguments:
            # Origins named: WhiteNoise's "any origin" default would override them.
            defaults = {**defaults, "allow_all_origins": False}
        self.options = options_or_arguments(
            "FlashStaticWSGI", options, directory, prefix, arguments, SERVING_KEYWORDS, defaults
        )
        warn_missing_roots(self.options)
        self._lock = threading.Lock()
        # One thread at a time revalidates a stale entry; the others serve it meanwhile.
        self._revalidating = threading.Lock()
        # compress=True: (file, coding) being compressed; a request that finds one waits for it.
        self._compressing: dict[tuple[FileFacts, str], threading.Event] = {}
        self._configure()

    @property
    def autorefresh(self) -> bool:
        """WhiteNoise's attribute: whether every request looks at the disk."""
        return self.options.revalidate_interval == 0 and not self.options.scan_once

    @property
    def immutable_file_test(self) -> ImmutableTest:
        return self.options.immutable_file_test

    def add_files(self, root: str | os.PathLike[str], prefix: str | None = None) -> None:
        """WhiteNoise's way to serve another directory; roots are searched in the order added."""
        added = self.options.with_root(os.fspath(root), prefix)
        warn_missing_roots(replace(added, roots=added.roots[-1:]))
        self.options = added
        self._configure()

    def _configure(self) -> None:
        reader = (
            request_fields_with_origin_from_environ if echoes_origin(self.options.cors) else request_fields_from_environ
        )
        self.core = StaticCore(self.options, read_fields=reader)

    def close(self) -> None:
        """Nothing to stop: no helpers, and every response closes its own file."""

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters of Flash's caches and of the ways file bodies went out."""
        with self._lock:
            return self.core.stats()

    def answer_from_memory(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """(status line, headers, body) when the caches hold the whole response, without any
        disk access (so an event loop may ask); None when the full call is needed."""
        method = environ.get("REQUEST_METHOD", "")
        answers = self.core.answers
        with self._lock:
            plan = answers.plan(route_path(environ), method, environ)
            response = None if plan is None else answers.response_from(plan)
        if response is None:
            return None
        status, headers, body = response
        return _STATUS_LINES[status], native_headers(headers), body

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Body:
        path = route_path(environ)
        # Always set by a WSGI server; without it (a hand-built environ) no method is allowed: 405.
        method = environ.get("REQUEST_METHOD", "")
        answers = self.core.answers
        with self._lock:
            plan = answers.plan(path, method, environ)
            response = None if plan is None else answers.response_from(plan)
        if response is not None:
            status, response_headers, body = response
            start_response(_STATUS_LINES[status], native_headers(response_headers))
            return [body] if body else []
        if plan is not None and method == "OPTIONS":
            plan = self._preflight(environ) or plan
        if plan is not None:
            # A fresh entry's plan that needs the file (a large one, or a small one not cached
            # yet): sent as the full path would, without translating or planning again.
            answered = self._transmit(environ, start_response, plan)
            if answered is not None:
                with self._lock:
                    answers.count_hit()
                return answered
        head = method == "HEAD"
        try:
            if self.core.covers(path):
                return self._serve(environ, start_response, path, method)
            return self._miss(environ, start_response)
        except PathRejected as rejected:
            if self.app is not None:
                return self._to_app(environ, start_response)
            return self._respond(start_response, rejected_plan(rejected, head=head))

    def _serve(self, environ: Environ, start_response: StartResponse, path: str, method: str) -> Body:
        head = method == "HEAD"
        # Two attempts: a file that changed between translation and open is translated afresh.
        for attempt in range(2):
            answer = self._answer(path, fresh=attempt > 0)
            if isinstance(answer, RedirectTo):
                location = relative_redirect(
                    answer.kind, raw_path(environ), path, environ.get("QUERY_STRING", "").encode("latin-1")
                )
                plan = plan_redirect(location, head=head, status=self.redirect_status)
                return self._respond(start_response, plan)
            if not isinstance(answer, FileEntry):
                listed = self._directory_listing(environ, start_response, path, method) if answer is MISSING else None
                return listed if listed is not None else self._miss(environ, start_response)
            request = request_from_fields(self.core.answers.read_fields(method, environ))
            self._compress_if_due(request, answer)
            plan = (method == "OPTIONS" and self._preflight(environ)) or self.core.plan(request, answer)
            body = self._transmit(environ, start_response, plan)
            if body is not None:
                return body
            with self._lock:
                self.core.forget(path)
        return self._respond(start_response, changing_plan(head=head))

    def _directory_listing(
        self, environ: Environ, start_response: StartResponse, path: str, method: str
    ) -> Body | None:
        """listing=True: the listing of the directory ``path`` names, or its redirect to a
        trailing slash; None when it names no directory to list (a miss)."""
        if not self.options.listing or method not in ("GET", "HEAD"):
            return None
        query = environ.get("QUERY_STRING", "")
        start = listing_start(query)
        found = list_page(self.core.rules, path, start or 0)
        url_path = environ.get("SCRIPT_NAME", "") + path
        plan = listing_plan(
            found, start, method=method, accept=environ.get("HTTP_ACCEPT"), query=query, url_path=url_path
        )
        if plan is None:
            return None
        if isinstance(plan, str):
            location = relative_redirect(plan, raw_path(environ), path, query.encode("latin-1"))
            plan = plan_redirect(location, head=method == "HEAD")
        return self._respond(start_response, plan)

    def _preflight(self, environ: Environ) -> ResponsePlan | None:
        get = environ.get
        return self.core.preflight(
            get("HTTP_ORIGIN"), get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"), get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
        )

    def _transmit(self, environ: Environ, start_response: StartResponse, plan: ResponsePlan) -> Body | None:
        """Start ``plan``'s response; None if its file changed before anything was sent."""
        head = environ.get("REQUEST_METHOD") == "HEAD"
        source = file_of(plan)
        if not plan.body or source is None:
            return self._respond(start_response, plan)
        facts = source.facts
        try:
            if source.compressed_here or self.core.bodies.cacheable(facts):
                body = assemble_body(plan, self._small_body(source))
                self.core.transmissions["memory"] += 1
                start_response(_STATUS_LINES[plan.status], native_headers(plan.headers))
                return [body]
            fd = open_checked(facts, self.core.rules)
        except (FileChanged, FileShrank):
            return None
        except OSError as exc:
            failure = open_failure_plan(exc, head=head)
            return None if failure is None else self._respond(start_response, failure)
        wrapper = environ.get("wsgi.file_wrapper")
        stream = file_body(fd, plan.body, wrapper, self.options.chunk_size)  # owns fd from here
        self.core.transmissions["file_wrapper" if wrapper is not None and len(plan.body) == 1 else "iterator"] += 1
        try:
            start_response(_STATUS_LINES[plan.status], native_headers(plan.headers))
        except BaseException:
            stream.close()
            raise
        return stream

    def _to_app(self, environ: Environ, start_response: StartResponse) -> Body:
        """Not a file we serve: the wrapped app answers."""
        body: Body = self.app(environ, start_response)
        return body

    def _respond(self, start_response: StartResponse, plan: ResponsePlan) -> Body:
        """A plan whose body is all bytes (text answers, redirects, bodiless statuses)."""
        start_response(_STATUS_LINES[plan.status], native_headers(plan.headers))
        return [b"".join(part for part in plan.body if isinstance(part, bytes))] if plan.body else []

    def _compress_if_due(self, request: FileRequest, entry: FileEntry) -> None:
        """compress=True: compress the file into the coding ``request`` is to get, unless that
        was done (or found not to pay) for this version of the file; once, in this thread,
        while a request for the same that comes meanwhile waits. On a failure the request is
        planned with the file as it is, which meets the same failure and answers it."""
        if not entry.compressible:
            return
        with self._lock:
            coding = compression_due(request, entry)
            if coding is None or self.core.compressed_before(entry, coding):
                return
            key = (entry.identity.facts, coding)
            running = self._compressing.get(key)
            if running is None:
                self._compressing[key] = done = threading.Event()
        if running is not None:
            running.wait()
            with self._lock:
                if coding not in entry.compressed:  # compressed for another URL of the same file
                    self.core.compressed_before(entry, coding)
            return
        try:
            compressed = compress_body(self._file_bytes(entry.identity.facts), coding)
            with self._lock:
                self.core.compressed(entry, coding, compressed)
        except (FileChanged, FileShrank, OSError):
            pass
        finally:
            with self._lock:
                del self._compressing[key]
            done.set()

    def _small_body(self, rep: Representation) -> bytes:
        if rep.compressed_here:
            return self._compressed_body(rep)
        return self._file_bytes(rep.facts)

    def _compressed_body(self, rep: Representation) -> bytes:
        """A body compressed here, compressed again if the body cache has dropped it: the
        same input gives the same bytes (cache/encoder.py)."""
        assert rep.encoding is not None
        with self._lock:
            body = self.core.bodies.get_compressed(rep.facts, rep.encoding)
        if body is None:
            body = compress_body(self._file_bytes(rep.facts), rep.encoding)
            if len(body) != rep.size:
                raise FileChanged(rep.facts.path)  # not what its headers say: planned afresh
            with self._lock:
                self.core.bodies.put_compressed(rep.facts, rep.encoding, body)
        return body

    def _file_bytes(self, facts: FileFacts) -> bytes:
        with self._lock:
            body = self.core.bodies.get(facts)
        if body is None:
            fd = open_checked(facts, self.core.rules)
            try:
                body = read_exactly(fd, 0, facts.size)
            finally:
                os.close(fd)
            with self._lock:
                self.core.bodies.put(facts, body)
        return body

    def _answer(self, path: str, *, fresh: bool = False) -> Answer:
        now = time.monotonic()
        if not fresh:
            with self._lock:
                answer, stale = self.core.lookup(path, now)
            if answer is not None and not stale:
                return answer
            if answer is not None and self.options.revalidate_interval > 0:
                # Periodic revalidation: one thread stats, the others keep serving the entry.
                if not self._revalidating.acquire(blocking=False):
                    return answer
                try:
                    self.core.revalidations += 1
                    return self._store(path, self._translate(path, fresh), now)
                finally:
                    self._revalidating.release()
        return self._store(path, self._translate(path, fresh), now)

    def _store(self, path: str, translation: Translation, now: float) -> Answer:
        with self._lock:
            return self.core.store(path, translation, now)

    def _translate(self, path: str, fresh: bool) -> Translation:
        known = None if fresh else self.core.from_scan(path)
        return translate(self.core.rules, path) if known is None else known

    def _miss(self, environ: Environ, start_response: StartResponse) -> Body:
        if self.app is not None:
            return self._to_app(environ, start_response)
        head = environ.get("REQUEST_METHOD") == "HEAD"
        page = self._not_found_page()
        if page is not None:
            body = self._transmit(environ, start_response, plan_not_found_page(page, head=head))
            if body is not None:
                return body
            with self._lock:
                self.core.not_found_page_changed()
        return self._respond(start_response, plan_text(404, "Not Found", head=head))

    def _not_found_page(self) -> Representation | None:
        now = time.monotonic()
        with self._lock:
            due = self.core.not_found_page_due(now)
        if due:
            found = translate_not_found_page(self.core.rules)
            with self._lock:
                self.core.not_found_page_found(found, now)
        with self._lock:
            return self.core.not_found_representation()
