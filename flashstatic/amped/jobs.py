"""The work a helper does: everything that may block on disk, and nothing that sends data.

The same functions run in helper processes and in the thread backend.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from ..dirnames import pack_names
from ..listing import ListingAnswer, list_page
from ..translate import (
    FileFacts,
    FoundFile,
    RealBases,
    Translation,
    TranslationRules,
    open_translated,
    relative_inside,
    translate,
    translate_not_found_page,
)

# Set by the server when it starts a helper, so that the helper notices if the server is gone
# before PR_SET_PDEATHSIG took effect; comparing with 1 would fail under a PID-1 server.
PARENT_VARIABLE = "FLASHSTATIC_HELPER_PARENT"
# How many jobs a helper does at once (a thread each), set by the server when it starts one.
THREADS_VARIABLE = "FLASHSTATIC_HELPER_THREADS"

# How much a helper reads at a time while bringing pages in; the bytes are thrown away.
_PAGE_IN_PIECE = 1024 * 1024


class FileChanged(Exception):
    """The file on disk is no longer the one whose headers were chosen."""


def open_checked(facts: FileFacts, rules: TranslationRules, known: RealBases | None = None) -> int:
    """Open the file translation under ``rules`` found, and confirm by fstat that it is still
    the file the response was planned for.

    Opened beneath its root, refusing symlinks (translate.open_translated): a link met there
    means the tree changed since translation, as a different file would.
    O_NONBLOCK so that a FIFO swapped in for the file cannot block the open; it is ignored
    for the regular files we go on to read.
    """
    try:
        fd = open_translated(rules, facts.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY, known)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EXDEV):
            raise FileChanged(facts.path) from exc
        raise
    return checked_descriptor(fd, facts)


def checked_descriptor(fd: int, facts: FileFacts) -> int:
    """``fd``, if it is the regular file ``facts`` describe (the same inode, size and
    modification time); otherwise it is closed and FileChanged raised. fstat of an open
    descriptor reads the in-memory inode."""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or FileFacts.from_stat(facts.path, st) != facts:
            raise FileChanged(facts.path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_warm(facts: FileFacts, rules: TranslationRules, warm: int = 0, known: RealBases | None = None) -> int:
    """open_checked, then the file's first ``warm`` bytes brought into the page cache: a body
    about to be read whole costs one helper round trip, not an open and then a page-in."""
    fd = open_checked(facts, rules, known)
    if warm > 0:
        try:
            page_in(fd, 0, min(warm, facts.size))
        except BaseException:
            os.close(fd)
            raise
    return fd


def page_in(fd: int, offset: int, count: int) -> None:
    """Bring [offset, offset+count) of the file into the page cache by reading it."""
    scratch = bytearray(min(count, _PAGE_IN_PIECE))
    end = offset + count
    while offset < end:
        view = memoryview(scratch)[: min(len(scratch), end - offset)]
        got = os.preadv(fd, [view], offset)
        if got <= 0:
            return  # end of file: nothing more to bring in
        offset += got


def run_translate(rules: TranslationRules, path: str, known: RealBases | None = None) -> Translation:
    return translate(rules, path, known)


def run_translate_open(rules: TranslationRules, path: str, warm_limit: int) -> tuple[Translation, int | None]:
    """translate, and the file found opened in the same job, read in whole if it is at most
    ``warm_limit`` bytes: a cold request costs one helper round trip, not a lookup and then an
    open. Not for a file with precompressed siblings, whose response may come from another
    file, nor when the open fails (the open that follows meets the failure and answers it)."""
    known: RealBases = {}
    translation = run_translate(rules, path, known)
    if not isinstance(translation, FoundFile) or translation.siblings:
        return translation, None
    facts = translation.facts
    try:
        return translation, open_warm(facts, rules, facts.size if facts.size <= warm_limit else 0, known)
    except (OSError, FileChanged):
        return translation, None


def run_translate_not_found_page(rules: TranslationRules) -> FoundFile | None:
    return translate_not_found_page(rules)


def run_translate_many(rules: TranslationRules, paths: list[str]) -> list[Translation | Exception]:
    """Revalidation of many cached paths in one job: one round trip instead of one each."""
    results: list[Translation | Exception] = []
    known: RealBases = {}
    for path in paths:
        try:
            results.append(translate(rules, path, known))
        except Exception as exc:  # a path that is now refused; the others still count
            results.append(exc)
    return results


# The largest listing a helper sends (packed digests, 4 bytes a name in base64: some 9,000
# names): it must fit one message (wire.MAX_MESSAGE) with room to spare. A larger directory is
# not listed; its misses are translated one by one.
LISTING_BYTES = 48 * 1024


def run_list_directory(
    rules: TranslationRules, root_index: int, segments: tuple[str, ...], digest_key: str
) -> str | None:
    """The names in a served directory as pack_names digests under ``digest_key`` (hex), or
    None: not a directory, outside the root (without follow_symlink), or too large to send."""
    base = os.path.realpath(rules.roots[root_index].directory)
    directory = os.path.join(base, *segments)
    if not rules.follow_symlink:
        directory = os.path.realpath(directory)
        if relative_inside(base, directory) is None:
            return None
    try:
        names = os.listdir(directory)
    except (OSError, ValueError):
        return None
    if len(names) * 16 // 3 > LISTING_BYTES:
        return None
    return pack_names(bytes.fromhex(digest_key), names)


def run_list_page(rules: TranslationRules, path: str, start: int) -> ListingAnswer:
    return list_page(rules, path, start)


def run(kind: str, args: tuple[Any, ...], fd: int | None) -> Any:
    """Do one job. ``fd`` is lent for a page-in; an open returns its descriptor."""
    if kind == "page_in":
        assert fd is not None
        return page_in(fd, *args)
    if kind == "open":
        return open_warm(*args)
    if kind == "translate":
        return run_translate(*args)
    if kind == "translate_open":
        return run_translate_open(*args)
    if kind == "translate_not_found_page":
        return run_translate_not_found_page(*args)
    if kind == "translate_many":
        return run_translate_many(*args)
    if kind == "list_directory":
        return run_list_directory(*args)
    if kind == "list_page":
        return run_list_page(*args)
    raise ValueError(f"unknown job {kind!r}")
