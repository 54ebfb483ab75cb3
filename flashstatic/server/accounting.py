"""What each response sent: per-process byte counters and the access-log line.

uvicorn's protocol classes have no app to hang counters on, and every app on the server shares
the socket, so the counters are per process (``TRAFFIC``). Counting is a few integer additions
per message; the access line is formatted only when its logger is enabled. However a response
left (an ASGI cycle here, a cache answer or a file the protocol wrote itself: cached.py,
direct.py), it ends in ``response_done``, the one place that counts it and logs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .accesslog import log_response

if TYPE_CHECKING:
    from uvicorn._types import HTTPScope


@dataclass
class Traffic:
    responses: int = 0  # finished or cut short
    body_bytes: int = 0  # body bytes handed to the transport from http.response.body messages
    sendfile_bytes: int = 0  # body bytes the kernel sent with sendfile (zero copy)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


TRAFFIC = Traffic()


class AccountingMixin:
    """Mixed into uvicorn's RequestResponseCycle classes, below the zero-copy mixin."""

    scope: HTTPScope  # as uvicorn's cycles declare it
    disconnected: bool
    response_complete: bool
    _status = 0
    _sent = 0
    _accounted = False

    async def send(self, message: Mapping[str, Any]) -> None:
        await super().send(message)  # type: ignore[misc]
        if message["type"] == "http.response.body":
            body = message.get("body")
            # uvicorn writes nothing for HEAD or after a disconnect.
            if body and not self.disconnected and self.scope["method"] != "HEAD":
                self._sent += len(body)
                TRAFFIC.body_bytes += len(body)
            if self.response_complete:
                self.account()
        elif message["type"] == "http.response.start":
            self._status = message["status"]

    def sent_by_sendfile(self, count: int) -> None:
        self._sent += count
        TRAFFIC.sendfile_bytes += count

    def account(self) -> None:
        """Once per response: when it completes, or when its connection goes first."""
        if self._accounted or not self._status:
            return
        self._accounted = True
        response_done(self.scope, self._status, self._sent)


def response_done(
    request: Mapping[str, Any] | str | None,
    status: int,
    sent: int,
    write: Callable[[str], None] | None = None,
) -> None:
    """Once per response, however it left: counted, and its access-log line written from
    ``request``: scope-like, or the line itself (a cache answer formats its own, in fewer
    steps), or None from a caller that knows the log is off and built none. ``write``: where
    a line goes, as the connection chose when it was made (``accesslog.line_writers``)."""
    TRAFFIC.responses += 1
    if request is not None:
        if write is not None and type(request) is str:
            write(request)
        else:
            log_response(request, status, sent)


def account_unfinished(cycle: Any) -> None:
    """For a protocol's connection_lost: a response cut short is logged with what it sent."""
    if isinstance(cycle, AccountingMixin):
        cycle.account()
