"""flashstatic's arguments for the collected static files, shared by wsgi.py and asgi.py."""

from django.conf import settings

# ManifestStaticFilesStorage's names: twelve hex digits before the extension.
HASHED_NAME = r"\.[0-9a-f]{12}\.[^./]+$"

STATIC_OPTIONS = {
    "directory": settings.STATIC_ROOT,
    "prefix": settings.STATIC_URL,
    "immutable_file_test": HASHED_NAME,
}
