# flashstatic on its own: a directory served over HTTP, with index.html for directories and
# 404.html for misses. Either command, from the repository root:
#   flashstatic serve examples/site --port 8000
#   uvicorn examples.standalone:app --http flashstatic.server:HttpToolsProtocol --port 8000
# then open http://127.0.0.1:8000/.
#
# The first needs no Python file at all; this module is for the second, which is how to run
# flashstatic (or any ASGI app) under your own uvicorn command line with flashstatic's protocol
# class: it adds zero-copy sendfile for large files (flashstatic.server:H11Protocol if you
# use h11). Without --http it works too, with ordinary body messages.

from __future__ import annotations

from pathlib import Path

from flashstatic import FlashStatic

SITE = Path(__file__).parent / "site"

app = FlashStatic(directory=SITE, html=True)
