"""FlashStaticMiddleware: static files from Django's MIDDLEWARE list, where WhiteNoise's goes.

The decisions are FlashStaticWSGI's (the same core as every other way in): the middleware
hands it the request's path and validator headers as an environ, and turns its answer into a
Django response. A file body stays a file: under WSGI Django gives it to the server's
``wsgi.file_wrapper`` (gunicorn sendfiles it); under ASGI it is read in a thread, chunk by
chunk, since the event loop must not wait on the disk. Under ASGI, requests outside the static
prefixes and responses the caches hold whole never leave the event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings as django_settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import ImproperlyConfigured
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from ..config import ONE_YEAR
from ..http.paths import PathRejected
from ..translate import MISSING
from ..wsgi import FlashStaticWSGI, route_path
from .conf import StaticSettings, read_settings, static_prefix, with_slashes

__all__ = ["FlashStaticFileResponse", "FlashStaticMiddleware"]

# What the request tells the core: the fields it reads to choose a response.
_FORWARDED = (
    "HTTP_ACCEPT_ENCODING",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_RANGE",
    "HTTP_IF_RANGE",
    "QUERY_STRING",
    "RAW_URI",
    "REQUEST_URI",
)


class FlashStaticFileResponse(FileResponse):  # type: ignore[misc]
    """A FileResponse whose headers are all flashstatic's: Django's own guesses (type, length,
    Content-Disposition) would contradict the ones already chosen, a range's length above all."""

    def set_headers(self, filelike: Any) -> None:
        pass


class _NotOurs(list[bytes]):
    """What the core's wrapped app returns: the request is Django's."""


_NOT_OURS = _NotOurs()


def _not_ours(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    return _NOT_OURS


class _CapturedFile:
    """The core's ``wsgi.file_wrapper``: keeps the file, positioned and bounded to the bytes
    to send, so that Django (and through it the server) sends it."""

    def __init__(self, file: Any, block_size: int = 0) -> None:
        self.file = file

    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        self.file.close()


class _Answer:
    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        self.status = int(status[:3])
        self.headers = headers


class _ThreadedReads:
    """An async iterator over a file's reads, each made in a thread."""

    def __init__(self, read: Callable[[], bytes]) -> None:
        self._read = read

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        data = await asyncio.to_thread(self._read)
        if not data:
            raise StopAsyncIteration
        return data


def static_environ(request: HttpRequest) -> dict[str, Any]:
    """The environ the core reads, from a WSGI or an ASGI request alike: the path as PEP 3333's
    latin-1 string of its UTF-8 bytes, below the script name."""
    meta = request.META
    environ = {name: meta[name] for name in _FORWARDED if name in meta}
    environ["PATH_INFO"] = request.path_info.encode("utf-8", "surrogateescape").decode("latin-1")
    environ["REQUEST_METHOD"] = request.method or ""
    environ["wsgi.file_wrapper"] = _CapturedFile
    return environ


def finder_roots(prefix: str) -> Iterator[tuple[str, str]]:
    """Every directory the staticfiles finders search, in their order, with its URL prefix."""
    for finder in finders.get_finders():
        storages = getattr(finder, "storages", None)
        found = storages.values() if isinstance(storages, dict) else (s for _, s in finder.list(None))
        seen: set[tuple[str, str]] = set()
        for storage in found:
            location = getattr(storage, "location", None)
            if location is None:
                continue
            root = (os.fspath(location), with_slashes(prefix + (getattr(storage, "prefix", None) or "")))
            if root not in seen:
                seen.add(root)
                yield root


class ManifestImmutable:
    """Hashed names are those the staticfiles manifest maps an original name to: immutable,
    whatever they look like, and nothing else is (a name that merely looks hashed is not)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._known: tuple[int, int, frozenset[str]] = (0, -1, frozenset())

    def hashed_names(self) -> frozenset[str]:
        try:
            manifest = getattr(staticfiles_storage, "hashed_files", None)
        except ImproperlyConfigured:  # no STATIC_ROOT (finders only): no manifest either
            return frozenset()
        if not isinstance(manifest, dict):
            return frozenset()
        key = (id(manifest), len(manifest))
        if self._known[:2] != key:
            names = frozenset(value for name, value in manifest.items() if value != name)
            self._known = (*key, names)
        return self._known[2]

    def __call__(self, path: str, url: str) -> bool:
        if not url.startswith(self.prefix):
            return False
        return url[len(self.prefix) :] in self.hashed_names()


def django_response(answer: _Answer, body: Iterable[bytes], chunk_size: int, *, asynchronous: bool) -> HttpResponseBase:
    response: HttpResponseBase
    if isinstance(body, _CapturedFile):
        file = body.file
        if asynchronous:
            response = FlashStaticFileResponse(_ThreadedReads(lambda: file.read(chunk_size)), status=answer.status)
            response._resource_closers.append(file.close)
        else:
            response = FlashStaticFileResponse(file, status=answer.status)
        response.block_size = chunk_size
    elif isinstance(body, list):
        response = HttpResponse(b"".join(body), status=answer.status)
    else:  # several ranges: a multipart body read part by part
        parts = iter(body)
        content: Any = _ThreadedReads(lambda: next(parts, b"")) if asynchronous else parts
        response = StreamingHttpResponse(content, status=answer.status)
        closer = getattr(body, "close", None)
        if closer is not None:
            response._resource_closers.append(closer)
    # Only the core's headers: no default Content-Type (a 304 has none).
    del response["Content-Type"]
    for name, value in answer.headers:
        response[name] = value
    return response


class FlashStaticMiddleware:
    """``"flashstatic.django.FlashStaticMiddleware"`` in MIDDLEWARE, right after
    SecurityMiddleware: STATIC_ROOT at STATIC_URL's path, WHITENOISE_ROOT at the top, and
    the finders' directories in DEBUG. Everything else goes on to Django."""

    sync_capable = True
    async_capable = True
    # Cache-Control max-age of the names staticfiles' manifest lists as hashed.
    FOREVER = ONE_YEAR

    def __init__(self, get_response: Callable[[HttpRequest], Any], settings: Any = django_settings) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)
        self.config = read_settings(settings, finder_roots(static_prefix(settings)))
        self.static = build_static(self.config)

    @property
    def static_prefix(self) -> str:
        return self.config.prefix

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        environ = static_environ(request)
        answer = _Answer()
        body = self.static(environ, answer.start_response)
        if body is _NOT_OURS:
            return self.get_response(request)
        return django_response(answer, body, self.static.options.chunk_size, asynchronous=False)

    def known_miss(self, path: str) -> bool:
        """Whether ``path`` names nothing, known from memory alone: with the roots read once at
        start (autorefresh off), their listing answers without the disk."""
        core = self.static.core
        if core.scanned is None:
            return False
        try:
            return core.from_scan(path) is MISSING
        except PathRejected:  # a path no file could have (climbing above the root...)
            return True

    async def __acall__(self, request: HttpRequest) -> Any:
        environ = static_environ(request)
        path = route_path(environ)
        if not self.static.core.covers(path) or self.known_miss(path):
            return await self.get_response(request)
        cached = self.static.answer_from_memory(environ)
        if cached is not None:
            answer = _Answer()
            answer.start_response(cached[0], cached[1])
            return django_response(answer, [cached[2]], 0, asynchronous=True)
        answer = _Answer()
        # Translation, stat and open block: a thread does them, as a sync view's would.
        body = await asyncio.to_thread(self.static, environ, answer.start_response)
        if body is _NOT_OURS:
            return await self.get_response(request)
        return django_response(answer, body, self.static.options.chunk_size, asynchronous=True)


def build_static(config: StaticSettings) -> FlashStaticWSGI:
    """The core, with the roots in the order they are searched."""
    options = dict(config.options)
    if "immutable_file_test" not in options:
        options["immutable_file_test"] = ManifestImmutable(config.prefix)
    try:
        if not config.roots:
            return FlashStaticWSGI(_not_ours, **options)
        (directory, prefix), *others = config.roots
        static = FlashStaticWSGI(_not_ours, directory, prefix, **options)
        for directory, prefix in others:
            static.add_files(directory, prefix)
    except (TypeError, ValueError) as error:
        raise ImproperlyConfigured(f"flashstatic: {error}") from error
    return static
