"""Content-Type from a file name.

A fixed table first, then Python's built-in one (never the host's /etc/mime.types), so every
replica of a deployment labels a file the same way whatever its operating system ships.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping

_WEB_TYPES: dict[str, str] = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
    ".pdf": "application/pdf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    # A compressed file asked for by its own name is served as what it is.
    ".gz": "application/gzip",
    ".br": "application/x-brotli",
    ".zst": "application/zstd",
    ".zip": "application/zip",
    ".tar": "application/x-tar",
}

_BUILTIN = mimetypes.MimeTypes(filenames=())

DEFAULT_TYPE = "application/octet-stream"


def _wants_charset(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or media_type in ("application/json", "application/xml", "application/javascript")
        or media_type.endswith(("+json", "+xml"))
    )


def media_type_for(name: str, overrides: Mapping[str, str] | None = None, charset: str = "utf-8") -> str:
    """The Content-Type value for a file called ``name``.

    ``overrides`` maps a file name or an extension (".ext") to a type, as WhiteNoise's
    ``mimetypes`` option does; a type given with parameters is used as it is.
    """
    lowered = name.lower()
    suffix = lowered[lowered.rfind(".") :] if "." in lowered else ""
    media_type = None
    if overrides:
        media_type = overrides.get(name) or overrides.get(suffix)
    if media_type is None:
        media_type = _WEB_TYPES.get(suffix)
    if media_type is None:
        guessed, encoding = _BUILTIN.guess_type(lowered, strict=False)
        media_type = DEFAULT_TYPE if guessed is None or encoding else guessed
    if charset and ";" not in media_type and _wants_charset(media_type):
        media_type += f"; charset={charset}"
    return media_type
