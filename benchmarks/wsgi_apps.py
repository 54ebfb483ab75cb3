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


def replayed(name):
    """The app named (flashstatic or WhiteNoise), loaded, answering each request with the
    response it first gave to the same path and headers, replayed from memory: what gunicorn
    costs for that response, for wsgi_instructions.py."""
    app = {"flashstatic": flashstatic_app, "WhiteNoise": whitenoise_app}[name]()
    recorded = {}

    def replay(environ, start_response):
        get = environ.get
        key = (get("PATH_INFO"), get("HTTP_IF_NONE_MATCH"), get("HTTP_RANGE"), get("HTTP_ACCEPT_ENCODING"))
        if key not in recorded:
            started = {}

            def capture(status, headers, exc_info=None):
                started.update(status=status, headers=headers)
                return lambda data: None

            body = app(environ, capture)
            try:
                recorded[key] = (started["status"], started["headers"], b"".join(body))
            finally:
                if hasattr(body, "close"):
                    body.close()
        status, headers, body = recorded[key]
        start_response(status, list(headers))
        return [body] if body else []

    replay.app = app  # kept alive, as it would be
    return replay
