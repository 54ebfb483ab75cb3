"""WSGI entry point:

    cd examples/django_site && python manage.py collectstatic --noinput
    gunicorn --worker-class gthread --threads 4 --bind 127.0.0.1:8000 site_config.wsgi
"""

import os

from django.core.wsgi import get_wsgi_application

from flashstatic import FlashStaticWSGI

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
django_app = get_wsgi_application()

from .static import STATIC_OPTIONS  # noqa: E402 - needs the settings configured

application = FlashStaticWSGI(django_app, **STATIC_OPTIONS)
