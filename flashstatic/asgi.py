"""The ASGI adapter: scope -> HTTP decision -> cached entry -> disk strategy -> transmit.

One class serves as middleware (``FlashStatic(app, ...)``), as a mountable app
(``Mount("/static", app=FlashStatic(directory=...))``) and as the standalone server's app.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import stat
import time
from typing import TYPE_CHECKING, Any, cast

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive as AnyReceive
from starlette.types import Scope as AnyScope
from starlette.types import Send as AnySend

from .amped.openfiles import default_open_files
from .amped.pool import HelperFailed, JobTooLarge, PoolBusy
from .amped.strategy import DiskStrategy, FileChanged, FileTruncated, PortableThreads, make_strategy
from .cache.directories import DirectoryKey, DirectoryListings, Verdict
from .cache.encoder import compress_body
from .cache.entry import FileEntry, Representation, build_entry
from .cache.pathname import Answer
from .cache.responses import CachedResponse, single_slice
from .config import STATIC_KEYWORDS, Options, Root, StaticArguments, endpoint_path, options_or_arguments
from .core import StaticCore, busy_plan, changing_plan, file_of, listing_plan, open_failure_plan, rejected_plan
from .http.cors import echoes_origin, preflight_fields
from .http.listing import listing_start
from .http.paths import PathRejected, SafePath
from .http.redirects import relative_redirect
from .http.respond import (
    ALLOWED_METHODS,
    FileRequest,
    FileSlice,
    ResponsePlan,
    body_expected,
    compression_due,
    file_request,
    plan_health,
    plan_not_found_page,
    plan_redirect,
    plan_text,
    request_fields,
    request_fields_with_origin,
    request_from_fields,
)
from .metrics import LoopLagMonitor, MetricsApp, plan_metrics, snapshot
from .server.shortcut import StaticShortcut
from .translate import MISSING, FileFacts, FoundFile, RedirectTo, Translation, candidates
from .transmit.body import BodyMessages, MemoryReader, Receive, Send, SliceMessages, send_plan
from .transmit.files import FileAnswer, FilePart, ResponseFile
from .transmit.zerocopy import PATHSEND, ZEROCOPYSEND, PathMessage, ZeroCopyMessages
from .watch import OVERFLOW, Change, ChangeFeed, change_feed

if TYPE_CHECKING:
    from typing_extensions import Unpack

Scope = dict[str, Any]

logger = logging.getLogger("flashstatic")

# None when no asyncio loop runs this task (trio, or another loop under anyio). A C function,
# so asking costs next to nothing.
_asyncio_loop = asyncio._get_running_loop
_ALLOW = {"Allow": ", ".join(ALLOWED_METHODS)}
_NO_LOOP = object()


def route_path(scope: Scope) -> str:
    """The path below the app's mount point (Starlette's Mount sets root_path)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path) and (len(path) == len(root_path) or path[len(root_path)] == "/"):
        return path[len(root_path) :]
    return path


def redirect_location(scope: Scope, kind: str) -> str:
    return relative_redirect(kind, scope.get("raw_path"), scope["path"], scope.get("query_string", b""))


def in_starlette_app(scope: Scope) -> bool:
    """Whether a Starlette (or FastAPI) app is around us: its exception middleware turns an
    HTTPException into the app's own response. A bare Router has none, so there raising
    would be a 500."""
    return isinstance(scope.get("app"), Starlette)


def wants_fallback(path: str) -> bool:
    """A path a single-page app routes itself: its last segment has no file extension."""
    return "." not in path.rsplit("/", 1)[-1]


def no_cache(plan: ResponsePlan) -> ResponsePlan:
    """The app shell answers many URLs and changes with each deploy: revalidated every time."""
    headers = [(name, value) for name, value in plan.headers if name != b"cache-control"]
    return plan._replace(headers=[*headers, (b"cache-control", b"no-cache")])


class FlashStatic:
    def __init__(
        self,
        app: Any = None,
        directory: str | os.PathLike[str] | None = None,
        prefix: str | None = None,
        *,
        options: Options | None = None,
        **arguments: Unpack[StaticArguments],
    ) -> None:
        """The keywords are StaticArguments (docs/configuration.md); or a ready ``options``."""
        if isinstance(app, (str, os.PathLike)):
            raise TypeError("FlashStatic's first argument is the ASGI app to wrap; pass the directory as directory=...")
        self.app = app
        self.options = options_or_arguments("FlashStatic", options, directory, prefix, arguments, STATIC_KEYWORDS)
        disk = self.options.disk
        self._open_files = default_open_files() if disk.open_files is None else disk.open_files
        self.disk: DiskStrategy = make_strategy(disk, self._open_files)
        # Prometheus text at this path (below the mount point), and the loop-lag monitor that
        # only runs when someone may read it.
        metrics_path = self.options.metrics_path
        self.metrics_path = "/" + metrics_path.lstrip("/") if metrics_path is not None else None
        self.loop_lag = LoopLagMonitor() if metrics_path is not None else None
        # Starlette's one-off check, at the first request, that the directory is one.
        self.config_checked = False
        # Starlette's hooks: a subclass that overrides one gets every request through them.
        self._hooked = overrides_hooks(type(self))
        self._threads: DiskStrategy | None = None  # the disk strategy off asyncio, made when first needed
        # "ok" at this path (below the mount point), answered without the disk.
        self.health_path = endpoint_path("health_path", self.options.health_path)
        # Changes in the directories cached files came from, seen at once (watch.py). Not
        # needed when every request asks the disk, nor wanted when the files were scanned once.
        self._changes: ChangeFeed | None = None
        self._changes_loop: object = _NO_LOOP  # the asyncio loop that reads them for us
        self._watch_wanted = self.options.revalidate_interval > 0 and not self.options.scan_once
        self._configure()

    def add_files(self, root: str | os.PathLike[str], prefix: str | None = None) -> None:
        """WhiteNoise's way to serve another directory; roots are searched in the order added."""
        self.options = self.options.with_root(os.fspath(root), prefix)
        self._configure()

    def _configure(self) -> None:
        reader = request_fields_with_origin if echoes_origin(self.options.cors) else request_fields
        self.core = StaticCore(self.options, read_fields=reader)
        # Stale paths waiting for the revalidation batch (a dict keeps their order).
        self._stale: dict[str, None] = {}
        self._revalidation: asyncio.Future[None] | None = None
        # What directories hold, so that while helpers are backlogged a request for a name that
        # is not there is a 404 without a helper. Trusted for at most a second, so that a file
        # added during a flood is found soon; not used with revalidate_interval=0, which asks
        # the disk every time.
        interval = min(self.options.revalidate_interval, _LISTING_TRUSTED)
        self._listings = DirectoryListings(interval) if interval > 0 and not self.options.scan_once else None
        self._listing: dict[DirectoryKey, asyncio.Future[None]] = {}  # listings under way
        # compress=True: (file, coding) being compressed; a request that finds one waits for it.
        self._compressing: dict[tuple[FileFacts, str], anyio.Event] = {}
        self._shortcut = self._make_shortcut()
        self._passed_on = self._paths_not_ours()

    def _paths_not_ours(self) -> tuple[str, ...] | None:
        """As middleware: the prefixes of every path we may answer; a request whose path starts
        with none of them goes straight to the app, with no cache lookup. None: no such path
        (standalone, a root at "/", or hooks that may see paths their own way)."""
        if self.app is None or self._hooked:
            return None
        prefixes = [root.prefix for root in self.options.roots]
        if "" in prefixes:
            return None
        return tuple(prefixes) + tuple(path for path in (self.metrics_path, self.health_path) if path is not None)

    def close(self) -> None:
        """Stop the helpers and close cached files (also done at interpreter exit)."""
        self._stop_monitor()
        self.disk.close()

    async def aclose(self) -> None:
        """close() without blocking the event loop; done on lifespan shutdown."""
        self._stop_monitor()
        if self._threads is not None:
            self._threads.close()
        if _asyncio_loop() is None:
            self.disk.close()  # helpers run only on asyncio: none to wait for here
        else:
            await self.disk.aclose()

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters of Flash's caches, the disk strategy and the ways file bodies went out."""
        stats = self.core.stats()
        stats["disk"] = self.disk.stats()
        return stats

    def metrics(self) -> dict[str, Any]:
        """stats() with this process's bytes by sendfile and by body messages and the loop's
        lag (None unless metrics_path is set): what the metrics endpoint shows."""
        return snapshot(self.stats(), self.loop_lag)

    @property
    def metrics_app(self) -> MetricsApp:
        """What ``metrics_path`` serves, as an ASGI app to mount behind your own auth or run
        on another listener; the loop-lag monitor runs from then on, even without metrics_path."""
        if self.loop_lag is None:
            self.loop_lag = LoopLagMonitor()
        return MetricsApp(self.metrics, self.loop_lag)

    def _start_monitor(self) -> None:
        # The lag monitor times asyncio callbacks; under another loop there is none to time.
        if self.loop_lag is not None and _asyncio_loop() is not None:
            self.loop_lag.start()

    def _stop_monitor(self) -> None:
        if self.loop_lag is not None:
            self.loop_lag.stop()

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._not_http(scope, receive, send)
            return
        passed_on = self._passed_on
        if (
            passed_on is not None
            and not (route_path(scope) if scope.get("root_path") else scope["path"]).startswith(passed_on)
            and not overrides_hooks(type(self))
        ):
            await self.app(scope, receive, send)  # the app's own request: nothing of ours to do
            return
        if self._watch_wanted and self._changes_loop is not _asyncio_loop():
            self._follow_changes()  # first on this loop: first hear what changed meanwhile
        if self._hooked:
            await self._call_hooks(scope, receive, send)
            return
        # The hot path; route_path is called only when the app is mounted below a root_path.
        response = self.core.answers.response(
            route_path(scope) if scope.get("root_path") else scope["path"], scope["method"], scope["headers"]
        )
        if response is not None:
            status, headers, body = response
            await send({"type": "http.response.start", "status": status, "headers": list(headers)})
            await send({"type": "http.response.body", "body": body})
            return
        if overrides_hooks(type(self)):  # a hook patched onto the class after construction
            await self._call_hooks(scope, receive, send)
            return
        disk = self.disk if _asyncio_loop() is not None else self._thread_disk()
        if not self.config_checked:
            await self._check_config()
        path = route_path(scope)
        head = scope["method"] == "HEAD"
        if path == self.metrics_path:
            self._start_monitor()
            await send_plan(send, receive, plan_metrics(scope["method"], self.metrics()), None)
            return
        if path == self.health_path:
            await send_plan(send, receive, plan_health(scope["method"]), None)
            return
        if self.app is None and self._refused_method(scope["method"]) and in_starlette_app(scope):
            raise HTTPException(405, headers=_ALLOW)  # as StaticFiles: the app's handlers answer
        try:
            if self.core.covers(path):
                await self._serve(scope, receive, send, path, disk)
            else:
                await self._miss(scope, receive, send, path, disk)
        except (PoolBusy, HelperFailed) as exc:
            # Raised only before a response starts: say so plainly and let the client come back.
            await send_plan(send, receive, busy_plan(exc, head=head), None)
        except PathRejected as rejected:
            if self.app is not None:
                # Not a file we could serve, so the app decides, as for any other miss.
                await self.app(scope, receive, send)
            elif rejected.status == 404 and in_starlette_app(scope):
                raise HTTPException(404) from None
            else:
                await send_plan(send, receive, rejected_plan(rejected, head=head), None)

    def _follow_changes(self) -> None:
        if self._changes is None:
            self._changes = change_feed()
            if self._changes is None:
                self._watch_wanted = False  # no inotify: the revalidation interval alone
                return
            self._changes.listen(self)
        loop = _asyncio_loop()
        if loop is None:
            # trio, or another loop under anyio: nothing reads the watch for us, so it is read
            # here, at the start of each request (one non-blocking read).
            self._changes.dispatch()
        else:
            self._changes_loop = loop
            self._changes.follow(loop)
        self._watch_new_directories()

    def _watch_new_directories(self) -> None:
        if self._changes is not None:
            directories = self.core.directories_to_watch()
            if directories:
                self._changes.watch(directories)

    def directory_changed(self, change: Change) -> None:
        """A watched directory changed: forget what was answered from it (ChangeFeed calls this)."""
        if change is OVERFLOW:
            self.core.changed(None)
        else:
            self.core.changed(change.directory)  # a name there came, went or changed
            if change.subtree:
                self.core.changed(change.path, subtree=True)  # and every file beneath it
        if self._listings is not None:
            self._listings.clear()

    def _refused_method(self, method: str) -> bool:
        """Not GET or HEAD, nor a CORS preflight that cors_origins has us answer."""
        return method not in ALLOWED_METHODS and not (method == "OPTIONS" and self.core.cors is not None)

    def _thread_disk(self) -> DiskStrategy:
        """The disk strategy under trio or any loop but asyncio's: anyio's threads."""
        if self._threads is None:
            logger.info(
                "flashstatic: AMPED needs asyncio (its helpers answer through the asyncio loop); "
                "under this event loop disk work runs in threads"
            )
            self._threads = PortableThreads(self._open_files)
        return self._threads

    async def _check_config(self) -> None:
        """Starlette's check at the first request (check_dir=False defers it to here): a
        directory that is missing or is a file is a loud error, not a 404 for every path."""
        for root in self.options.roots:
            try:
                found = await anyio.to_thread.run_sync(os.stat, root.directory)
            except FileNotFoundError:
                raise RuntimeError(f"Directory '{root.directory}' does not exist") from None
            if not stat.S_ISDIR(found.st_mode):
                raise RuntimeError(f"Path '{root.directory}' is not a directory")
        self.config_checked = True

    # -- Starlette's hooks --------------------------------------------------------------------

    def get_path(self, scope: Scope) -> str:
        """Starlette's hook: the path below the mount point as a normalised relative file path
        ("." for the top)."""
        return os.path.normpath(os.path.join(*route_path(scope).split("/")))

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        """Starlette's hook (blocking, run in a thread): the file a relative path names in the
        first root that has it and its stat, or ("", None). Subclasses override it to map
        paths; the built-in translation does not call it."""
        if path.startswith(("/", "\\")):
            return "", None
        for root in self.options.roots:
            base = os.path.realpath(root.directory)
            joined = os.path.join(base, path)
            full = os.path.abspath(joined) if self.options.follow_symlink else os.path.realpath(joined)
            if os.path.commonpath([full, base]) != base:
                continue
            try:
                return full, os.stat(full)
            except (FileNotFoundError, NotADirectoryError):
                continue
        return "", None

    async def get_response(self, path: str, scope: Scope) -> Response:
        """Starlette's hook: the response for ``path`` (as get_path gives it); raises
        HTTPException(404) for a miss and HTTPException(405) for a method other than GET or
        HEAD. Overriding it (or lookup_path) routes every request through it."""
        if scope["method"] not in ALLOWED_METHODS:
            raise HTTPException(405, headers=_ALLOW)
        disk = self.disk if _asyncio_loop() is not None else self._thread_disk()
        url = "/" if path == "." else "/" + path.replace(os.sep, "/")
        if scope.get("path", "").endswith("/") and not url.endswith("/"):
            url += "/"
        head = scope["method"] == "HEAD"
        try:
            answer = await (self._looked_up(path, url) if self._hooked_lookup else self._answer(url, disk))
        except PathRejected:
            answer = MISSING  # outside every root, or no name a file can have: not found
        if isinstance(answer, RedirectTo):
            return PlannedResponse(self, plan_redirect(redirect_location(scope, answer.kind), head=head), disk)
        if isinstance(answer, FileEntry):
            request = file_request(scope["method"], scope.get("headers", []))
            return PlannedResponse(self, await self._file_plan(request, answer, disk), disk)
        if self.options.fallback is not None and wants_fallback(url):
            shell = await self._fallback(disk)
            if shell is not None:
                request = file_request(scope["method"], scope.get("headers", []))
                return PlannedResponse(self, no_cache(await self._file_plan(request, shell, disk)), disk)
        page = await self._not_found_page(disk)
        if page is not None:
            return PlannedResponse(self, plan_not_found_page(page, head=head), disk)
        raise HTTPException(404)

    @property
    def _hooked_lookup(self) -> bool:
        return type(self).lookup_path is not _OWN_LOOKUP_PATH

    async def _looked_up(self, path: str, url: str) -> Answer:
        """What an overridden lookup_path says, as a (not cached) answer: a file, a redirect
        to a directory's slash, or nothing."""
        full, found = await anyio.to_thread.run_sync(self.lookup_path, path)
        index = self.options.index_file
        if found is not None and stat.S_ISDIR(found.st_mode) and index is not None:
            full, found = await anyio.to_thread.run_sync(self.lookup_path, os.path.join(path, index))
            if found is not None and stat.S_ISREG(found.st_mode) and not url.endswith("/"):
                return RedirectTo("slash")
        if found is None or not stat.S_ISREG(found.st_mode):
            return MISSING
        return build_entry(FoundFile(url, FileFacts.from_stat(full, found), ()), self.options)

    async def _call_hooks(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A subclass's hooks decide every request, as in StaticFiles."""
        if not self.config_checked:
            await self._check_config()
        try:
            response = await self.get_response(self.get_path(scope), scope)
        except (PoolBusy, HelperFailed) as busy:
            await send_plan(send, receive, busy_plan(busy, head=scope["method"] == "HEAD"), None)
            return
        except HTTPException as exc:
            if self.app is not None and exc.status_code == 404:
                await self.app(scope, receive, send)
                return
            if in_starlette_app(scope):
                raise
            # No app to render it (standalone): answered as Starlette's default handler would.
            extra = [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (exc.headers or {}).items()
            ]
            plan = plan_text(exc.status_code, exc.detail, extra, head=scope["method"] == "HEAD")
            await send_plan(send, receive, plan, None)
            return
        await response(scope, receive, cast(AnySend, send))  # ours takes the dicts every server sends

    def server_shortcut(self) -> StaticShortcut | None:
        """All that flashstatic's uvicorn protocol may call on this app to answer a request
        before it builds a scope (server/shortcut.py); the same object until add_files().
        None for a subclass with Starlette's hooks: they must see every request."""
        return None if self._hooked else self._shortcut

    def _make_shortcut(self) -> StaticShortcut:
        answers = self.core.answers
        return StaticShortcut(
            response=answers.response,
            answer_or_file=self._answer_or_file,
            entry=answers.entry,
            answered_again=answers.answered_again,
            file_again=self._file_again,
            sendfile_chunk=self.options.sendfile_chunk,
        )

    def _answer_or_file(
        self, path: str, method: str, headers: list[tuple[bytes, bytes]]
    ) -> CachedResponse | FileAnswer | None:
        """The cached response (``answers.response``), for a caller that also sends files
        itself (the uvicorn protocol of ``flashstatic serve``, which answers before it builds a
        scope): a response whose body is one slice of a file too large for the body cache,
        from a fresh entry and a file kept open, so that nothing waits, is a FileAnswer, whose
        file the caller closes."""
        plan = self.core.answers.plan(path, method, headers)
        if plan is None:
            return None
        return self.core.answers.response_from(plan) or self._file_answer(plan)

    def _file_answer(self, plan: ResponsePlan) -> FileAnswer | None:
        part, source = single_slice(plan), file_of(plan)
        if part is None or source is None:
            return None
        facts = source.facts
        if source.compressed_here or self.core.bodies.cacheable(facts):
            return None  # the body cache's way, once it holds the bytes
        kept = self.disk.kept_open(facts)
        if kept is None:
            return None
        self.core.answers.count_hit()
        self.core.transmissions["direct"] += 1
        return FileAnswer(plan.status, plan.headers, ResponseFile(self.disk, kept), part.start, part.stop)

    def _file_again(self, path: str, entry: FileEntry, part: FilePart, status: int) -> FileAnswer | None:
        """For a caller that kept a FileAnswer's request: the same answer again, while ``entry``
        is still the fresh answer for ``path`` and the file is still kept open."""
        kept = self.disk.kept_open(part.facts)
        if kept is None:
            return None
        if not self.core.answers.answered_again(path, entry, body=False):
            self.disk.release(kept)
            return None
        self.core.transmissions["direct"] += 1
        return FileAnswer(status, (), ResponseFile(self.disk, kept), part.start, part.stop)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, path: str, disk: DiskStrategy) -> None:
        head = scope["method"] == "HEAD"
        # Two attempts: a file that changed between translation and open is translated afresh.
        for attempt in range(2):
            answer = await self._answer(path, disk, fresh=attempt > 0, scope=scope)
            if isinstance(answer, RedirectTo):
                await send_plan(send, receive, plan_redirect(redirect_location(scope, answer.kind), head=head), None)
                return
            if not isinstance(answer, FileEntry):
                if not (answer is MISSING and await self._directory_listing(scope, receive, send, path, disk)):
                    await self._miss(scope, receive, send, path, disk)
                return
            plan = await self._plan(scope, answer, disk)
            if await self._transmit(scope, receive, send, plan, disk):
                return
            self.core.forget(path)
        await send_plan(send, receive, changing_plan(head=head), None)

    async def _directory_listing(
        self, scope: Scope, receive: Receive, send: Send, path: str, disk: DiskStrategy
    ) -> bool:
        """listing=True: send the listing of the directory ``path`` names, or its redirect to a
        trailing slash; False when it names no directory to list (a miss)."""
        method = scope["method"]
        if not self.options.listing or method not in ("GET", "HEAD"):
            return False
        query = scope.get("query_string", b"").decode("latin-1")
        start = listing_start(query)
        found = await disk.list_page(self.core.rules, path, start or 0)
        accept = next((value.decode("latin-1") for name, value in scope["headers"] if name.lower() == b"accept"), None)
        plan = listing_plan(found, start, method=method, accept=accept, query=query, url_path=scope["path"])
        if plan is None:
            return False
        if isinstance(plan, str):
            plan = plan_redirect(redirect_location(scope, plan), head=method == "HEAD")
        await send_plan(send, receive, plan, None)
        return True

    async def _plan(self, scope: Scope, entry: FileEntry, disk: DiskStrategy) -> ResponsePlan:
        method, headers = scope["method"], scope["headers"]
        if method == "OPTIONS" and self.core.cors is not None:
            preflight = self.core.preflight(*preflight_fields(headers))
            if preflight is not None:
                return preflight
        request = request_from_fields(self.core.answers.read_fields(method, headers))
        return await self._file_plan(request, entry, disk)

    async def _file_plan(self, request: FileRequest, entry: FileEntry, disk: DiskStrategy) -> ResponsePlan:
        """The core's plan, once the body it may choose exists (compress=True)."""
        await self._compress_if_due(request, entry, disk)
        return self.core.plan(request, entry)

    async def _compress_if_due(self, request: FileRequest, entry: FileEntry, disk: DiskStrategy) -> None:
        """compress=True: compress the file into the coding ``request`` is to get, unless that
        was done (or found not to pay) for this version of the file. A thread compresses,
        never the loop, and once: a request that finds it under way waits for it. On a
        failure the request is planned with the file as it is, which meets the same failure
        and answers it as any request does."""
        if not entry.compressible:
            return
        coding = compression_due(request, entry)
        if coding is None or self.core.compressed_before(entry, coding):
            return
        key = (entry.identity.facts, coding)
        running = self._compressing.get(key)
        if running is not None:
            await running.wait()
            if coding not in entry.compressed:  # compressed for another URL of the same file
                self.core.compressed_before(entry, coding)
            return
        self._compressing[key] = done = anyio.Event()
        try:
            body = await self._file_body(entry.identity.facts, disk)
            self.core.compressed(entry, coding, await anyio.to_thread.run_sync(compress_body, body, coding))
        except (FileChanged, FileTruncated, OSError):
            pass
        finally:
            del self._compressing[key]
            done.set()

    async def _transmit(
        self, scope: Scope, receive: Receive, send: Send, plan: ResponsePlan, disk: DiskStrategy
    ) -> bool:
        """Send ``plan``; False if its file changed before the first byte went out."""
        slices: SliceMessages | None = None
        opened: ResponseFile | None = None
        source = file_of(plan)
        if plan.body and source is not None:
            try:
                if source.compressed_here or self.core.bodies.cacheable(source.facts):
                    slices = BodyMessages(await self._small_body(source, disk), self.options.chunk_size)
                    self.core.transmissions["memory"] += 1
                else:
                    opened = ResponseFile(disk, await disk.open(source.facts, self.core.rules))
                    slices = self._slice_messages(scope, plan, opened)
            except (FileChanged, FileTruncated):
                return False
            except OSError as exc:
                failure = open_failure_plan(exc, head=scope["method"] == "HEAD")
                if failure is None:
                    return False
                plan = failure
        try:
            await send_plan(send, receive, plan, slices)
        finally:
            if opened is not None:
                opened.close()
        return True

    def _slice_messages(self, scope: Scope, plan: ResponsePlan, opened: ResponseFile) -> SliceMessages:
        """The best way the server offers: zero-copy, a whole file by path, or body messages."""
        extensions = scope.get("extensions") or {}
        if ZEROCOPYSEND in extensions:
            self.core.transmissions["zerocopysend"] += 1
            return ZeroCopyMessages(opened, opened.make_resident, self.options.sendfile_chunk)
        assert plan.source is not None
        if PATHSEND in extensions and plan.body == (FileSlice(0, plan.source.size),):
            self.core.transmissions["pathsend"] += 1
            # The descriptor we checked, by a path that cannot be swapped under us; it stays
            # open until the response is over.
            return PathMessage(f"/proc/self/fd/{opened.fileno()}")
        self.core.transmissions["body"] += 1
        return BodyMessages(opened, self.options.chunk_size)

    async def _small_body(self, rep: Representation, disk: DiskStrategy) -> MemoryReader:
        if rep.compressed_here:
            return MemoryReader(await self._compressed_body(rep, disk))
        return MemoryReader(await self._file_body(rep.facts, disk))

    async def _file_body(self, facts: FileFacts, disk: DiskStrategy) -> bytes:
        body = self.core.bodies.get(facts)
        if body is None:
            file = await disk.open(facts, self.core.rules, warm=facts.size)
            try:
                body = await disk.read(file, 0, facts.size)
            finally:
                disk.release(file)
            self.core.bodies.put(facts, body)
        return body

    async def _compressed_body(self, rep: Representation, disk: DiskStrategy) -> bytes:
        """A body compressed here, compressed again (in a thread) if the body cache has
        dropped it: the same input gives the same bytes (cache/encoder.py)."""
        assert rep.encoding is not None
        body = self.core.bodies.get_compressed(rep.facts, rep.encoding)
        if body is None:
            original = await self._file_body(rep.facts, disk)
            body = await anyio.to_thread.run_sync(compress_body, original, rep.encoding)
            if len(body) != rep.size:
                raise FileChanged(rep.facts.path)  # not what its headers say: planned afresh
            self.core.bodies.put_compressed(rep.facts, rep.encoding, body)
        return body

    async def _answer(
        self, path: str, disk: DiskStrategy, *, fresh: bool = False, scope: Scope | None = None
    ) -> Answer:
        """What ``path`` is now, from the caches or the disk; ``scope``, the request it is for,
        says whether a lookup on the disk may open the file for it too."""
        now = time.monotonic()
        answer = None
        if not fresh:
            answer, stale = self.core.lookup(path, now)
            if answer is not None and not stale:
                return answer
            if answer is not None and self.options.revalidate_interval > 0 and disk is self.disk:
                # Stale-while-revalidate: a hot path never waits for its periodic stat, which
                # under AMPED is a helper round trip. With an interval of 0 the caller asked
                # for every request to see the disk, so that case waits, as does a loop other
                # than asyncio's (the batch is an asyncio task).
                self._revalidate_later(path)
                return answer
        # A path known before has its file open already, most likely.
        opening = self._opening(scope) if scope is not None and answer is None else None
        answer = self.core.store(path, await self._translate(path, disk, fresh, opening), now)
        self._watch_new_directories()
        return answer

    def _revalidate_later(self, path: str) -> None:
        """Queue a stale path; one batch at a time revalidates what has queued up, so under
        AMPED the periodic stats of every hot file cost one helper round trip per batch and
        never crowd out the opens and page-ins that requests wait for. The queue is bounded:
        past it a stale path is served stale a little longer and queued on a later hit."""
        if path not in self._stale:
            if len(self._stale) >= _MAX_STALE:
                self.core.revalidations_deferred += 1
                return
            self._stale[path] = None
        running = self._revalidation
        if running is None or running.done() or running.get_loop() is not asyncio.get_running_loop():
            self._revalidation = asyncio.ensure_future(self._revalidate_stale())

    async def _revalidate_stale(self) -> None:
        while self._stale:
            paths = list(itertools.islice(self._stale, _REVALIDATION_BATCH))
            try:
                results = await self.disk.translate_many(self.core.rules, paths)
            except (PoolBusy, HelperFailed) as exc:
                # Nothing learnt: the batch leaves the queue, and its paths, still served
                # from the cache, are queued again when next requested.
                for path in paths:
                    self._stale.pop(path, None)
                if isinstance(exc, HelperFailed):
                    logger.warning(
                        "revalidating %d paths failed (%s); they are retried when next requested", len(paths), exc
                    )
                return
            except Exception:
                logger.exception("revalidating %d paths failed; they will be translated afresh", len(paths))
                results = [RuntimeError("revalidation failed")] * len(paths)
            now = time.monotonic()
            for path, result in zip(paths, results, strict=True):
                self._stale.pop(path, None)
                self.core.revalidations += 1
                if isinstance(result, BaseException):
                    if isinstance(result, JobTooLarge):
                        logger.warning(
                            "a path of %d bytes cannot be revalidated in a batch (%s); "
                            "it is translated afresh when next requested",
                            len(path),
                            result,
                        )
                    self.core.forget(path)  # refused now: translate afresh on next use
                else:
                    self.core.store(path, result, now)
            self._watch_new_directories()

    def _opening(self, scope: Scope) -> int | None:
        """For a lookup on the disk: how much of the file found may be read in with it (a body
        the body cache takes is read whole; of a range, nothing yet), or None when the request
        will likely not read it."""
        expected = body_expected(self.core.answers.read_fields(scope["method"], scope["headers"]))
        if expected is None:
            return None
        return self.options.small_file_max if expected == "whole" else 0

    async def _translate(self, path: str, disk: DiskStrategy, fresh: bool, opening: int | None) -> Translation:
        if not fresh:
            known = self.core.from_scan(path)
            if known is not None:
                return known
        found = candidates(self.core.rules.roots, path)  # a path to refuse is refused here, not in a helper
        if self._listings is None or fresh:
            return await disk.translate(self.core.rules, path, opening=opening)
        verdict = await self._consult_listings(found, disk)
        if verdict is Verdict.ABSENT:
            self.core.misses_listed += 1
            return MISSING
        translation = await disk.translate(
            self.core.rules, path, speculative=verdict is Verdict.UNKNOWN, opening=opening
        )
        self._listings.note(self.core.rules.roots, found, translation is not MISSING)
        return translation

    async def _consult_listings(self, found: list[tuple[Root, SafePath]], disk: DiskStrategy) -> Verdict | None:
        """What the directory listings say of a path not in the pathname cache. Listings are
        fetched only while helpers have a backlog (a flood of misses, say), and then first,
        one directory level at a time and once however many ask, so that the path's own
        lookup can be ranked: absent (no lookup at all), present, or unknown (the lesser
        lane). Without a backlog, only listings still trusted are consulted, and a path they
        cannot rank (None) is looked up like any other: nothing says it is a guess."""
        assert self._listings is not None
        verdict, to_list = self._listings.verdict(self.core.rules.roots, found, time.monotonic())
        for _ in range(_MAX_LISTED_LEVELS):
            if to_list is None:
                break
            if not disk.backlogged():
                return None
            await asyncio.shield(self._fetch_listing(to_list))
            verdict, to_list = self._listings.verdict(self.core.rules.roots, found, time.monotonic())
        return verdict

    def _fetch_listing(self, key: DirectoryKey) -> asyncio.Future[None]:
        """Learn what a directory holds, once however many ask at the same time."""
        task = self._listing.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._list(key))
            self._listing[key] = task
            task.add_done_callback(lambda done: self._listing.get(key) is done and self._listing.pop(key))
        return task

    async def _list(self, key: DirectoryKey) -> None:
        assert self._listings is not None
        try:
            packed = await self.disk.list_directory(self.core.rules, *key, self._listings.key.hex())
        except (PoolBusy, HelperFailed, JobTooLarge):
            packed = None  # not known for a while: lookups below it take the lesser lane
        self._listings.store(key, packed, time.monotonic())

    async def _miss(self, scope: Scope, receive: Receive, send: Send, path: str, disk: DiskStrategy) -> None:
        if self.app is not None:
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if self.options.fallback is not None and self.core.covers(path) and wants_fallback(path):
            shell = await self._fallback(disk)
            if shell is not None:
                plan = no_cache(await self._file_plan(file_request(scope["method"], scope["headers"]), shell, disk))
                if await self._transmit(scope, receive, send, plan, disk):
                    return
        page = await self._not_found_page(disk)
        if page is not None and await self._transmit(scope, receive, send, plan_not_found_page(page, head=head), disk):
            return
        if page is not None:
            self.core.not_found_page_changed()
        if in_starlette_app(scope):
            raise HTTPException(404)  # the app's exception handlers (a custom 404 page) answer
        await send_plan(send, receive, plan_text(404, "Not Found", head=head), None)

    async def _fallback(self, disk: DiskStrategy) -> FileEntry | None:
        """The single-page app's shell, through the pathname cache like any file."""
        assert self.options.fallback is not None
        answer = await self._answer(self.options.roots[0].prefix + "/" + self.options.fallback, disk)
        return answer if isinstance(answer, FileEntry) else None

    async def _not_found_page(self, disk: DiskStrategy) -> Representation | None:
        now = time.monotonic()
        if self.core.not_found_page_due(now):
            self.core.not_found_page_found(await disk.translate_not_found_page(self.core.rules), now)
            self._watch_new_directories()
        return self.core.not_found_representation()

    async def _not_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is not None and scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_on_shutdown(send))
        elif self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._start_monitor()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    def _closing_on_shutdown(self, send: Send) -> Send:
        """The wrapped app owns lifespan; we close our helpers once it has shut down."""

        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                self._start_monitor()
            elif message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.aclose()
            await send(message)

        return wrapped


_OWN_GET_RESPONSE = FlashStatic.get_response
_OWN_LOOKUP_PATH = FlashStatic.lookup_path


def overrides_hooks(cls: type[FlashStatic]) -> bool:
    """Whether requests must go through Starlette's hooks: a subclass (or a patch) replaced one."""
    return cls.get_response is not _OWN_GET_RESPONSE or cls.lookup_path is not _OWN_LOOKUP_PATH


class PlannedResponse(Response):
    """What FlashStatic.get_response returns: a response planned from the caches, sent
    through the disk strategy when called, as Starlette calls any Response."""

    def __init__(self, owner: FlashStatic, plan: ResponsePlan, disk: DiskStrategy) -> None:
        self.status_code = plan.status
        self.background = None
        self.raw_headers = list(plan.headers)
        self._owner = owner
        self._plan = plan
        self._disk = disk

    async def __call__(self, scope: AnyScope, receive: AnyReceive, send: AnySend) -> None:
        ours, receive_, send_ = cast(Scope, scope), cast(Receive, receive), cast(Send, send)
        if not await self._owner._transmit(ours, receive_, send_, self._plan, self._disk):
            await send_plan(send_, receive_, changing_plan(head=scope["method"] == "HEAD"), None)


# Paths per revalidation job. Storing a batch's results runs on the loop: 256 took ~1.8 ms
# there in the disk-bound benchmark and showed in the probe's p99; 64 keeps each store short
# while one helper round trip still covers many stale paths.
_REVALIDATION_BATCH = 64
# Stale paths waiting for revalidation, at most: each is a path a client asked for, so an
# unbounded queue would grow with whatever distinct spellings a client sends.
_MAX_STALE = 4096
# Directory levels listed before one lookup under a helper backlog; deeper, it takes the lesser lane.
_MAX_LISTED_LEVELS = 8
_LISTING_TRUSTED = 1.0
