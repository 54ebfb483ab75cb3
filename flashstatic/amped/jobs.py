"""The work a helper does: everything that may block on disk, and nothing that sends data.

The same functions run in helper processes and in the thread backend.
"""

from __future__ import annotations

import os

from ..translate import FileFacts, FoundFile, Translation, TranslationRules, translate, translate_not_found_page

# How much a helper reads at a time while bringing pages in; the bytes are thrown away.
_PAGE_IN_PIECE = 1024 * 1024


class FileChanged(Exception):
    """The file on disk is no longer the one whose headers were chosen."""


def open_checked(facts: FileFacts) -> int:
    """Open and confirm by fstat that this is still the file the response was planned for."""
    fd = os.open(facts.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if FileFacts.from_stat(facts.path, os.fstat(fd)) != facts:
            raise FileChanged(facts.path)
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


def run_translate(rules: TranslationRules, path: str) -> Translation:
    return translate(rules, path)


def run_translate_not_found_page(rules: TranslationRules) -> FoundFile | None:
    return translate_not_found_page(rules)
