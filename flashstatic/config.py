"""One frozen options object, and the mapping from Starlette's and WhiteNoise's arguments.

Users switching from ``StaticFiles(directory=..., html=True)`` or ``WhiteNoise(app, root=...,
max_age=...)`` pass the same arguments with the same meaning; docs/usage.md has the table.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypedDict
from wsgiref.headers import Headers

from .http.cachecontrol import CacheControlRules, cache_control_rules
from .http.cors import CorsPolicy, cors_policy
from .http.ranges import DEFAULT_MAX_RANGES

if TYPE_CHECKING:
    from typing_extensions import Unpack

ImmutableTest = Callable[[str, str], bool]
AddHeadersFunction = Callable[[Headers, str, str], None]

# A content hash in a file name, in the forms bundlers and Django write: marking a file
# immutable by mistake pins it in browsers for a year, so dates, version numbers and words
# must not match.
_HASHED_NAME = re.compile(
    # Hex, 8 to 64 digits with both a digit and a letter (a date or a number is not a hash):
    # Django's manifest (app.3f2a9c1d7b4e.js), webpack and Parcel (main-8e0d62a0.chunk.js).
    r"[.-](?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,64}\."
    # Eight base64url characters after a dash, an upper-case letter among them and not a
    # capitalised word: Vite and Rollup (main-BZ2F3x9a.css), esbuild (app-4YPQJQXW.js).
    r"|-(?![A-Z][a-z]{7}\.)(?=[\w-]{0,7}[A-Z])(?=[\w-]{0,7}[a-z0-9])[A-Za-z0-9_-]{8}\."
)

ONE_YEAR = 31536000


def has_content_hash(path: str, url: str) -> bool:
    return _HASHED_NAME.search(os.path.basename(url)) is not None


@dataclass(frozen=True, slots=True)
class Root:
    directory: str
    prefix: str  # "" for the top, else "/name" with no trailing slash

    def covers(self, path: str) -> bool:
        prefix = self.prefix
        return not prefix or path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True, slots=True)
class TranslationRules:
    """What pathname translation obeys, as plain data that a helper process can be sent."""

    roots: tuple[Root, ...]
    follow_symlink: bool = False
    allow_dotfiles: bool = False
    index_file: str | None = None
    redirect_index: bool = False
    not_found_file: str | None = None


def normalize_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    return "/" + prefix.strip("/") if prefix.strip("/") else ""


# The smallest meaningful value of each number setting, and whether it must be exceeded rather
# than reached: 0 is allowed where it turns something off (no small-file cache, no queue).
_LOWER_BOUNDS: dict[str, tuple[float, bool]] = {
    "max_age": (0, False),
    "revalidate_interval": (0, False),
    "pathname_cache_size": (1, False),
    "small_file_max": (0, False),
    "small_file_cache_bytes": (0, False),
    "chunk_size": (1, False),
    "sendfile_chunk": (1, False),
    "max_ranges": (0, False),
    "min_helpers": (0, False),
    "max_helpers": (1, False),
    "helper_threads": (1, False),
    "helper_queue": (0, False),
    "helper_timeout": (0, True),
    "page_in_size": (1, False),
    "open_files": (0, False),
}


def number_problem(name: str, value: float) -> str | None:
    """Why ``value`` cannot be the setting ``name`` ("must be ..."), or None when it can."""
    bound, strict = _LOWER_BOUNDS[name]
    if math.isnan(value) or value == math.inf or value < bound or (strict and value == bound):
        return f"must be {'more than' if strict else 'at least'} {bound:g}, not {value!r}"
    return None


def _check_numbers(settings: Options | DiskOptions) -> None:
    for setting in fields(settings):
        value = getattr(settings, setting.name)
        if setting.name in _LOWER_BOUNDS and value is not None:
            problem = number_problem(setting.name, value)
            if problem is not None:
                raise ValueError(f"{setting.name} {problem}")


@dataclass(frozen=True)
class DiskOptions:
    """How the ASGI adapter reaches the disk (amped.md); WSGI reads in its own worker."""

    architecture: str = "amped"
    helper_backend: str = "process"
    min_helpers: int = 1
    max_helpers: int = 4
    # Jobs each helper does at once, a thread each: max_helpers x helper_threads reads in flight.
    helper_threads: int = 4
    helper_queue: int = 256
    helper_timeout: float = 30.0
    page_in_size: int = 512 * 1024
    # None: a quarter of the descriptor limit, at most 4096 (asgi.default_open_files).
    open_files: int | None = None

    def __post_init__(self) -> None:
        _check_numbers(self)


@dataclass(frozen=True)
class Options:
    """Every setting, with its default: what the keywords of every way in are mapped onto."""

    roots: tuple[Root, ...] = ()
    follow_symlink: bool = False
    allow_dotfiles: bool = False
    index_file: str | None = None
    redirect_index: bool = False
    not_found_file: str | None = None
    max_age: int | None = 60
    immutable_file_test: ImmutableTest = has_content_hash
    allow_all_origins: bool = False
    # Origins allowed to read files from scripts ("*": any); allow_all_origins is ("*",).
    cors_origins: tuple[str, ...] = ()
    # (URL glob, Cache-Control value), first match wins over max_age's.
    cache_control: CacheControlRules = ()
    add_headers_function: AddHeadersFunction | None = None
    mimetypes: Mapping[str, str] = field(default_factory=dict)
    charset: str = "utf-8"
    # Seconds a pathname-cache entry is trusted before a stat revalidates it (0: every request).
    revalidate_interval: float = 1.0
    # autorefresh=False: the roots are scanned once at start and never looked at again.
    scan_once: bool = False
    pathname_cache_size: int = 10_000
    small_file_max: int = 64 * 1024
    small_file_cache_bytes: int = 32 * 1024 * 1024
    chunk_size: int = 64 * 1024
    # Bytes per zero-copy message: each is made resident (AMPED) and then sendfile'd.
    sendfile_chunk: int = 1024 * 1024
    max_ranges: int = DEFAULT_MAX_RANGES
    # A directory without an index file answers with a listing of what it holds.
    listing: bool = False
    # Files with no precompressed sibling are compressed by the server, once per version, and
    # kept in the small-file cache (so only files up to small_file_max).
    compress: bool = False
    # A single-page app's shell (relative to the first root), answered for unknown extensionless paths.
    fallback: str | None = None
    disk: DiskOptions = field(default_factory=DiskOptions)
    metrics_path: str | None = None
    # "ok" at this path (below the mount point), answered without the disk.
    health_path: str | None = None

    def __post_init__(self) -> None:
        _check_numbers(self)

    @property
    def rules(self) -> TranslationRules:
        return TranslationRules(
            self.roots,
            self.follow_symlink,
            self.allow_dotfiles,
            self.index_file,
            self.redirect_index,
            self.not_found_file,
        )

    @property
    def cors(self) -> CorsPolicy | None:
        return cors_policy(self.cors_origins, allow_all_origins=self.allow_all_origins)

    def with_root(self, directory: str, prefix: str | None) -> Options:
        return replace(self, roots=(*self.roots, Root(os.fspath(directory), normalize_prefix(prefix))))


def endpoint_path(name: str, path: str | None) -> str | None:
    """A path FlashStatic answers itself (below the mount point): "/" and URL path characters."""
    if path is None:
        return None
    if not isinstance(path, str) or not re.fullmatch(r"/[\x21-\x7e]*", path) or "?" in path or "#" in path:
        raise ValueError(f"{name} = {path!r} must be a URL path starting with '/', such as '/_health'")
    return path


def package_directory(package: str | tuple[str, str]) -> str:
    """Starlette's ``packages`` entry: a package name (its "statics" folder) or (name, folder)."""
    name, folder = package if isinstance(package, tuple) else (package, "statics")
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"Package {name!r} could not be found.")
    directory = os.path.normpath(os.path.join(spec.origin, "..", folder))
    if not os.path.isdir(directory):
        raise RuntimeError(f"Directory {folder!r} in package {name!r} could not be found.")
    return directory


def _immutable_test(value: ImmutableTest | str | None) -> ImmutableTest:
    if value is None:
        return has_content_hash
    if isinstance(value, str):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"immutable_file_test {value!r} is not a regular expression: {exc}") from None
        return lambda path, url: pattern.search(url) is not None
    return value


class ServingArguments(TypedDict, total=False):
    """The keywords of every way in about what to serve and how, in Starlette's and WhiteNoise's
    spellings and ours; docs/configuration.md says what each means. A keyword left out takes
    the Options field's default, or, for a keyword that is not a field, _KEYWORD_DEFAULTS'."""

    root: str | os.PathLike[str] | None
    packages: Sequence[str | tuple[str, str]] | None
    html: bool
    check_dir: bool
    follow_symlink: bool
    allow_dotfiles: bool
    max_age: int | None
    index_file: bool | str | None
    redirect_index: bool | None
    mimetypes: Mapping[str, str] | None
    charset: str
    add_headers_function: AddHeadersFunction | None
    allow_all_origins: bool
    immutable_file_test: ImmutableTest | str | None
    autorefresh: bool | None
    revalidate_interval: float
    pathname_cache_size: int
    small_file_max: int
    small_file_cache_bytes: int
    chunk_size: int
    sendfile_chunk: int
    max_ranges: int
    fallback: str | None
    cors_origins: Sequence[str]
    cache_control: Mapping[str, str] | Iterable[tuple[str, str]] | None
    listing: bool
    compress: bool


class StaticArguments(ServingArguments, total=False):
    """ServingArguments, and the ASGI adapter's own: its disk and its metrics endpoint."""

    architecture: str
    helper_backend: str
    min_helpers: int
    max_helpers: int
    helper_threads: int
    helper_queue: int
    helper_timeout: float
    page_in_size: int
    open_files: int | None
    metrics_path: str | None
    health_path: str | None


SERVING_KEYWORDS = frozenset(ServingArguments.__optional_keys__)
STATIC_KEYWORDS = frozenset(StaticArguments.__optional_keys__)

# The keywords that are no Options field, or that say "not given" otherwise than the field's
# default does: what leaving each out means.
_KEYWORD_DEFAULTS: ServingArguments = {
    "root": None,
    "packages": None,
    "html": False,
    "check_dir": True,
    "index_file": None,
    "redirect_index": None,
    "mimetypes": None,
    "immutable_file_test": None,
    "autorefresh": None,
}
# The keywords that are Options fields with the same meaning, passed on as they are.
_AS_GIVEN = frozenset(f.name for f in fields(Options)) & STATIC_KEYWORDS - set(_KEYWORD_DEFAULTS)
_DISK_FIELDS = frozenset(f.name for f in fields(DiskOptions))


def keyword_defaults() -> dict[str, object]:
    """Every keyword's default, as the docs state it."""
    options, disk = Options(), DiskOptions()
    defaults: dict[str, object] = {}
    for name in sorted(STATIC_KEYWORDS):
        if name in _KEYWORD_DEFAULTS:
            defaults[name] = _KEYWORD_DEFAULTS[name]  # type: ignore[literal-required]
        else:
            defaults[name] = getattr(disk if name in _DISK_FIELDS else options, name)
    return defaults


def refuse_unknown(caller: str, arguments: Mapping[str, object], accepted: frozenset[str]) -> None:
    """What Python says of a keyword a signature lacks: ``**kwargs`` checks none by itself."""
    for name in arguments:
        if name not in accepted:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")


def build_options(
    directory: str | os.PathLike[str] | None,
    prefix: str | None,
    arguments: ServingArguments,
    *,
    defaults: ServingArguments | None = None,
) -> Options:
    """The one mapping of the public keywords onto Options, with Starlette's checks.
    ``defaults`` are a way in's own defaults, where they differ from Options' (documented)."""
    given: ServingArguments = {**_KEYWORD_DEFAULTS, **(defaults or {}), **arguments}
    root = given["root"]
    if directory is not None and root is not None:
        raise TypeError("pass directory (Starlette's name) or root (WhiteNoise's), not both")
    directory = directory if directory is not None else root
    mimetypes = dict(given["mimetypes"] or {})
    for key, media_type in mimetypes.items():
        if not isinstance(media_type, str) or not re.fullmatch(r"[\x21-\x7e][\x20-\x7e]*", media_type):
            raise ValueError(f"mimetypes[{key!r}] = {media_type!r} is not a valid Content-Type value")
    if directory is not None and given["check_dir"] and not os.path.isdir(directory):
        raise RuntimeError(f"Directory '{directory}' does not exist")

    prefix = normalize_prefix(prefix)
    roots = [Root(os.fspath(directory), prefix)] if directory is not None else []
    roots.extend(Root(package_directory(p), prefix) for p in given["packages"] or ())

    html, index_file = given["html"], given["index_file"]
    if index_file is True or (index_file in (None, False) and html):
        index_name: str | None = "index.html"
    else:
        index_name = index_file or None
    redirect_index = given["redirect_index"]
    if redirect_index is None:
        # WhiteNoise's index_file redirects /dir/index.html to /dir/; Starlette's html serves it.
        redirect_index = bool(index_file)
    autorefresh = given["autorefresh"]

    settings = {name: value for name, value in given.items() if name in _AS_GIVEN}
    if autorefresh:
        settings["revalidate_interval"] = 0.0
    settings["cache_control"] = cache_control_rules(settings.get("cache_control"))  # type: ignore[arg-type]
    origins: Any = settings.get("cors_origins") or ()
    settings["cors_origins"] = origins = (origins,) if isinstance(origins, str) else tuple(origins)
    cors_policy(origins)  # a bad origin is refused here, at construction
    if settings.get("fallback"):
        settings["fallback"] = str(settings["fallback"]).strip("/") or None
    disk = DiskOptions(**{name: value for name, value in given.items() if name in _DISK_FIELDS})  # type: ignore[arg-type]
    return Options(
        roots=tuple(roots),
        index_file=index_name,
        redirect_index=redirect_index,
        not_found_file="404.html" if html else None,
        immutable_file_test=_immutable_test(given["immutable_file_test"]),
        mimetypes=mimetypes,
        scan_once=autorefresh is False,
        disk=disk,
        **settings,  # type: ignore[arg-type]
    )


def static_options(
    directory: str | os.PathLike[str] | None = None, prefix: str | None = None, **arguments: Unpack[StaticArguments]
) -> Options:
    """Options from the keywords ``FlashStatic`` takes, to hand to a way in as ``options=``."""
    refuse_unknown("static_options", arguments, STATIC_KEYWORDS)
    return build_options(directory, prefix, arguments)


def options_or_arguments(
    caller: str,
    options: Options | None,
    directory: str | os.PathLike[str] | None,
    prefix: str | None,
    arguments: ServingArguments,
    accepted: frozenset[str],
    defaults: ServingArguments | None = None,
) -> Options:
    """A way in's constructor: a ready Options, or the keywords mapped onto one (not both)."""
    refuse_unknown(caller, arguments, accepted)
    if options is None:
        return build_options(directory, prefix, arguments, defaults=defaults)
    if directory is not None or prefix is not None or arguments:
        raise TypeError(f"{caller}() takes options= or the keywords it is made from, not both")
    return options
