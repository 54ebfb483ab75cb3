"""Django integration: FlashStaticMiddleware for settings.MIDDLEWARE, the storage backends in
flashstatic.django.storage, and the ``flashstatic.django.runserver_nostatic`` app.

    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "flashstatic.django.FlashStaticMiddleware",
        ...
    ]
"""

from __future__ import annotations

from .middleware import FlashStaticFileResponse, FlashStaticMiddleware

__all__ = ["FlashStaticFileResponse", "FlashStaticMiddleware"]
