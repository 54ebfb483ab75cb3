"""WSGI entry point, Django's own (static files are the middleware's, from settings):

    cd examples/django_site && python manage.py collectstatic --noinput
    gunicorn --worker-class gthread --threads 4 --bind 127.0.0.1:8000 site_config.wsgi
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
application = get_wsgi_application()
