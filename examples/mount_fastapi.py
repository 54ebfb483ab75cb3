# flashstatic mounted in a FastAPI app, where StaticFiles would go: a path under /static that
# names no file is a 404 (the site's own 404.html, since html=True).
#
# Run it from the repository root:
#   uvicorn examples.mount_fastapi:app --port 8000
# then open http://127.0.0.1:8000/ (the app) and http://127.0.0.1:8000/static/ (the files).

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from flashstatic import FlashStatic

SITE = Path(__file__).parent / "site"

app = FastAPI()
# Was: app.mount("/static", StaticFiles(directory=SITE, html=True), name="static")
app.mount("/static", FlashStatic(directory=SITE, html=True), name="static")


@app.get("/", response_class=HTMLResponse)
async def home(request: Request) -> str:
    style = request.url_for("static", path="/css/style.css")
    return f'<link rel="stylesheet" href="{style}"><h1>Dynamic page</h1><p>Rendered by FastAPI.</p>'
