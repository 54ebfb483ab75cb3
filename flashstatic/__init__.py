"""flashstatic: static files for ASGI apps, served the way the Flash web server did."""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["FlashStatic", "__version__"]

if TYPE_CHECKING:
    from .asgi import FlashStatic


def __getattr__(name: str) -> Any:
    # Imported on first use, so that a helper process (python -m flashstatic.amped.helper)
    # starts without loading the server's modules.
    if name == "FlashStatic":
        from .asgi import FlashStatic

        return FlashStatic
    raise AttributeError(f"module 'flashstatic' has no attribute {name!r}")
