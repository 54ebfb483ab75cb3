"""The ASGI adapter: scope -> HTTP decision -> cached entry -> disk strategy -> transmit.

One class serves as middleware (``FlashStatic(app, ...)``), as a mountable app
(``Mount("/static", app=FlashStatic(directory=...))``) and as the standalone server's app.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import resource
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .amped.pool import HelperFailed, JobTooLarge, PoolBusy
from .amped.strategy import DiskStrategy, FileChanged, FileTruncated, make_strategy
from .cache.directories import DirectoryKey, DirectoryListings, Verdict
from .cache.entry import FileEntry, Representation
from .cache.pathname import Answer
from .cache.responses import CachedResponse, single_slice
from .config import AddHeadersFunction, ImmutableTest, Root, endpoint_path, static_options
from .core import (
    StaticCore,
    busy_plan,
    changing_plan,
    file_of,
    listing_plan,
    open_failure_plan,
    rejected_plan,
)
from .http.cors import echoes_origin, preflight_fields
from .http.listing import listing_start
from .http.paths import PathRejected, SafePath
from .http.redirects import relative_redirect
from .http.respond import (
    FileSlice,
    ResponsePlan,
    plan_health,
    plan_not_found_page,
    plan_redirect,
    plan_text,
    request_fields,
    request_fields_with_origin,
    request_from_fields,
)
from .metrics import LoopLagMonitor, MetricsApp, plan_metrics, snapshot
from .translate import MISSING, RedirectTo, Translation, candidates
from .transmit.body import BodyMessages, MemoryReader, Receive, Send, SliceMessages, send_plan
from .transmit.files import FileAnswer, FilePart, ResponseFile
from .transmit.zerocopy import PATHSEND, ZEROCOPYSEND, PathMessage, ZeroCopyMessages

Scope = dict[str, Any]

logger = logging.getLogger("flashstatic")


def default_open_files() -> int:
    """A quarter of the descriptors this process may open, at most 4096: the rest is for
    connections, helpers and the app. Never more than that quarter, however low the limit:
    a cache holding every descriptor would leave none for the next connection."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(1, min(4096, soft // 4))


def route_path(scope: Scope) -> str:
    """The path below the app's mount point (Starlette's Mount sets root_path)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path) and (len(path) == len(root_path) or path[len(root_path)] == "/"):
        return path[len(root_path) :]
    return path


def redirect_location(scope: Scope, kind: str) -> str:
    return relative_redirect(kind, scope.get("raw_path"), scope["path"], scope.get("query_string", b""))


class FlashStatic:
    def __init__(
        self,
        app: Any = None,
        directory: str | os.PathLike[str] | None = None,
        prefix: str | None = None,
        *,
        root: str | os.PathLike[str] | None = None,
        packages: Sequence[str | tuple[str, str]] | None = None,
        html: bool = False,
        check_dir: bool = True,
        follow_symlink: bool = False,
        allow_dotfiles: bool = False,
        max_age: int | None = 60,
        index_file: bool | str | None = None,
        redirect_index: bool | None = None,
        mimetypes: dict[str, str] | None = None,
        charset: str = "utf-8",
        add_headers_function: AddHeadersFunction | None = None,
        allow_all_origins: bool = False,
        cors_origins: Sequence[str] = (),
        cache_control: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        immutable_file_test: ImmutableTest | str | None = None,
        autorefresh: bool | None = None,
        revalidate_interval: float = 1.0,
        pathname_cache_size: int = 10_000,
        small_file_max: int = 64 * 1024,
        small_file_cache_bytes: int = 32 * 1024 * 1024,
        chunk_size: int = 64 * 1024,
        sendfile_chunk: int = 1024 * 1024,
        max_ranges: int = 32,
        listing: bool = False,
        architecture: str = "amped",
        helper_backend: str = "process",
        min_helpers: int = 1,
        max_helpers: int = 4,
        helper_queue: int = 256,
        helper_timeout: float = 30.0,
        page_in_size: int = 512 * 1024,
        open_files: int | None = None,
        metrics_path: str | None = None,
        health_path: str | None = None,
    ) -> None:
        if isinstance(app, (str, os.PathLike)):
            raise TypeError("FlashStatic's first argument is the ASGI app to wrap; pass the directory as directory=...")
        self.app = app
        self.options = static_options(
            directory,
            prefix,
            root=root,
            packages=packages,
            html=html,
            check_dir=check_dir,
            follow_symlink=follow_symlink,
            allow_dotfiles=allow_dotfiles,
            max_age=max_age,
            index_file=index_file,
            redirect_index=redirect_index,
            mimetypes=mimetypes,
            charset=charset,
            add_headers_function=add_headers_function,
            allow_all_origins=allow_all_origins,
            cors_origins=cors_origins,
            cache_control=cache_control,
            immutable_file_test=immutable_file_test,
            autorefresh=autorefresh,
            revalidate_interval=revalidate_interval,
            pathname_cache_size=pathname_cache_size,
            small_file_max=small_file_max,
            small_file_cache_bytes=small_file_cache_bytes,
            chunk_size=chunk_size,
            sendfile_chunk=sendfile_chunk,
            max_ranges=max_ranges,
            listing=listing,
        )
        self.disk: DiskStrategy = make_strategy(
            architecture,
            helper_backend=helper_backend,
            min_helpers=min_helpers,
            max_helpers=max_helpers,
            helper_queue=helper_queue,
            helper_timeout=helper_timeout,
            page_in_size=page_in_size,
            open_files=default_open_files() if open_files is None else open_files,
        )
        # Prometheus text at this path (below the mount point), and the loop-lag monitor that
        # only runs when someone may read it.
        self.metrics_path = "/" + metrics_path.lstrip("/") if metrics_path is not None else None
        self.loop_lag = LoopLagMonitor() if metrics_path is not None else None
        # "ok" at this path (below the mount point), answered without the disk.
        self.health_path = endpoint_path("health_path", health_path)
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

    def close(self) -> None:
        """Stop the helpers and close cached files (also done at interpreter exit)."""
        self._stop_monitor()
        self.disk.close()

    async def aclose(self) -> None:
        """close() without blocking the event loop; done on lifespan shutdown."""
        self._stop_monitor()
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
        if self.loop_lag is not None:
            self.loop_lag.start()

    def _stop_monitor(self) -> None:
        if self.loop_lag is not None:
            self.loop_lag.stop()

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._not_http(scope, receive, send)
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
        path = route_path(scope)
        head = scope["method"] == "HEAD"
        if path == self.metrics_path:
            self._start_monitor()
            await send_plan(send, receive, plan_metrics(scope["method"], self.metrics()), None)
            return
        if path == self.health_path:
            await send_plan(send, receive, plan_health(scope["method"]), None)
            return
        try:
            if self.core.covers(path):
                await self._serve(scope, receive, send, path)
            else:
                await self._miss(scope, receive, send)
        except (PoolBusy, HelperFailed) as exc:
            # Raised only before a response starts: say so plainly and let the client come back.
            await send_plan(send, receive, busy_plan(exc, head=head), None)
        except PathRejected as rejected:
            if self.app is not None:
                # Not a file we could serve, so the app decides, as for any other miss.
                await self.app(scope, receive, send)
            else:
                await send_plan(send, receive, rejected_plan(rejected, head=head), None)

    def answer_or_file(
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
        if self.core.bodies.cacheable(facts):
            return None  # the body cache's way, once it holds the bytes
        kept = self.disk.kept_open(facts)
        if kept is None:
            return None
        self.core.answers.count_hit()
        self.core.transmissions["direct"] += 1
        return FileAnswer(plan.status, plan.headers, ResponseFile(self.disk, kept), part.start, part.stop)

    def file_again(self, path: str, entry: FileEntry, part: FilePart, status: int) -> FileAnswer | None:
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

    async def _serve(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        head = scope["method"] == "HEAD"
        # Two attempts: a file that changed between translation and open is translated afresh.
        for attempt in range(2):
            answer = await self._answer(path, fresh=attempt > 0)
            if isinstance(answer, RedirectTo):
                await send_plan(send, receive, plan_redirect(redirect_location(scope, answer.kind), head=head), None)
                return
            if not isinstance(answer, FileEntry):
                if not (answer is MISSING and await self._directory_listing(scope, receive, send, path)):
                    await self._miss(scope, receive, send)
                return
            plan = self._plan(scope, answer)
            if await self._transmit(scope, receive, send, plan):
                return
            self.core.forget(path)
        await send_plan(send, receive, changing_plan(head=head), None)

    async def _directory_listing(self, scope: Scope, receive: Receive, send: Send, path: str) -> bool:
        """listing=True: send the listing of the directory ``path`` names, or its redirect to a
        trailing slash; False when it names no directory to list (a miss)."""
        method = scope["method"]
        if not self.options.listing or method not in ("GET", "HEAD"):
            return False
        query = scope.get("query_string", b"").decode("latin-1")
        start = listing_start(query)
        found = await self.disk.list_page(self.core.rules, path, start or 0)
        accept = next((value.decode("latin-1") for name, value in scope["headers"] if name.lower() == b"accept"), None)
        plan = listing_plan(found, start, method=method, accept=accept, query=query, url_path=scope["path"])
        if plan is None:
            return False
        if isinstance(plan, str):
            plan = plan_redirect(redirect_location(scope, plan), head=method == "HEAD")
        await send_plan(send, receive, plan, None)
        return True

    def _plan(self, scope: Scope, entry: FileEntry) -> ResponsePlan:
        method, headers = scope["method"], scope["headers"]
        if method == "OPTIONS" and self.core.cors is not None:
            preflight = self.core.preflight(*preflight_fields(headers))
            if preflight is not None:
                return preflight
        return self.core.plan(request_from_fields(self.core.answers.read_fields(method, headers)), entry)

    async def _transmit(self, scope: Scope, receive: Receive, send: Send, plan: ResponsePlan) -> bool:
        """Send ``plan``; False if its file changed before the first byte went out."""
        slices: SliceMessages | None = None
        opened: ResponseFile | None = None
        source = file_of(plan)
        if plan.body and source is not None:
            try:
                if self.core.bodies.cacheable(source.facts):
                    slices = BodyMessages(await self._small_body(source), self.options.chunk_size)
                    self.core.transmissions["memory"] += 1
                else:
                    opened = ResponseFile(self.disk, await self.disk.open(source.facts, self.core.rules))
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

    async def _small_body(self, rep: Representation) -> MemoryReader:
        facts = rep.facts
        body = self.core.bodies.get(facts)
        if body is None:
            file = await self.disk.open(facts, self.core.rules)
            try:
                body = await self.disk.read(file, 0, facts.size)
            finally:
                self.disk.release(file)
            self.core.bodies.put(facts, body)
        return MemoryReader(body)

    async def _answer(self, path: str, *, fresh: bool = False) -> Answer:
        now = time.monotonic()
        if not fresh:
            answer, stale = self.core.lookup(path, now)
            if answer is not None and not stale:
                return answer
            if answer is not None and self.options.revalidate_interval > 0:
                # Stale-while-revalidate: a hot path never waits for its periodic stat, which
                # under AMPED is a helper round trip. With an interval of 0 the caller asked
                # for every request to see the disk, so that case waits.
                self._revalidate_later(path)
                return answer
        return self.core.store(path, await self._translate(path, fresh), now)

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

    async def _translate(self, path: str, fresh: bool) -> Translation:
        if not fresh:
            known = self.core.from_scan(path)
            if known is not None:
                return known
        found = candidates(self.core.rules.roots, path)  # a path to refuse is refused here, not in a helper
        if self._listings is None or fresh:
            return await self.disk.translate(self.core.rules, path)
        verdict = await self._consult_listings(found)
        if verdict is Verdict.ABSENT:
            self.core.misses_listed += 1
            return MISSING
        return await self.disk.translate(self.core.rules, path, speculative=verdict is Verdict.UNKNOWN)

    async def _consult_listings(self, found: list[tuple[Root, SafePath]]) -> Verdict:
        """What the directory listings say of a path not in the pathname cache. Listings are
        fetched only while helpers have a backlog (a flood of misses, say), and then first,
        one directory level at a time and once however many ask, so that the path's own
        lookup can be ranked: absent (no lookup at all), present, or unknown (the lesser
        lane). Without a backlog, only listings still trusted are consulted."""
        assert self._listings is not None
        verdict, to_list = self._listings.verdict(self.core.rules.roots, found, time.monotonic())
        for _ in range(_MAX_LISTED_LEVELS):
            if to_list is None or not self.disk.backlogged():
                break
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
            names = await self.disk.list_directory(self.core.rules, *key)
        except (PoolBusy, HelperFailed, JobTooLarge):
            names = None  # not known for a while: lookups below it take the lesser lane
        self._listings.store(key, names, time.monotonic())

    async def _miss(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is not None:
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        page = await self._not_found_page()
        if page is not None and await self._transmit(scope, receive, send, plan_not_found_page(page, head=head)):
            return
        if page is not None:
            self.core.not_found_page_changed()
        await send_plan(send, receive, plan_text(404, "Not Found", head=head), None)

    async def _not_found_page(self) -> Representation | None:
        now = time.monotonic()
        if self.core.not_found_page_due(now):
            self.core.not_found_page_found(await self.disk.translate_not_found_page(self.core.rules), now)
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
