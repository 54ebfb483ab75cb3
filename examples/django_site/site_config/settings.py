"""A minimal Django project whose collected static files flashstatic serves.

ManifestStaticFilesStorage gives every collected file a hashed copy (app.3f2a9c1d7b4e.css);
flashstatic marks those immutable (static.py) and serves the rest with a short max-age.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["django.contrib.staticfiles"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "site_config.urls"
DATABASES: dict = {}

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "assets"]
# Where collectstatic writes and flashstatic reads; overridable so a test can use a temp dir.
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "collected"))
STORAGES = {
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
