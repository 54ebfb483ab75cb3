"""The start-up summary `flashstatic serve` logs once per worker: what is served, how the disk
is reached, which HTTP protocol runs and whether zero copy is active (and if not, why)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import __version__
from .config import Root

if TYPE_CHECKING:
    from .asgi import FlashStatic

# Counting stops here: a start-up summary must not walk a huge tree for minutes.
COUNT_CAP = 100_000


@dataclass(frozen=True)
class ServeFacts:
    """What the command knows and the app does not."""

    http: str  # "httptools" or "h11"
    tls: bool
    access_log: bool
    metrics_path: str | None = None


def count_files(roots: Iterable[Root], allow_dotfiles: bool, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """Regular files under the roots, as (count, capped); links to directories are not entered."""
    count = 0
    for root in roots:
        pending = [root.directory]
        while pending:
            try:
                entries = os.scandir(pending.pop())
            except OSError:
                continue
            with entries:
                for entry in entries:
                    if entry.name.startswith(".") and not allow_dotfiles:
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                        elif stat.S_ISREG(entry.stat().st_mode):
                            count += 1
                    except OSError:
                        continue
                    if count >= cap:
                        return count, True
    return count, False


def zero_copy_status(tls: bool, sendfile_available: bool = hasattr(os, "sendfile")) -> tuple[bool, str]:
    """(active, why) for flashstatic's protocol classes."""
    if tls:
        return False, "TLS is on and sendfile would bypass the encryption; bodies go out as messages"
    if not sendfile_available:
        return False, "this platform has no sendfile; bodies go out as messages"
    return True, "sendfile on plain TCP"


def _loop_name() -> str:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "asyncio"
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def disk_summary(app: FlashStatic) -> str:
    disk = app.disk
    name = getattr(disk, "name", type(disk).__name__)
    pool = getattr(disk, "pool", None)
    if pool is None:
        return name
    threads = getattr(pool, "helper_threads", None)
    if threads is None:
        return f"{name}, {pool.max_helpers} helper threads, queue of {pool.max_queue}"
    low = getattr(pool, "min_helpers", 0)
    return f"{name}, {low} to {pool.max_helpers} helper processes of {threads} threads, queue of {pool.max_queue}"


def summary_lines(app: FlashStatic, facts: ServeFacts) -> list[str]:
    options = app.options
    files, capped = count_files(options.roots, options.allow_dotfiles)
    active, why = zero_copy_status(facts.tls)
    zero_copy = (
        f"on ({why}: files over {options.small_file_max} bytes in {options.sendfile_chunk}-byte chunks)"
        if active
        else f"off ({why})"
    )
    roots = ", ".join(f"{root.directory} at {root.prefix or '/'}" for root in options.roots)
    return [
        f"flashstatic {__version__}, worker {os.getpid()}: serving {roots}",
        f"files: {'at least ' if capped else ''}{files}",
        f"disk: {disk_summary(app)}",
        f"http: {facts.http} on {_loop_name()}{' with TLS' if facts.tls else ''}; zero copy {zero_copy}",
        f"access log: {'on' if facts.access_log else 'off'}; metrics: {facts.metrics_path or 'off'}",
    ]
