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
    body = f"dynamic {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = FlashStaticWSGI(dynamic if os.environ.get("FLASHSTATIC_TEST_WRAP") else None,
                      directory=os.environ["FLASHSTATIC_TEST_ROOT"],
                      **json.loads(os.environ.get("FLASHSTATIC_TEST_OPTIONS", "{}")))
