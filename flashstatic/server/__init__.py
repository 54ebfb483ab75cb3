"""The server side: uvicorn protocols with zero-copy sendfile."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .protocols import H11Protocol, HttpToolsProtocol

__all__ = ["H11Protocol", "HttpToolsProtocol"]


def __getattr__(name: str) -> Any:
    # Loaded when asked for: the middleware imports this package (its counters) and must work
    # under any ASGI server, while the protocols need a supported uvicorn (uvicorn_range.py).
    if name in __all__:
        from . import protocols

        return getattr(protocols, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
