"""A minimal Django project whose static files flashstatic serves, configured by settings alone.

FlashStaticMiddleware answers STATIC_URL from STATIC_ROOT; CompressedManifestStaticFilesStorage
gives every collected file a hashed copy (app.3f2a9c1d7b4e.css), which the middleware marks
immutable because the manifest lists it, and writes br/zst/gz siblings of each. wsgi.py and
asgi.py are Django's own.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    # Before staticfiles: runserver leaves static files to the middleware, as in production.
    "flashstatic.django.runserver_nostatic",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "flashstatic.django.FlashStaticMiddleware",
]
ROOT_URLCONF = "site_config.urls"
DATABASES: dict = {}

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "assets"]
# Where collectstatic writes and flashstatic reads; overridable so a test can use a temp dir.
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "collected"))
STORAGES = {
    "staticfiles": {"BACKEND": "flashstatic.django.storage.CompressedManifestStaticFilesStorage"},
}
