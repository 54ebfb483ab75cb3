"""The server side: uvicorn protocols with zero-copy sendfile."""

from .protocols import H11Protocol, HttpToolsProtocol

__all__ = ["H11Protocol", "HttpToolsProtocol"]
