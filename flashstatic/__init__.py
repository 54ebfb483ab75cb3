"""flashstatic: static files for ASGI and WSGI apps, served the way the Flash web server did."""

from typing import TYPE_CHECKING, Any

from .version import __version__

__all__ = ["FlashStatic", "FlashStaticWSGI", "__version__"]

if TYPE_CHECKING:
    from .asgi import FlashStatic
    from .wsgi import FlashStaticWSGI


def __getattr__(name: str) -> Any:
    # Imported on first use, so that a helper process (python -m flashstatic.amped.helper)
    # starts without loading the server's modules.
    if name == "FlashStatic":
        from .asgi import FlashStatic

        return FlashStatic
    if name == "FlashStaticWSGI":
        from .wsgi import FlashStaticWSGI

        return FlashStaticWSGI
    raise AttributeError(f"module 'flashstatic' has no attribute {name!r}")
