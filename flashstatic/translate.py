"""Pathname translation: from a request path to a file on disk.

The only code that asks the filesystem what a URL names (realpath, stat). Everything it
returns is plain picklable data, so that the AMPED layer can run it in a helper process when
the metadata it needs may not be in memory.

Without follow_symlink, the real path is stat'ed, and later opened (open_translated),
beneath the root with every symlink refused: a directory swapped for a link to the outside
after realpath looked is met as a link, never followed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

from .beneath import open_beneath, stat_beneath
from .config import Root
from .config import TranslationRules as TranslationRules  # what translation obeys: part of its interface
from .dirlisted import DirectoryNames
from .http.negotiate import SIBLING_SUFFIXES
from .http.paths import SafePath, parse_request_path


class FileFacts(NamedTuple):
    """What one stat told about a regular file. Equal facts mean the same bytes.

    A NamedTuple: the small-body cache hashes one per request, and a tuple's hash is several
    times cheaper than a frozen dataclass's."""

    path: str
    size: int
    mtime_ns: int
    dev: int
    ino: int

    @classmethod
    def from_stat(cls, path: str, st: os.stat_result) -> FileFacts:
        return cls(path, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)


@dataclass(frozen=True, slots=True)
class FoundFile:
    url: str  # the canonical URL path it answers, for add_headers_function and immutable tests
    facts: FileFacts
    siblings: tuple[tuple[str, FileFacts], ...]  # (content-coding, facts) of precompressed copies


@dataclass(frozen=True, slots=True)
class RedirectTo:
    # "slash": /dir -> /dir/ ; "directory": /dir/index.html -> /dir/
    kind: Literal["slash", "directory"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()

Translation = FoundFile | RedirectTo | _Missing

# A root's directory -> its real path, as worked out in one job (a lookup and the open after it).
RealBases = dict[str, str]


def candidates(roots: tuple[Root, ...], route_path: str) -> list[tuple[Root, SafePath]]:
    """The roots whose prefix covers ``route_path``, in order, with the path inside each.

    Pure: raises PathRejected for a path no root could serve; an empty list means "not ours".
    """
    found: list[tuple[Root, SafePath]] = []
    for root in roots:
        if root.covers(route_path):
            found.append((root, parse_request_path(route_path[len(root.prefix) :])))
    return found


def translate(rules: TranslationRules, route_path: str, known: RealBases | None = None) -> Translation:
    """Blocking: ask the filesystem, root by root, what ``route_path`` names. ``known``: the
    roots' real paths worked out so far in the job at hand (real_base)."""
    for root, path in candidates(rules.roots, route_path):
        result = translate_in_root(rules, root, path, known)
        if result is not None:
            return result
    return MISSING


def translate_in_root(
    rules: TranslationRules, root: Root, path: SafePath, known: RealBases | None = None
) -> FoundFile | RedirectTo | None:
    if path.is_hidden and not rules.allow_dotfiles:
        return None
    base = real_base(root.directory, known)
    target = _stat_servable(rules, base, os.path.join(base, *path.segments))
    if target is None:
        return None
    real_path, st = target
    url = root.prefix + path.url_path

    if stat.S_ISREG(st.st_mode):
        if path.trailing_slash:
            return None  # a file is not a directory
        if rules.redirect_index and path.segments and path.segments[-1] == rules.index_file:
            return RedirectTo("directory")
        return _found(rules, base, url, real_path, st)

    if stat.S_ISDIR(st.st_mode) and rules.index_file:
        index = _stat_servable(rules, base, os.path.join(real_path, rules.index_file))
        if index is not None and stat.S_ISREG(index[1].st_mode):
            if not path.trailing_slash:
                return RedirectTo("slash")
            return _found(rules, base, url, index[0], index[1])
    return None


def translate_not_found_page(rules: TranslationRules) -> FoundFile | None:
    """html=True's 404.html, from the first root that has one."""
    if rules.not_found_file is None:
        return None
    page = SafePath((rules.not_found_file,), trailing_slash=False)
    for root in rules.roots:
        result = translate_in_root(rules, root, page)
        if isinstance(result, FoundFile):
            return result
    return None


def open_translated(rules: TranslationRules, path: str, flags: int, known: RealBases | None = None) -> int:
    """Open a FileFacts.path that translation under ``rules`` gave.

    Without follow_symlink the path is real, so it is opened beneath the root it lies in with
    every symlink refused: OSError(ELOOP) if one is met, OSError(EXDEV) if the path lies in
    no root now (a root switched since). Either means the tree changed since translation.
    """
    if rules.follow_symlink:
        return os.open(path, flags)  # links may lead anywhere: the path was never a real one
    base, relative = _beneath_a_root(rules.roots, path, known)
    return open_beneath(base, relative, flags)


def real_base(directory: str, known: RealBases | None = None) -> str:
    """The real path of a root's directory. Worked out afresh for every job, so that a root
    that is a symlink switched by a deploy is followed; ``known`` holds what this job has
    worked out already, so that a lookup and the open that follows it resolve the root once."""
    if known is None:
        return os.path.realpath(directory)
    base = known.get(directory)
    if base is None:
        base = known[directory] = os.path.realpath(directory)
    return base


def _beneath_a_root(roots: tuple[Root, ...], path: str, known: RealBases | None) -> tuple[str, str]:
    """(root's real path, the rest) for the outermost root holding ``path``: the more of the
    path lies below the base, the more of it is checked for links."""
    best: tuple[str, str] | None = None
    for root in roots:
        base = real_base(root.directory, known)
        relative = relative_inside(base, path)
        if relative is not None and (best is None or len(base) < len(best[0])):
            best = base, relative
    if best is None:
        raise OSError(errno.EXDEV, "not inside a served root", path)
    return best


def relative_inside(base: str, real: str) -> str | None:
    """``real`` relative to ``base`` (both real paths); None if it is not inside."""
    if real == base:
        return ""
    inside = base.rstrip(os.sep) + os.sep
    return real[len(inside) :] if real.startswith(inside) else None


def _hidden_below(base: str, real_path: str) -> bool:
    relative = real_path.removeprefix(base)
    return any(part.startswith(".") for part in relative.split(os.sep))


def _stat_servable(rules: TranslationRules, base: str, candidate: str) -> tuple[str, os.stat_result] | None:
    """(path, stat) of ``candidate`` if it may be served: inside ``base`` (unless links may
    point anywhere) and not hidden; None if absent or refused. Every file served (a request's
    file, its index file, its precompressed siblings, the 404 page) is found through here."""
    try:
        if rules.follow_symlink:
            # Starlette's follow_symlink=True: links inside the root may point anywhere.
            target: tuple[str, os.stat_result] | None = candidate, os.stat(candidate)
        else:
            target = _stat_inside(base, candidate)
    except (OSError, ValueError):
        return None
    if target is None or (not rules.allow_dotfiles and _hidden_below(base, target[0])):
        return None  # a link with a plain name to a dotfile is still a dotfile
    return target


def _stat_inside(base: str, candidate: str) -> tuple[str, os.stat_result] | None:
    """Stat ``candidate``'s real path beneath ``base``; None if it is outside."""
    relative = relative_inside(base, candidate)
    if relative is not None:
        # Most paths hold no link: then the stat beneath, which refuses links, answers alone
        # and realpath's lstat of every component is not needed.
        try:
            return candidate, stat_beneath(base, relative)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.EXDEV):
                raise
    for _ in range(2):
        real = os.path.realpath(candidate)
        relative = relative_inside(base, real)
        if relative is None:
            return None
        try:
            return real, stat_beneath(base, relative)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            # A link where realpath saw none: the tree changed under us; look once more.
    return None


# The directories' listings this process made, for the siblings that are not there: of their
# names, only those of precompressed files.
_directory_names = DirectoryNames(suffixes=tuple(SIBLING_SUFFIXES))


def _found(rules: TranslationRules, base: str, url: str, real_path: str, st: os.stat_result) -> FoundFile:
    directory, name = os.path.split(real_path)
    listed = _directory_names.names(directory)
    siblings = []
    for suffix, coding in SIBLING_SUFFIXES.items():
        if listed is not None and name + suffix not in listed:
            continue
        sibling = _stat_servable(rules, base, real_path + suffix)
        if sibling is not None and stat.S_ISREG(sibling[1].st_mode):
            siblings.append((coding, FileFacts.from_stat(*sibling)))
    return FoundFile(url, FileFacts.from_stat(real_path, st), tuple(siblings))


def scan(rules: TranslationRules) -> dict[Root, dict[str, Translation]]:
    """autorefresh=False: translate every servable path of every root once, at start.

    One table per root, keyed by the canonical path inside the root, holding exactly what
    the lazy translation would answer, so both modes serve the same things.
    """
    tables: dict[Root, dict[str, Translation]] = {}
    for root in rules.roots:
        table: dict[str, Translation] = {}
        for segments, is_dir in _walk(os.path.realpath(root.directory), rules.follow_symlink):
            spellings = [SafePath(segments, True), SafePath(segments, False)] if is_dir else [SafePath(segments, False)]
            for path in spellings:
                result = translate_in_root(rules, root, path)
                if result is not None:
                    table[path.url_path] = result
        tables[root] = table
    return tables


def _walk(top: str, follow_symlink: bool) -> Iterator[tuple[tuple[str, ...], bool]]:
    """(segments, is_directory) for every path below ``top``, through directory links too.

    A directory that is its own ancestor (a symlink loop) is not entered again; a directory
    reachable by two paths is listed under both, as the lazy translation would serve both.
    Without follow_symlink, a link to a directory outside ``top`` is not entered at all: none
    of it could be served, and it might be / (with /proc in it).
    """
    inside = top.rstrip(os.sep) + os.sep
    pending: list[tuple[str, tuple[str, ...], frozenset[tuple[int, int]]]] = [(top, (), frozenset())]
    while pending:
        directory, prefix, ancestors = pending.pop()
        try:
            st = os.stat(directory)
            identity = (st.st_dev, st.st_ino)
            if identity in ancestors:
                continue
            entries = list(os.scandir(directory))
        except OSError:
            continue
        yield prefix, True
        for entry in entries:
            segments = (*prefix, entry.name)
            try:
                if entry.is_dir():
                    if (
                        not follow_symlink
                        and entry.is_symlink()
                        and not os.path.realpath(entry.path).startswith(inside)
                    ):
                        continue
                    pending.append((entry.path, segments, ancestors | {identity}))
                elif entry.is_file():
                    yield segments, False
            except OSError:
                continue  # a broken link or a vanished file must not stop the scan
