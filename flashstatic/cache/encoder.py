"""Compression of whole bodies for compress=True: the codings this process can produce.

The same input must always give the same bytes, since a body compressed here is tagged with
an ETag made before compressing and may be compressed again after the body cache dropped it:
fixed levels, and gzip's header without a name or a time.
"""

from __future__ import annotations

import functools
import importlib
import zlib
from typing import Any

GZIP_LEVEL = 9
# Brotli's default window; quality 11 (its densest) costs several times more CPU for a few
# percent, and a body is compressed on the first request for each version of a file.
BROTLI_QUALITY = 9


@functools.cache
def _brotli() -> Any:
    try:
        # By name: the package has no type information, and a user's type checker reaches
        # this module through FlashStatic.
        return importlib.import_module("brotli")
    except ImportError:
        return None


@functools.cache
def available_codings() -> tuple[str, ...]:
    """In the order the server prefers them (http/negotiate.py's for siblings): br when the
    brotli package is installed (flashstatic[compress]), gzip always."""
    return ("br", "gzip") if _brotli() is not None else ("gzip",)


def compress_body(body: bytes, coding: str) -> bytes:
    """``body`` in ``coding``: CPU work, which callers run in a thread."""
    if coding == "gzip":
        # wbits 31: a gzip stream with no name and mtime 0.
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        return compressor.compress(body) + compressor.flush()
    if coding == "br":
        compressed: bytes = _brotli().compress(body, quality=BROTLI_QUALITY)
        return compressed
    raise ValueError(f"cannot compress into {coding!r}")
