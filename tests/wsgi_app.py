"""The WSGI app the gunicorn-based tests run: FlashStaticWSGI configured from the environment.

FLASHSTATIC_TEST_ROOT is the served directory; FLASHSTATIC_TEST_OPTIONS a JSON object of
further constructor arguments. Paths it does not serve reach a tiny app answering "dynamic"
when FLASHSTATIC_TEST_WRAP is set, else the adapter's own 404.
"""

from __future__ import annotations

import json
import os

from flashstatic import FlashStaticWSGI


def dynamic(environ, start_response):
    # The path's bytes (PEP 3333 hands them over as latin-1), comparable with an ASGI app's.
    body = b"dynamic " + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = FlashStaticWSGI(
    dynamic if os.environ.get("FLASHSTATIC_TEST_WRAP") else None,
    directory=os.environ["FLASHSTATIC_TEST_ROOT"],
    **json.loads(os.environ.get("FLASHSTATIC_TEST_OPTIONS", "{}")),
)
