"""Django settings -> what FlashStaticMiddleware serves, and how.

Every ``WHITENOISE_*`` setting keeps WhiteNoise's meaning, so a project switches without
renaming them; ``FLASHSTATIC_*`` spells the same ones and flashstatic's own options, and wins
when both are set. A ``FLASHSTATIC_*`` name that means nothing is an error, not silence.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

# Settings both spellings take: WhiteNoise's name -> FlashStaticWSGI keyword.
SHARED_OPTIONS = {
    "AUTOREFRESH": "autorefresh",
    "MAX_AGE": "max_age",
    "ALLOW_ALL_ORIGINS": "allow_all_origins",
    "CHARSET": "charset",
    "MIMETYPES": "mimetypes",
    "ADD_HEADERS_FUNCTION": "add_headers_function",
    "INDEX_FILE": "index_file",
    "IMMUTABLE_FILE_TEST": "immutable_file_test",
}
# flashstatic's own options, FLASHSTATIC_* only.
OWN_OPTIONS = (
    "follow_symlink",
    "allow_dotfiles",
    "redirect_index",
    "redirect_status",
    "revalidate_interval",
    "pathname_cache_size",
    "small_file_max",
    "small_file_cache_bytes",
    "chunk_size",
    "sendfile_chunk",
    "max_ranges",
    "compress",
)
# Read by the middleware and by the storage backends rather than passed on as options.
MIDDLEWARE_SETTINGS = ("USE_FINDERS", "STATIC_PREFIX", "ROOT")
STORAGE_SETTINGS = ("KEEP_ONLY_HASHED_FILES", "MANIFEST_STRICT", "SKIP_COMPRESS_EXTENSIONS")

KNOWN = frozenset([*SHARED_OPTIONS, *(name.upper() for name in OWN_OPTIONS), *MIDDLEWARE_SETTINGS, *STORAGE_SETTINGS])

_UNSET = object()


def setting(settings: Any, name: str, default: Any = None) -> Any:
    """FLASHSTATIC_<name>, else WHITENOISE_<name>, else ``default``."""
    for spelling in (f"FLASHSTATIC_{name}", f"WHITENOISE_{name}"):
        value = getattr(settings, spelling, _UNSET)
        if value is not _UNSET:
            return value
    return default


def check_names(settings: Any) -> None:
    unknown = sorted(
        name for name in dir(settings) if name.startswith("FLASHSTATIC_") and name[len("FLASHSTATIC_") :] not in KNOWN
    )
    if unknown:
        known = ", ".join(f"FLASHSTATIC_{name}" for name in sorted(KNOWN))
        raise ImproperlyConfigured(f"unknown setting {', '.join(unknown)}; flashstatic reads {known}")


def with_slashes(prefix: str) -> str:
    """ "static", "/static" and "/static/" -> "/static/"; "" -> "/"."""
    inner = prefix.strip("/")
    return f"/{inner}/" if inner else "/"


def static_prefix(settings: Any) -> str:
    """Where STATIC_ROOT appears below the script name: STATIC_URL's path (a full URL, as for a
    CDN that fetches from this server, counts by its path), without FORCE_SCRIPT_NAME, which
    Django's request.path_info does not include either."""
    explicit = setting(settings, "STATIC_PREFIX")
    if explicit is not None:
        return with_slashes(explicit)
    path = urlparse(settings.STATIC_URL or "").path
    script = (getattr(settings, "FORCE_SCRIPT_NAME", None) or "").rstrip("/")
    if script and (path == script or path.startswith(script + "/")):
        path = path[len(script) :]
    return with_slashes(path)


@dataclass(frozen=True)
class StaticSettings:
    prefix: str  # with leading and trailing slash
    roots: tuple[tuple[str, str], ...]  # (directory, URL prefix), the first to have a file wins
    options: dict[str, Any] = field(default_factory=dict)  # FlashStaticWSGI keywords
    use_finders: bool = False


def read_settings(settings: Any, finder_roots: Iterator[tuple[str, str]] | None = None) -> StaticSettings:
    """What the middleware serves. ``finder_roots`` gives the staticfiles finders' directories
    (and their URL prefixes) when they are used: in DEBUG unless USE_FINDERS says otherwise."""
    check_names(settings)
    debug = bool(getattr(settings, "DEBUG", False))
    prefix = static_prefix(settings)
    options: dict[str, Any] = {
        # WhiteNoise's development defaults: look at the disk on every request, cache nothing.
        "autorefresh": debug,
        "max_age": 0 if debug else 60,
    }
    for name, keyword in SHARED_OPTIONS.items():
        value = setting(settings, name, _UNSET)
        if value is not _UNSET:
            options[keyword] = value
    for keyword in OWN_OPTIONS:
        value = getattr(settings, f"FLASHSTATIC_{keyword.upper()}", _UNSET)
        if value is not _UNSET:
            options[keyword] = value
    if options.get("mimetypes") is None:
        options.pop("mimetypes", None)

    use_finders = bool(setting(settings, "USE_FINDERS", debug))
    roots: list[tuple[str, str]] = []
    if use_finders and finder_roots is not None:
        roots.extend(finder_roots)
    extra_root = setting(settings, "ROOT")
    if extra_root:
        roots.append((os.fspath(extra_root), "/"))
    static_root = getattr(settings, "STATIC_ROOT", None)
    if static_root:
        roots.append((os.fspath(static_root), prefix))
    return StaticSettings(prefix, tuple(roots), options, use_finders)
