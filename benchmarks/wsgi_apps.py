"""The two WSGI apps wsgi_vs_whitenoise.py runs under gunicorn, serving BENCH_ROOT at /.

Both in their production configuration: WhiteNoise scans its root at start (its default
autorefresh=False), flashstatic revalidates its pathname cache every second (its default).
"""

from __future__ import annotations

import os

ROOT = os.environ.get("BENCH_ROOT", ".")


def not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"Not Found"]


def flashstatic_app():
    from flashstatic import FlashStaticWSGI

    return FlashStaticWSGI(not_found, root=ROOT)


def whitenoise_app():
    from whitenoise import WhiteNoise

    return WhiteNoise(not_found, root=ROOT)
