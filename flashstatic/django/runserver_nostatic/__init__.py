"""An INSTALLED_APPS entry, listed above ``django.contrib.staticfiles``, that turns off
runserver's own static-file view so FlashStaticMiddleware serves static files in development
exactly as in production."""
