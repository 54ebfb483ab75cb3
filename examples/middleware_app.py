# An existing FastAPI app gaining flashstatic as middleware: files under /static come from
# examples/site, everything else (and any /static path that names no file) reaches the app.
#
# Run it from the repository root:
#   uvicorn examples.middleware_app:app --port 8000
# then open http://127.0.0.1:8000/ (the app) and http://127.0.0.1:8000/static/ (the files).
# Add --http flashstatic.server:HttpToolsProtocol for zero-copy sendfile of large files.

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from flashstatic import FlashStatic

SITE = Path(__file__).parent / "site"

app = FastAPI()


@app.get("/", response_class=HTMLResponse)
async def home() -> str:
    return (f"<h1>Dynamic page</h1><p>Rendered by FastAPI in process {os.getpid()}.</p>"
            '<p><a href="/static/">The static site</a></p>')


@app.get("/api/hello")
async def hello(name: str = "world") -> dict[str, str]:
    return {"hello": name}


# The one line an existing app gains. (Without FastAPI: app = FlashStatic(app, directory=..., prefix=...).)
app.add_middleware(FlashStatic, directory=SITE, prefix="/static", index_file=True)
