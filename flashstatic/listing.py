"""What a directory URL lists (listing=True): blocking disk work, done in a helper under AMPED.

A directory is listed only where translation would serve what it holds: inside a root, not
hidden (unless allow_dotfiles), and its entries by the same rules. Symlinks are listed only
with follow_symlink, and then only those whose target lies inside the root; a link that
leads out, dangles, or names anything but a regular file or a directory is left out.

One page of entries travels as one helper message, so a page holds as many entries as fit a
byte budget below the message bound; the rest are further pages (``start``).
"""

from __future__ import annotations

import json
import os
import stat
from typing import NamedTuple

from .translate import TranslationRules, _hidden_below, _stat_servable, candidates, relative_inside

# (name, is a directory, size in bytes (0 for a directory), modification time in whole seconds)
ListedEntry = tuple[str, bool, int, int]

# Bytes of entries per page, as the wire encodes them (JSON, non-ASCII escaped): the whole
# answer must fit one helper message (wire.MAX_MESSAGE, 64 KiB) with room to spare.
PAGE_BYTES = 48 * 1024
# What one entry costs on the wire besides its name: the tags, the flag and two integers.
_ENTRY_OVERHEAD = 64


class DirectoryPage(NamedTuple):
    total: int  # entries listed in the whole directory
    has_parent: bool  # not the top of its root
    start: int  # index of the first entry of this page among all
    entries: list[ListedEntry]


# What a directory URL is: a page of its listing, "slash" for one asked without its trailing
# slash (redirect), or None: not a directory that may be listed.
ListingAnswer = DirectoryPage | str | None


def list_page(rules: TranslationRules, route_path: str, start: int) -> ListingAnswer:
    """Blocking: the page of ``route_path``'s listing that starts at entry ``start``."""
    for root, path in candidates(rules.roots, route_path):
        if path.is_hidden and not rules.allow_dotfiles:
            continue
        base = os.path.realpath(root.directory)
        target = _stat_servable(rules, base, os.path.join(base, *path.segments))
        if target is None:
            continue
        real, st = target
        if not stat.S_ISDIR(st.st_mode):
            return None  # a file (translation's) or something never served
        if not path.trailing_slash:
            return "slash"
        names = _listed_names(rules, base, real)
        return DirectoryPage(len(names), bool(path.segments), start, _page(real, names, start))
    return None


def _listed_names(rules: TranslationRules, base: str, directory: str) -> list[tuple[bool, str]]:
    """(is not a directory, name) of every entry that may be listed, sorted: directories
    first, then files, each by name."""
    listed: list[tuple[bool, str]] = []
    try:
        scan = os.scandir(directory)
    except (OSError, ValueError):
        return listed
    with scan:
        for entry in scan:
            kind = _listed_kind(rules, base, entry)
            if kind is not None:
                listed.append((kind != stat.S_IFDIR, entry.name))
    listed.sort()
    return listed


def _listed_kind(rules: TranslationRules, base: str, entry: os.DirEntry[str]) -> int | None:
    """S_IFDIR or S_IFREG for an entry that may be listed; None for any other."""
    name = entry.name
    if (name.startswith(".") and not rules.allow_dotfiles) or not _utf8(name):
        return None
    try:
        if entry.is_symlink():
            if not rules.follow_symlink:
                return None
            real = os.path.realpath(entry.path)
            if relative_inside(base, real) is None or (not rules.allow_dotfiles and _hidden_below(base, real)):
                return None
            mode = os.stat(real).st_mode
        else:
            mode = entry.stat(follow_symlinks=False).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISDIR(mode):
        return stat.S_IFDIR
    if stat.S_ISREG(mode):
        return stat.S_IFREG
    return None


def _utf8(name: str) -> bool:
    """Names that are not UTF-8 on disk cannot be asked for in a URL: not listed."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _page(directory: str, names: list[tuple[bool, str]], start: int) -> list[ListedEntry]:
    """The entries from ``start`` on that fit PAGE_BYTES, each stat'ed for its size and date."""
    entries: list[ListedEntry] = []
    spent = 0
    for not_directory, name in names[start:]:
        spent += len(json.dumps(name)) + _ENTRY_OVERHEAD
        if spent > PAGE_BYTES and entries:
            break
        try:
            st = os.stat(os.path.join(directory, name))
        except (OSError, ValueError):
            continue  # gone since the scan
        is_directory = not not_directory
        entries.append((name, is_directory, 0 if is_directory else st.st_size, int(st.st_mtime)))
    return entries
