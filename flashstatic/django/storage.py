"""Storage backends with WhiteNoise's names: ``collectstatic`` also writes the precompressed
``.br``, ``.zst`` and ``.gz`` siblings FlashStaticMiddleware serves by Accept-Encoding.

The siblings come from ``flashstatic compress``'s engine (flashstatic/compress.py): the same
choices (which files pay, which codings), one job per (file, coding) in worker processes, and
every sibling written by an atomic rename. Codings whose library is not installed are left out.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage, StaticFilesStorage

from .. import compress
from .conf import setting

__all__ = ["CompressedManifestStaticFilesStorage", "CompressedStaticFilesStorage", "MissingFileError"]

PostProcessed = Iterator[tuple[str, str | None, Any]]


def available_codings() -> list[str]:
    """The codings whose compressor can run here (gzip always can)."""
    codings = []
    for coding in compress.ALL_CODINGS:
        try:
            compress.check_codecs([coding])
        except compress.MissingCodec:
            continue
        codings.append(coding)
    return codings


def skipped_extensions() -> frozenset[str]:
    """SKIP_COMPRESS_EXTENSIONS (WhiteNoise's setting, e.g. ["jpg", "woff2"]): extensions not
    compressed, besides the already-compressed types flashstatic compress never compresses."""
    extensions = setting(settings, "SKIP_COMPRESS_EXTENSIONS") or ()
    return frozenset("." + extension.lower().lstrip(".") for extension in extensions)


def compression_jobs(files: Iterable[tuple[str, str]], codings: list[str]) -> Iterator[tuple[str, compress.Job]]:
    """(name, job) for each sibling of the files (name, full path) that is due."""
    skipped = skipped_extensions()
    for name, path in files:
        if os.path.splitext(path)[1].lower() in skipped:
            continue
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode) or compress.skip_reason(os.path.basename(path), st.st_size) is not None:
            continue
        for coding in codings:
            job = compress.Job(path, coding, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
            if not compress.up_to_date(st, _stat_or_none(job.sibling)):
                yield name, job


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def compress_names(storage: Any, names: Iterable[str]) -> PostProcessed:
    """Write the siblings of ``names`` (in ``storage``) in parallel; one result per sibling
    written, in collectstatic's (original, processed, processed?) form, or an exception."""
    files = ((name, storage.path(name)) for name in sorted(names))
    jobs = {job: name for name, job in compression_jobs(files, available_codings())}
    for outcome in compress._execute(list(jobs), None):
        name = jobs[outcome.job]
        if outcome.status == "written":
            yield name, name + compress.CODING_SUFFIXES[outcome.job.coding], True
        elif outcome.status == "failed":
            yield name, None, RuntimeError(f"could not compress {name}: {outcome.error}")


class CompressedStaticFilesStorage(StaticFilesStorage):  # type: ignore[misc]
    """StaticFilesStorage whose collectstatic also writes compressed siblings."""

    def post_process(self, paths: dict[str, Any], dry_run: bool = False, **options: Any) -> PostProcessed:
        if dry_run:
            return
        yield from compress_names(self, paths)


class MissingFileError(ValueError):
    """A collected file (a stylesheet, mostly) refers to a file that is not there."""


_NOT_FOUND = re.compile(r"^The file '(.+)' could not be found")


class CompressedManifestStaticFilesStorage(ManifestStaticFilesStorage):  # type: ignore[misc]
    """ManifestStaticFilesStorage whose collectstatic also writes compressed siblings of the
    hashed files (and of the originals, unless KEEP_ONLY_HASHED_FILES removes those).
    FlashStaticMiddleware marks immutable exactly the hashed names the manifest lists."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        strict = setting(settings, "MANIFEST_STRICT")
        if strict is not None:
            self.manifest_strict = strict
        self._written: set[str] | None = None
        super().__init__(*args, **kwargs)

    @property
    def keep_only_hashed_files(self) -> bool:
        return bool(setting(settings, "KEEP_ONLY_HASHED_FILES", False))

    def _save(self, name: str, content: Any) -> str:
        saved: str = super()._save(name, content)
        if self._written is not None:
            self._written.add(self.clean_name(saved))
        return saved

    def post_process(self, paths: dict[str, Any], dry_run: bool = False, **options: Any) -> PostProcessed:
        # Every name hashing writes, intermediate passes' included: those are not in the final
        # manifest and, with KEEP_ONLY_HASHED_FILES, must go with the originals.
        self._written = set()
        try:
            for name, hashed_name, processed in super().post_process(paths, dry_run, **options):
                if isinstance(processed, Exception):
                    processed = self.make_helpful_exception(processed, name)
                yield name, hashed_name, processed
            written = self._written
        finally:
            self._written = None
        if dry_run:
            return
        hashed = set(self.hashed_files.values())
        originals = {self.clean_name(name) for name in paths}
        if self.keep_only_hashed_files:
            self.delete_names((originals | written) - hashed - {self.manifest_name})
            keep = hashed
        else:
            keep = hashed | originals
        yield from compress_names(self, keep)

    def delete_names(self, names: Iterable[str]) -> None:
        for name in names:
            try:
                os.unlink(self.path(name))
            except FileNotFoundError:
                pass

    def make_helpful_exception(self, exception: Exception, name: str) -> Exception:
        """Django's error for a reference to a missing file names the missing file only; this
        one names the file that refers to it, which is where the fix goes."""
        if not isinstance(exception, ValueError) or not exception.args:
            return exception
        match = _NOT_FOUND.search(str(exception.args[0]))
        if match is None:
            return exception
        return MissingFileError(
            f"{exception.args[0]}\n\n{name} refers to {match.group(1)!r}, which collectstatic did not find. "
            f"Check the URLs in {name} (relative ones above all: they are resolved from {name}'s directory)."
        )
