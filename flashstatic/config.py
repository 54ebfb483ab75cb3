"""One frozen options object, and the mapping from Starlette's and WhiteNoise's arguments.

Users switching from ``StaticFiles(directory=..., html=True)`` or ``WhiteNoise(app, root=...,
max_age=...)`` pass the same arguments with the same meaning; docs/usage.md has the table.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from wsgiref.headers import Headers

from .http.cachecontrol import CacheControlRules, cache_control_rules
from .http.cors import CorsPolicy, cors_policy
from .http.ranges import DEFAULT_MAX_RANGES

if TYPE_CHECKING:
    from .translate import TranslationRules

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


def normalize_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    return "/" + prefix.strip("/") if prefix.strip("/") else ""


@dataclass(frozen=True)
class Options:
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

    @property
    def rules(self) -> TranslationRules:
        from .translate import TranslationRules

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
        pattern = re.compile(value)
        return lambda path, url: pattern.search(url) is not None
    return value


def build_options(
    *,
    directory: str | os.PathLike[str] | None,
    prefix: str | None,
    packages: Sequence[str | tuple[str, str]] | None,
    html: bool,
    check_dir: bool,
    follow_symlink: bool,
    index_file: bool | str | None,
    redirect_index: bool | None,
    immutable_file_test: ImmutableTest | str | None,
    autorefresh: bool | None,
    revalidate_interval: float,
    **settings: object,
) -> Options:
    """Turn the public constructor arguments into Options, with Starlette's checks."""
    for key, media_type in dict(settings.get("mimetypes") or {}).items():  # type: ignore[call-overload]
        if not isinstance(media_type, str) or not re.fullmatch(r"[\x21-\x7e][\x20-\x7e]*", media_type):
            raise ValueError(f"mimetypes[{key!r}] = {media_type!r} is not a valid Content-Type value")
    settings["cache_control"] = cache_control_rules(settings.get("cache_control"))  # type: ignore[arg-type]
    origins: Any = settings.get("cors_origins") or ()
    settings["cors_origins"] = origins = (origins,) if isinstance(origins, str) else tuple(origins)
    cors_policy(origins)  # a bad origin is refused here, at construction
    if directory is not None and check_dir and not os.path.isdir(directory):
        raise RuntimeError(f"Directory '{directory}' does not exist")

    roots: list[Root] = []
    prefix = normalize_prefix(prefix)
    if directory is not None:
        roots.append(Root(os.fspath(directory), prefix))
    roots.extend(Root(package_directory(p), prefix) for p in packages or ())

    if index_file is True or (index_file in (None, False) and html):
        index_name: str | None = "index.html"
    else:
        index_name = index_file or None
    if redirect_index is None:
        # WhiteNoise's index_file redirects /dir/index.html to /dir/; Starlette's html serves it.
        redirect_index = bool(index_file)

    return Options(
        roots=tuple(roots),
        follow_symlink=follow_symlink,
        index_file=index_name,
        redirect_index=redirect_index,
        not_found_file="404.html" if html else None,
        immutable_file_test=_immutable_test(immutable_file_test),
        revalidate_interval=0.0 if autorefresh else revalidate_interval,
        scan_once=autorefresh is False,
        **settings,  # type: ignore[arg-type]
    )


def static_options(
    directory: str | os.PathLike[str] | None = None,
    prefix: str | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    packages: Sequence[str | tuple[str, str]] | None = None,
    html: bool = False,
    check_dir: bool = True,
    follow_symlink: bool = False,
    allow_dotfiles: bool = False,
    max_age: int | None = 60,
    index_file: bool | str | None = None,
    redirect_index: bool | None = None,
    mimetypes: Mapping[str, str] | None = None,
    charset: str = "utf-8",
    add_headers_function: AddHeadersFunction | None = None,
    allow_all_origins: bool = False,
    cors_origins: Sequence[str] = (),
    cache_control: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    immutable_file_test: ImmutableTest | str | None = None,
    autorefresh: bool | None = None,
    revalidate_interval: float = 1.0,
    pathname_cache_size: int = 10_000,
    small_file_max: int = 64 * 1024,
    small_file_cache_bytes: int = 32 * 1024 * 1024,
    chunk_size: int = 64 * 1024,
    sendfile_chunk: int = 1024 * 1024,
    max_ranges: int = 32,
    listing: bool = False,
) -> Options:
    """The arguments every adapter (ASGI and WSGI) takes about what to serve and how: one
    signature, so the two accept the same names with the same defaults."""
    if directory is not None and root is not None:
        raise TypeError("pass directory (Starlette's name) or root (WhiteNoise's), not both")
    return build_options(
        directory=directory if directory is not None else root,
        prefix=prefix,
        packages=packages,
        html=html,
        check_dir=check_dir,
        follow_symlink=follow_symlink,
        index_file=index_file,
        redirect_index=redirect_index,
        immutable_file_test=immutable_file_test,
        autorefresh=autorefresh,
        revalidate_interval=revalidate_interval,
        allow_dotfiles=allow_dotfiles,
        max_age=max_age,
        mimetypes=dict(mimetypes or {}),
        charset=charset,
        add_headers_function=add_headers_function,
        allow_all_origins=allow_all_origins,
        cors_origins=cors_origins,
        cache_control=cache_control,
        pathname_cache_size=pathname_cache_size,
        small_file_max=small_file_max,
        small_file_cache_bytes=small_file_cache_bytes,
        chunk_size=chunk_size,
        sendfile_chunk=sendfile_chunk,
        max_ranges=max_ranges,
        listing=listing,
    )
