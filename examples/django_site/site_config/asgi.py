"""ASGI entry point:

    cd examples/django_site && python manage.py collectstatic --noinput
    uvicorn --host 127.0.0.1 --port 8000 site_config.asgi:application
"""

import os

from django.core.asgi import get_asgi_application

from flashstatic import FlashStatic

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
django_app = get_asgi_application()

from .static import STATIC_OPTIONS  # noqa: E402 - needs the settings configured

application = FlashStatic(django_app, **STATIC_OPTIONS)
