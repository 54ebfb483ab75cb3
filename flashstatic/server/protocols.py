"""uvicorn protocol classes that offer the ASGI zero-copy extensions on plain TCP.

    uvicorn myapp:app --http flashstatic.server:HttpToolsProtocol
    uvicorn.run(app, http=flashstatic.server.H11Protocol)

Under TLS the extensions are not offered (sendfile would bypass the encryption) and apps fall
back to ordinary body messages.

When uvicorn runs a FlashStatic app directly, the httptools protocol also answers its cache
hits as soon as a request's headers are parsed, before any ASGI scope exists (see
``cached.py``); every other request takes uvicorn's own way, unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http import h11_impl, httptools_impl

from .cached import encode_response, find_cache_shortcut, log_access
from .cycle import PATHSEND, ZEROCOPYSEND, H11ZeroCopyCycle, HttpToolsZeroCopyCycle

_EXTENSIONS = (ZEROCOPYSEND, PATHSEND)


def zero_copy_possible(transport: asyncio.BaseTransport | None) -> bool:
    return (transport is not None and transport.get_extra_info("sslcontext") is None
            and transport.get_extra_info("socket") is not None)


def _offer_zero_copy(cycle: Any, cycle_class: type, transport: asyncio.BaseTransport) -> None:
    # The request task is created but has not run yet: switching the cycle's class now makes
    # its send() ours for the whole response.
    if zero_copy_possible(transport):
        cycle.__class__ = cycle_class
        extensions = cycle.scope.setdefault("extensions", {})
        for name in _EXTENSIONS:
            extensions.setdefault(name, {})


class HttpToolsProtocol(httptools_impl.HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # With a concurrency limit uvicorn may answer 503 instead: its own way decides.
        self._shortcut = find_cache_shortcut(self.app) if self.limit_concurrency is None else None
        self._answered = False  # the request being parsed was answered from the cache
        # uvicorn decides once per connection whether to log; so do we, level included.
        self._log_answers = self.access_log and self.access_logger.isEnabledFor(logging.INFO)

    def on_message_begin(self) -> None:
        # uvicorn builds the scope here; it waits until a request turns out to need one.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self._answered = False

    def on_headers_complete(self) -> None:
        if self._shortcut is not None and self._answer_from_cache():
            self._answered = True
            return
        url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect_100_continue
        self.scope["headers"] = headers
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._answered:  # an answered request's body is read and dropped, as uvicorn does
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._answered:
            super().on_message_complete()

    def _start_asgi_task(self, cycle: httptools_impl.RequestResponseCycle, app: Any) -> None:
        _offer_zero_copy(cycle, HttpToolsZeroCopyCycle, self.transport)
        super()._start_asgi_task(cycle, app)

    def _answer_from_cache(self) -> bool:
        """Write the response now if the caches hold it and nothing is ahead of it."""
        assert self._shortcut is not None
        cycle = self.cycle
        if ((cycle is not None and not cycle.response_complete) or self.pipeline or self.flow.write_paused
                or self.transport.is_closing()):
            return False  # pipelined behind a response still going out: uvicorn queues it
        parser = self.parser
        method = parser.get_method()
        if (method != b"GET" and method != b"HEAD") or parser.should_upgrade():
            return False
        target = self.url
        try:
            if target[:1] == b"/" and b"?" not in target and b"%" not in target and b"#" not in target:
                path, query = target.decode("ascii"), b""  # what parse_url would find
            else:
                url = httptools.parse_url(target)
                path, query = url.path.decode("ascii"), url.query or b""
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            return False  # uvicorn's own way answers these
        if "%" in path:
            path = urllib.parse.unquote(path)
        logging_access = self._log_answers
        if logging_access and self._shortcut.behind_proxy_headers and _forwarded(self.headers):
            return False  # the log line shows the forwarded client, which the middleware finds
        method_name = "GET" if method == b"GET" else "HEAD"
        response = self._shortcut.answer(path, method_name, self.headers)
        if response is None:
            return False
        http_version = parser.get_http_version()
        keep_alive = http_version != "1.0" and parser.should_keep_alive()
        if logging_access:
            log_access(self.access_logger, self.client, method_name, self.root_path + path, query,
                       http_version, response[0])
        self.transport.write(encode_response(response, self.server_state.default_headers,
                                             keep_alive=keep_alive, head=method_name == "HEAD"))
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()
        return True


def _forwarded(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"x-forwarded-for" for name, _ in headers)


class H11Protocol(h11_impl.H11Protocol):
    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        # h11 starts at most one request per call: the next waits until this response is done.
        if self.cycle is not None and self.cycle is not before:
            _offer_zero_copy(self.cycle, H11ZeroCopyCycle, self.transport)
