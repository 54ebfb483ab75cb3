"""ASGI entry point, Django's own (static files are the middleware's, from settings):

    cd examples/django_site && python manage.py collectstatic --noinput
    uvicorn --host 127.0.0.1 --port 8000 site_config.asgi:application
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
application = get_asgi_application()
