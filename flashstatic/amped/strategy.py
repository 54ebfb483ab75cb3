"""How file metadata and file bytes are fetched: the seam of the paper's experiment.

Everything above this module asks for a translation, an open file or a chunk of bytes and
awaits it. Whether that work runs on the event loop (SPED), in a thread (MT) or, after a
residency check says it would block, in a helper process (AMPED) is decided here alone.
"""

from __future__ import annotations

import asyncio
import functools
import os
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import anyio.to_thread

from ..config import DiskOptions, Root
from ..listing import DirectoryPage, ListingAnswer, list_page
from ..translate import FileFacts, FoundFile, Translation, TranslationRules, translate, translate_not_found_page
from .jobs import FileChanged, checked_descriptor, open_checked, page_in, run_list_directory, run_translate_many
from .mapped import MappedChunks
from .openfiles import OpenFile, OpenFiles
from .pool import HelperPool, JobTooLarge, ProcessPool, ThreadExecutor, ThreadPool, close_opened_fd
from .residency import (
    NoWaitSupport,
    Probe,
    RecentReads,
    cachestat_resident,
    choose_probe,
    read_if_resident,
)

__all__ = [
    "ARCHITECTURES",
    "DiskStrategy",
    "FileChanged",
    "FileTruncated",
    "OpenFile",
    "PortableThreads",
    "make_strategy",
]

T = TypeVar("T")

ARCHITECTURES = ("amped", "sped", "mt")


def descriptor_path(fd: int) -> str | None:
    """Where the kernel says an open file lies (None without /proc)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def real_roots(roots: tuple[Root, ...]) -> tuple[str, ...]:
    """Blocking: each root's real path, which a deploy that repoints a root's symlink changes."""
    return tuple(os.path.realpath(root.directory) for root in roots)


def lies_beneath(path: str, directories: tuple[str, ...]) -> bool:
    return any(path == top or path.startswith(top.rstrip("/") + "/") for top in directories)


def placed_within(fd: int, known: tuple[str, ...]) -> bool:
    """Whether ``fd`` lies beneath one of ``known``, the roots' real paths as last worked out;
    /proc answers from memory, so this may run on the loop. No /proc to ask: the identity
    check stands alone."""
    where = descriptor_path(fd)
    return where is None or lies_beneath(where, known)


def place_within(fd: int, roots: tuple[Root, ...]) -> tuple[bool, tuple[str, ...]]:
    """Blocking (realpath), so run in a thread: whether ``fd`` lies inside a root, by the
    roots' real paths now, and those paths to remember."""
    known = real_roots(roots)
    return placed_within(fd, known), known


class FileTruncated(Exception):
    """The file ended before the bytes its headers promised."""


class DiskStrategy(Protocol):
    name: str

    async def translate(
        self, rules: TranslationRules, path: str, *, speculative: bool = False, opening: int | None = None
    ) -> Translation:
        """What ``path`` names; ``speculative`` when nothing suggests it exists (AMPED gives
        such lookups a lesser lane, so a flood of misses cannot refuse files that exist).
        ``opening``: the request will read the file, so AMPED may open it with the lookup and
        read it in if it is at most that many bytes; None when it likely will not (a HEAD, a
        conditional request)."""

    async def list_directory(
        self, rules: TranslationRules, root_index: int, segments: tuple[str, ...], digest_key: str
    ) -> str | None:
        """The names in a served directory, packed as digests under ``digest_key``
        (dirnames.pack_names); None: not one, or too large to list."""

    async def list_page(self, rules: TranslationRules, path: str, start: int) -> ListingAnswer:
        """listing=True: a page of what the directory at ``path`` holds (listing.list_page)."""

    async def translate_not_found_page(self, rules: TranslationRules) -> FoundFile | None: ...
    async def translate_many(self, rules: TranslationRules, paths: list[str]) -> list[Translation | Exception]:
        """Translate many paths at once (periodic revalidation); failures per path, as values."""

    async def open(self, facts: FileFacts, rules: TranslationRules, warm: int = 0) -> OpenFile:
        """The open file ``facts`` (translated under ``rules``) describe; raises FileChanged
        or OSError. ``warm``: the first bytes are about to be read, so a strategy that opens
        in a helper may bring them in with the same job."""

    async def read(self, file: OpenFile, offset: int, count: int) -> bytes:
        """Exactly ``count`` bytes at ``offset``, or raise FileTruncated."""

    async def make_resident(self, file: OpenFile, offset: int, count: int) -> None:
        """Before the server sendfiles [offset, offset+count) on the loop: bring it into memory."""

    def kept_open(self, facts: FileFacts) -> OpenFile | None:
        """The file if it is open already, so that nothing waits; None means call open()."""

    def resident_now(self, file: OpenFile, offset: int, count: int) -> bool:
        """Whether the loop may sendfile [offset, offset+count) now, as make_resident would
        let it, without waiting; False means await make_resident first."""

    def release(self, file: OpenFile) -> None: ...
    def backlogged(self) -> bool:
        """Whether disk work is waiting for a helper now (AMPED only)."""

    def close(self) -> None: ...
    async def aclose(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...


def read_exactly(file: OpenFile, offset: int, count: int) -> bytes:
    data = os.pread(file.fd, count, offset)
    if len(data) != count:
        raise FileTruncated(file.facts.path)
    return data


class _Strategy:
    """What every architecture shares: the open-file cache (Flash's caches are in all of them)."""

    name = ""

    def __init__(self, open_files: int) -> None:
        self.open_files = OpenFiles(open_files)
        # Descriptors still cached when the app is dropped without close() are not the GC's job.
        weakref.finalize(self, self.open_files.close_all)
        # Opens under way, by file: a crowd arriving for one file waits for the first opener
        # instead of each sending its own open (and overflowing the helper queue).
        self._opening: dict[FileFacts, asyncio.Future[None]] = {}

    async def open(self, facts: FileFacts, rules: TranslationRules, warm: int = 0) -> OpenFile:
        file = self.open_files.acquire(facts)
        if file is not None:
            return file
        loop = asyncio.get_running_loop()
        pending = self._opening.get(facts)
        if pending is not None and pending.get_loop() is loop:
            await asyncio.shield(pending)
            file = self.open_files.acquire(facts)
            if file is not None:
                return file
            # Not kept (no room, or it failed or changed): open it ourselves.
        opened: asyncio.Future[None] = loop.create_future()
        self._opening[facts] = opened
        try:
            return self.open_files.add(OpenFile(await self._open_fd(facts, rules, warm), facts))
        finally:
            if self._opening.get(facts) is opened:
                del self._opening[facts]
            opened.set_result(None)

    async def _open_fd(self, facts: FileFacts, rules: TranslationRules, warm: int) -> int:
        raise NotImplementedError

    def kept_open(self, facts: FileFacts) -> OpenFile | None:
        """The file if the open-file cache holds it (no open, so nothing to wait for); the
        caller releases it. A miss is not counted: the caller goes on to open()."""
        return self.open_files.acquire(facts, count_miss=False)

    def resident_now(self, file: OpenFile, offset: int, count: int) -> bool:
        """Whether the loop may send these bytes now: SPED never asks, so always."""
        return True

    async def make_resident(self, file: OpenFile, offset: int, count: int) -> None:
        return None  # SPED: the server's sendfile reads the disk on the loop if it must

    def release(self, file: OpenFile) -> None:
        self.open_files.release(file)

    def backlogged(self) -> bool:
        return False

    def close(self) -> None:
        self.open_files.close_all()

    async def aclose(self) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        return {
            "architecture": self.name,
            "open_files": {"hits": self.open_files.hits, "misses": self.open_files.misses},
        }


class InlineDisk(_Strategy):
    """SPED: every stat, open and read runs on the event loop and blocks it on a cache miss.

    What a naive async server does; kept for the paper's comparison.
    """

    name = "sped"

    async def translate(
        self, rules: TranslationRules, path: str, *, speculative: bool = False, opening: int | None = None
    ) -> Translation:
        return translate(rules, path)

    async def list_directory(
        self, rules: TranslationRules, root_index: int, segments: tuple[str, ...], digest_key: str
    ) -> str | None:
        return run_list_directory(rules, root_index, segments, digest_key)

    async def list_page(self, rules: TranslationRules, path: str, start: int) -> ListingAnswer:
        return list_page(rules, path, start)

    async def translate_not_found_page(self, rules: TranslationRules) -> FoundFile | None:
        return translate_not_found_page(rules)

    async def translate_many(self, rules: TranslationRules, paths: list[str]) -> list[Translation | Exception]:
        return run_translate_many(rules, paths)

    async def _open_fd(self, facts: FileFacts, rules: TranslationRules, warm: int) -> int:
        return open_checked(facts, rules)

    async def read(self, file: OpenFile, offset: int, count: int) -> bytes:
        return read_exactly(file, offset, count)


class _InThreads(_Strategy):
    """Metadata work in threads, however the subclass runs them (``_run``)."""

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    async def translate(
        self, rules: TranslationRules, path: str, *, speculative: bool = False, opening: int | None = None
    ) -> Translation:
        return await self._run(translate, rules, path)

    async def list_directory(
        self, rules: TranslationRules, root_index: int, segments: tuple[str, ...], digest_key: str
    ) -> str | None:
        return await self._run(run_list_directory, rules, root_index, segments, digest_key)

    async def list_page(self, rules: TranslationRules, path: str, start: int) -> ListingAnswer:
        return await self._run(list_page, rules, path, start)

    async def translate_not_found_page(self, rules: TranslationRules) -> FoundFile | None:
        return await self._run(translate_not_found_page, rules)

    async def translate_many(self, rules: TranslationRules, paths: list[str]) -> list[Translation | Exception]:
        return await self._run(run_translate_many, rules, paths)


class ThreadedDisk(_InThreads):
    """MT: every stat, open and read goes through a thread pool, as Starlette's StaticFiles does.

    The loop never blocks on disk, but every chunk pays a thread hand-off, cached or not.
    """

    name = "mt"

    def __init__(self, open_files: int, threads: int) -> None:
        super().__init__(open_files)
        self._threads = ThreadExecutor(threads, "flashstatic-mt")

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads.get(), work, *args)

    async def _open_fd(self, facts: FileFacts, rules: TranslationRules, warm: int) -> int:
        opening = asyncio.get_running_loop().run_in_executor(self._threads.get(), open_checked, facts, rules)
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(close_opened_fd)  # nobody will take this descriptor
            raise

    async def read(self, file: OpenFile, offset: int, count: int) -> bytes:
        return await self._run(read_exactly, file, offset, count)

    def resident_now(self, file: OpenFile, offset: int, count: int) -> bool:
        return False  # MT: every read goes through a thread, cached or not

    async def make_resident(self, file: OpenFile, offset: int, count: int) -> None:
        await self._run(page_in, file.fd, offset, count)

    def close(self) -> None:
        super().close()
        self._threads.close()


class PortableThreads(_InThreads):
    """Any event loop anyio runs on (trio): every stat, open and read in anyio's worker
    threads. AMPED's helpers answer on an asyncio loop (add_reader), so elsewhere this is
    the fallback; the caches above it work the same."""

    name = "threads"

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(functools.partial(work, *args))

    async def open(self, facts: FileFacts, rules: TranslationRules, warm: int = 0) -> OpenFile:
        # No coalescing of concurrent opens: that needs asyncio futures.
        file = self.open_files.acquire(facts)
        if file is not None:
            return file
        return self.open_files.add(OpenFile(await self._run(open_checked, facts, rules), facts))

    async def read(self, file: OpenFile, offset: int, count: int) -> bytes:
        return await self._run(read_exactly, file, offset, count)

    def resident_now(self, file: OpenFile, offset: int, count: int) -> bool:
        return False

    async def make_resident(self, file: OpenFile, offset: int, count: int) -> None:
        await self._run(page_in, file.fd, offset, count)


class AmpedDisk(_Strategy):
    """AMPED: ask whether the bytes are in memory; if so read them on the loop, else have a
    helper bring them in first while the loop serves others. Pathname translation and opens,
    which may block on cold metadata, always go to a helper.
    """

    name = "amped"

    def __init__(self, open_files: int, pool: HelperPool, page_in_size: int) -> None:
        super().__init__(open_files)
        self.pool = pool
        self.page_in_size = page_in_size
        self._nowait = NoWaitSupport()
        self._recent = RecentReads()
        self._mapped = MappedChunks()
        self.resident_reads = 0
        self.helper_reads = 0
        self.probes: dict[str, int] = {probe.value: 0 for probe in Probe}
        # The roots' real paths, by roots: worked out in a thread, again when a descriptor
        # seems to lie outside them (a deploy may have repointed a root's symlink since).
        self._real_roots: dict[tuple[Root, ...], tuple[str, ...]] = {}
        self._learning: set[tuple[Root, ...]] = set()

    async def translate(
        self, rules: TranslationRules, path: str, *, speculative: bool = False, opening: int | None = None
    ) -> Translation:
        # The helpers answer with what the job returned: typed here, at the boundary.
        if opening is None:
            translation: Translation = await self.pool.run(
                "translate", (rules, path), key=("translate", rules, path), speculative=speculative
            )
            return translation
        if not rules.follow_symlink and rules.roots not in self._real_roots:
            self._learn_real_roots(rules.roots)
        found: Translation = await self.pool.run(
            "translate_open",
            (rules, path, opening),
            key=("translate_open", rules, path),
            speculative=speculative,
            adopt=functools.partial(self._keep_opened, rules, warmed=opening),
        )
        return found

    def _learn_real_roots(self, roots: tuple[Root, ...]) -> None:
        """What _keep_opened checks a descriptor against, worked out in a thread while the first
        lookups go on: until it is known, the files they open are opened again by open()."""
        if roots in self._learning:
            return
        self._learning.add(roots)
        learnt = asyncio.get_running_loop().run_in_executor(None, real_roots, roots)

        def learn(done: asyncio.Future[tuple[str, ...]]) -> None:
            self._learning.discard(roots)
            if not done.cancelled() and done.exception() is None:
                self._real_roots.setdefault(roots, done.result())

        learnt.add_done_callback(learn)

    def _keep_opened(self, rules: TranslationRules, translation: FoundFile, fd: int, *, warmed: int) -> None:
        """Keep a descriptor a lookup opened in the open-file cache, for the open that follows,
        if it is the file found and lies within the roots as last worked out (a helper is not
        taken on trust); otherwise close it, and that open is a helper job of its own."""
        facts = translation.facts
        try:
            checked_descriptor(fd, facts)
        except (FileChanged, OSError):
            return  # closed by the check
        known = self._real_roots.get(rules.roots)
        if not rules.follow_symlink and (known is None or not placed_within(fd, known)):
            os.close(fd)
            return
        if facts.size <= warmed:
            self.helper_reads += 1
        self.open_files.release(self.open_files.add(OpenFile(fd, facts)))

    async def list_directory(
        self, rules: TranslationRules, root_index: int, segments: tuple[str, ...], digest_key: str
    ) -> str | None:
        packed: str | None = await self.pool.run(
            "list_directory",
            (rules, root_index, segments, digest_key),
            key=("list", rules, root_index, segments, digest_key),
        )
        return packed

    async def list_page(self, rules: TranslationRules, path: str, start: int) -> ListingAnswer:
        page: Any = await self.pool.run("list_page", (rules, path, start), key=("page", rules, path, start))
        # The wire gives back plain tuples, checked against DirectoryPage's shape (wire.answer_fits).
        return DirectoryPage(*page) if isinstance(page, tuple) else page

    async def translate_not_found_page(self, rules: TranslationRules) -> FoundFile | None:
        page: FoundFile | None = await self.pool.run("translate_not_found_page", (rules,), key=("404", rules))
        return page

    async def translate_many(self, rules: TranslationRules, paths: list[str]) -> list[Translation | Exception]:
        try:
            translations: list[Translation | Exception] = await self.pool.run("translate_many", (rules, paths))
            return translations
        except JobTooLarge as too_large:
            # Long paths: the batch, or its answer, does not fit one message. Halves until
            # each fits; a path that does not fit alone fails alone.
            if len(paths) == 1:
                return [too_large]
            half = len(paths) // 2
            return [*await self.translate_many(rules, paths[:half]), *await self.translate_many(rules, paths[half:])]

    def backlogged(self) -> bool:
        return self.pool.counters.queue_depth > 0

    async def _open_fd(self, facts: FileFacts, rules: TranslationRules, warm: int) -> int:
        # A descriptor from another process is served only if it is the file asked for, and
        # lies inside a root: a helper's translation is not taken on trust either.
        if warm > 0:
            self.helper_reads += 1
        fd = checked_descriptor(await self.pool.run("open", (facts, rules, warm)), facts)
        try:
            if not await self._inside_roots(fd, rules):
                raise FileChanged(facts.path)
        except BaseException:
            os.close(fd)
            raise
        return fd

    async def _inside_roots(self, fd: int, rules: TranslationRules) -> bool:
        if rules.follow_symlink:
            return True  # a followed symlink may lead anywhere: identity is all there is to check
        known = self._real_roots.get(rules.roots)
        if known is not None and placed_within(fd, known):
            return True
        # The roots' real paths, the first time, or again: a deploy may have repointed a root.
        loop = asyncio.get_running_loop()
        inside, self._real_roots[rules.roots] = await loop.run_in_executor(None, place_within, fd, rules.roots)
        return inside

    async def open(self, facts: FileFacts, rules: TranslationRules, warm: int = 0) -> OpenFile:
        file = await super().open(facts, rules, warm)
        if file.probe is None:
            # fstat and a one-byte RWF_NOWAIT read never wait for the disk.
            file.probe = choose_probe(file.fd, os.fstat(file.fd), self._nowait)
            self.probes[file.probe.value] += 1
        return file

    async def read(self, file: OpenFile, offset: int, count: int) -> bytes:
        if file.probe is Probe.NOWAIT:
            return await self._read_nowait(file, offset, count)
        await self.make_resident(file, offset, count)
        return _read_resident(file, offset, count)

    def resident_now(self, file: OpenFile, offset: int, count: int) -> bool:
        if not self._resident(file, offset, count):
            return False
        self.resident_reads += 1
        self._note(file, offset, count)
        return True

    async def make_resident(self, file: OpenFile, offset: int, count: int) -> None:
        if self._resident(file, offset, count):
            self.resident_reads += 1
        else:
            await self._bring_in(file, offset, count)
        self._note(file, offset, count)

    def _note(self, file: OpenFile, offset: int, count: int) -> None:
        # Only the heuristic answers from what was read recently; the kernel's probes need no notes.
        if file.probe is not Probe.CACHESTAT and file.probe is not Probe.MINCORE:
            self._recent.note(file.key, offset, count, self.page_in_size)

    async def _read_nowait(self, file: OpenFile, offset: int, count: int) -> bytes:
        data = read_if_resident(file.fd, offset, count)
        if len(data) == count:
            self.resident_reads += 1
            return data
        if os.fstat(file.fd).st_size < offset + count:
            raise FileTruncated(file.facts.path)
        await self._bring_in(file, offset + len(data), count - len(data))
        rest = read_if_resident(file.fd, offset + len(data), count - len(data))
        if len(data) + len(rest) < count:
            # Evicted again before we got to it (heavy memory pressure): read what is left.
            rest += _read_resident(file, offset + len(data) + len(rest), count - len(data) - len(rest))
        return data + rest

    def _resident(self, file: OpenFile, offset: int, count: int) -> bool:
        if file.probe is Probe.CACHESTAT:
            return bool(cachestat_resident(file.fd, offset, count))
        if file.probe is Probe.MINCORE:
            return self._mapped.resident(file.fd, file.facts, file.facts.size, offset, count)
        # HEURISTIC, and NOWAIT files when no read is wanted (sendfile): what we recently touched.
        return self._recent.resident(file.key, offset, count, self.page_in_size)

    async def _bring_in(self, file: OpenFile, offset: int, count: int) -> None:
        """Have helpers read the windows covering the range; same windows are coalesced."""
        self.helper_reads += 1
        window = self.page_in_size
        first = offset - offset % window
        jobs = []
        for start in range(first, offset + count, window):
            length = min(window, file.facts.size - start)
            if length > 0:
                key = ("page_in", file.key, start)
                # Unbounded: the response this serves has started, so it waits rather than fail.
                jobs.append(self.pool.run("page_in", (start, length), fd=file.fd, key=key, bounded=False))
        await asyncio.gather(*jobs)

    def close(self) -> None:
        super().close()
        self._mapped.close()
        self.pool.close()

    async def aclose(self) -> None:
        super().close()
        self._mapped.close()
        await self.pool.aclose()

    def stats(self) -> dict[str, Any]:
        stats = super().stats()
        stats.update(
            resident_reads=self.resident_reads,
            helper_reads=self.helper_reads,
            probes=dict(self.probes),
            mapped_bytes=self._mapped.mapped_bytes,
            helpers=self.pool.stats(),
        )
        return stats


def _read_resident(file: OpenFile, offset: int, count: int) -> bytes:
    """A read on the event loop, made only after a residency check or a helper's page-in."""
    return read_exactly(file, offset, count)


def make_strategy(disk: DiskOptions, open_files: int) -> DiskStrategy:
    """The paper's experiment: the same server with each way of reaching the disk."""
    if disk.architecture == "sped":
        return InlineDisk(open_files)
    if disk.architecture == "mt":
        return ThreadedDisk(open_files, threads=max(4, disk.max_helpers))
    if disk.architecture == "amped":
        if disk.helper_backend == "process":
            pool: HelperPool = ProcessPool(
                disk.min_helpers,
                disk.max_helpers,
                disk.helper_queue,
                job_timeout=disk.helper_timeout,
                helper_threads=disk.helper_threads,
            )
        elif disk.helper_backend == "thread":
            pool = ThreadPool(disk.max_helpers * disk.helper_threads, disk.helper_queue)
        else:
            raise ValueError(f"helper_backend must be 'process' or 'thread', not {disk.helper_backend!r}")
        return AmpedDisk(open_files, pool, disk.page_in_size)
    raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, not {disk.architecture!r}")
