"""``flashstatic compress``: precompressed ``.br``, ``.zst`` and ``.gz`` siblings for a tree.

The server picks a sibling by Accept-Encoding (http/negotiate.py) and trusts it to match its
original, so this tool must never leave a stale one behind: a sibling older than its source is
rewritten, one that no longer pays is removed, and every sibling appears by an atomic rename.

The decisions (which files, which codings, up to date or not, whether it pays) are pure
functions; the compression runs in worker processes, one job per (file, coding).
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Protocol, TextIO

# Which files are worth it, shared with the server's own compression (compress=True).
from .http.compressible import MIN_SIZE as MIN_SIZE
from .http.compressible import pays as pays
from .http.compressible import skip_reason as skip_reason
from .http.negotiate import SIBLING_SUFFIXES

# content-coding -> sibling suffix, in the order the server prefers them when sizes tie.
CODING_SUFFIXES: dict[str, str] = {coding: suffix for suffix, coding in SIBLING_SUFFIXES.items()}
ALL_CODINGS: tuple[str, ...] = tuple(CODING_SUFFIXES)

_READ_CHUNK = 1024 * 1024

EXTRA_HINT = "pip install 'flashstatic[compress]'"


# -- decisions ----------------------------------------------------------------------------------


def up_to_date(source: os.stat_result, sibling: os.stat_result | None) -> bool:
    """A sibling is trusted when it is a non-empty regular file no older than its source."""
    return (
        sibling is not None
        and stat.S_ISREG(sibling.st_mode)
        and sibling.st_size > 0
        and sibling.st_mtime_ns >= source.st_mtime_ns
    )


@dataclass(frozen=True)
class Job:
    """Compress ``source`` (as it was when planned) into ``source + suffix``."""

    source: str
    coding: str
    size: int
    mtime_ns: int
    mode: int

    @property
    def sibling(self) -> str:
        return self.source + CODING_SUFFIXES[self.coding]


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    files: int = 0  # regular files seen
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> files
    fresh: int = 0  # siblings already up to date


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None


def is_sibling(name: str, names: Container[str]) -> bool:
    """``name`` is a precompressed copy of a file beside it (and so no file to compress)."""
    base, suffix = os.path.splitext(name)
    return suffix in SIBLING_SUFFIXES and base in names


def walk(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files under ``root``, siblings left out (links not followed, hidden
    directories not entered)."""
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        present = set(names)
        for name in sorted(names):
            if is_sibling(name, present):
                continue
            path = os.path.join(directory, name)
            st = _stat_or_none(path)
            if st is not None and stat.S_ISREG(st.st_mode):
                yield path, st


def plan(roots: Iterable[str], codings: Sequence[str]) -> Plan:
    result = Plan()
    for root in roots:
        for path, st in walk(root):
            result.files += 1
            reason = skip_reason(os.path.basename(path), st.st_size)
            if reason is not None:
                result.skipped[reason] += 1
                continue
            for coding in codings:
                job = Job(path, coding, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
                if up_to_date(st, _stat_or_none(job.sibling)):
                    result.fresh += 1
                else:
                    result.jobs.append(job)
    return result


# -- compression ---------------------------------------------------------------------------------


class Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class _BrotliCompressor(Protocol):
    """What brotli's Compressor (which has no type information) is used for."""

    def process(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _Brotli:
    def __init__(self) -> None:
        import brotli

        self._compressor: _BrotliCompressor = brotli.Compressor(quality=11)

    def compress(self, data: bytes) -> bytes:
        return self._compressor.process(data)

    def flush(self) -> bytes:
        return self._compressor.finish()


def _zstd(size: int) -> Compressor:
    import zstandard

    # Level 19 keeps the window at 8 MiB, the most RFC 8878 asks HTTP clients to accept.
    return zstandard.ZstdCompressor(level=19).compressobj(size=size)


def _gzip(size: int) -> Compressor:
    # wbits 31: a gzip header with no name and mtime 0, so the same input gives the same bytes.
    return zlib.compressobj(9, zlib.DEFLATED, 31)


_COMPRESSORS: dict[str, Callable[[int], Compressor]] = {
    "br": lambda size: _Brotli(),
    "zstd": _zstd,
    "gzip": _gzip,
}
_MODULES = {"br": "brotli", "zstd": "zstandard"}


class MissingCodec(Exception):
    pass


def check_codecs(codings: Iterable[str]) -> None:
    """Fail early, naming the extra to install, if a coding's library is missing."""
    for coding in codings:
        module = _MODULES.get(coding)
        if module is None:
            continue
        try:
            __import__(module)
        except ImportError:
            raise MissingCodec(
                f"{coding} needs the {module!r} package: {EXTRA_HINT}, or leave {coding} out of --codings"
            ) from None


@dataclass(frozen=True)
class Outcome:
    job: Job
    status: str  # "written", "not worth it", "changed", "failed"
    compressed: int = 0
    error: str = ""


def compress_file(job: Job) -> Outcome:
    """Write job.sibling atomically, or remove it if compression no longer pays."""
    directory, name = os.path.split(job.source)
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        try:
            with os.fdopen(fd, "wb") as out, open(job.source, "rb") as source:
                compressor = _COMPRESSORS[job.coding](job.size)
                while chunk := source.read(_READ_CHUNK):
                    out.write(compressor.compress(chunk))
                out.write(compressor.flush())
                written = out.tell()
                now = os.fstat(source.fileno())
        except OSError as exc:
            return Outcome(job, "failed", error=f"{job.source}: {exc.strerror or exc}")
        if (now.st_size, now.st_mtime_ns) != (job.size, job.mtime_ns):
            return Outcome(job, "changed")  # a later run compresses the new content
        if not pays(job.size, written):
            _remove(job.sibling)  # a stale sibling must not outlive its reason
            return Outcome(job, "not worth it", written)
        os.chmod(temp, job.mode)
        os.replace(temp, job.sibling)
        temp = ""
        return Outcome(job, "written", written)
    finally:
        if temp:
            _remove(temp)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- running it ----------------------------------------------------------------------------------


@dataclass
class Summary:
    files: int
    skipped: Counter[str]
    fresh: int
    outcomes: Counter[str]
    bytes_in: int  # of the sources of written siblings
    bytes_out: int  # of the written siblings
    errors: list[str]
    seconds: float

    def line(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        ratio = f" ({self.bytes_out / self.bytes_in:.0%} of {_human(self.bytes_in)})" if self.bytes_in else ""
        return (
            f"{self.files} files: {self.outcomes['written']} siblings written{ratio}, "
            f"{self.fresh} up to date, {self.outcomes['not worth it']} not worth it, "
            f"{self.outcomes['changed']} changed while read, {self.outcomes['failed']} failed; "
            f"files skipped: {skipped}; {self.seconds:.1f}s"
        )


def _human(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return ""  # unreachable


class ProgressBar:
    """One line on a terminal, redrawn at most ten times a second."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total, self.stream, self.width = total, stream, width
        self.done = 0
        self._drawn = 0.0

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self._drawn >= 0.1 or self.done == self.total:
            self._drawn = now
            filled = self.width * self.done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        if self.total:
            self.stream.write("\n")
            self.stream.flush()


def run(
    roots: Sequence[str], codings: Sequence[str] = ALL_CODINGS, jobs: int | None = None, progress: TextIO | None = None
) -> Summary:
    """Compress every eligible file under ``roots``; ``progress`` gets a bar if given."""
    check_codecs(codings)
    started = time.monotonic()
    work = plan(roots, codings)
    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    bytes_in = bytes_out = 0
    bar = ProgressBar(len(work.jobs), progress) if progress is not None else None
    for outcome in _execute(work.jobs, jobs):
        outcomes[outcome.status] += 1
        if outcome.status == "written":
            bytes_in += outcome.job.size
            bytes_out += outcome.compressed
        elif outcome.status == "failed":
            errors.append(outcome.error)
        if bar is not None:
            bar.advance()
    if bar is not None:
        bar.close()
    return Summary(
        work.files, work.skipped, work.fresh, outcomes, bytes_in, bytes_out, errors, time.monotonic() - started
    )


def _execute(jobs: list[Job], workers: int | None) -> Iterator[Outcome]:
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) <= 1:
        yield from map(compress_file, jobs)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        # Largest first, so that one big file does not finish alone at the end.
        ordered = sorted(jobs, key=lambda job: job.size, reverse=True)
        for future in as_completed([pool.submit(compress_file, job) for job in ordered]):
            yield future.result()


def main(directories: Sequence[str], codings: Sequence[str], jobs: int | None, quiet: bool = False) -> int:
    """The ``compress`` subcommand: 0 when every sibling is in place, 1 if some failed."""
    for directory in directories:
        if not os.path.isdir(directory):
            print(f"flashstatic: {directory!r} is not a directory", file=sys.stderr)
            return 2
    try:
        summary = run(directories, codings, jobs, progress=sys.stderr if sys.stderr.isatty() and not quiet else None)
    except MissingCodec as exc:
        print(f"flashstatic: {exc}", file=sys.stderr)
        return 2
    for error in summary.errors:
        print(f"flashstatic: {error}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.errors else 0


def parse_codings(value: str) -> list[str]:
    """``--codings br,zstd`` -> ["br", "zstd"] (argparse type)."""
    import argparse

    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    names = ["zstd" if name == "zst" else "gzip" if name == "gz" else name for name in names]
    unknown = [name for name in names if name not in CODING_SUFFIXES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"codings are {', '.join(ALL_CODINGS)}; got {value!r}")
    return list(dict.fromkeys(names))
