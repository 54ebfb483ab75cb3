"""Which files are worth compressing, and whether a compressed copy pays for itself.

Shared by ``flashstatic compress`` (siblings written ahead) and the server's own compression
(``compress=True``), so that both leave the same files alone.
"""

from __future__ import annotations

import os

from .mediatypes import media_type_for

# Below this, the response headers dwarf any saving.
MIN_SIZE = 256
# A compressed copy must save this share of the original and this many bytes, or it is not
# kept: a client would otherwise pay decompression for nothing.
MIN_SAVING_RATIO = 0.05
MIN_SAVING_BYTES = 64

# Formats that are compressed already: another pass saves nothing and costs CPU.
_COMPRESSED_TYPES = ("image/", "audio/", "video/", "font/woff")
_STILL_COMPRESSIBLE = ("image/svg+xml", "image/bmp", "image/vnd.microsoft.icon", "image/x-icon")
_COMPRESSED_SUFFIXES = frozenset(
    {
        ".gz",
        ".tgz",
        ".br",
        ".zst",
        ".zip",
        ".bz2",
        ".tbz",
        ".xz",
        ".txz",
        ".lz",
        ".lzma",
        ".7z",
        ".rar",
        ".jar",
        ".whl",
        ".apk",
        ".docx",
        ".xlsx",
        ".pptx",
        ".odt",
        ".epub",
        ".pdf",
    }
)


def skip_reason(name: str, size: int) -> str | None:
    """Why a file called ``name`` of ``size`` bytes is not compressed, or None if it may be."""
    lowered = name.lower()
    if name.startswith("."):
        return "hidden"
    if os.path.splitext(lowered)[1] in _COMPRESSED_SUFFIXES:
        return "compressed type"
    media_type = media_type_for(lowered, charset="")
    if media_type.startswith(_COMPRESSED_TYPES) and media_type not in _STILL_COMPRESSIBLE:
        return "compressed type"
    if size < MIN_SIZE:
        return "too small"
    return None


def pays(original: int, compressed: int) -> bool:
    saved = original - compressed
    return saved >= MIN_SAVING_BYTES and saved >= original * MIN_SAVING_RATIO


def server_may_compress(name: str, size: int, *, has_siblings: bool, max_size: int) -> bool:
    """Whether the server may compress this file itself (``compress=True``): a precompressed
    sibling is preferred when there is one, and the compressed body is held in memory, so
    nothing above ``max_size`` bytes."""
    return not has_siblings and size <= max_size and skip_reason(name, size) is None
