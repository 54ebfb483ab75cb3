"""flashstatic: static files for ASGI apps, served the way the Flash web server did."""

from .asgi import FlashStatic

__version__ = "0.1.0"
__all__ = ["FlashStatic", "__version__"]
