# flashstatic mounted as a route of a Starlette app, where StaticFiles would go: a path under
# /static that names no file is a 404 (the site's own 404.html, since html=True).
#
# Run it from the repository root:
#   uvicorn examples.mount_starlette:app --port 8000
# then open http://127.0.0.1:8000/ (the app) and http://127.0.0.1:8000/static/ (the files).

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from flashstatic import FlashStatic

SITE = Path(__file__).parent / "site"


async def home(request: Request) -> HTMLResponse:
    style = request.url_for("static", path="/css/style.css")
    return HTMLResponse(f'<link rel="stylesheet" href="{style}"><h1>Dynamic page</h1>'
                        "<p>Rendered by Starlette.</p>")


app = Starlette(routes=[
    Route("/", home),
    # Was: Mount("/static", app=StaticFiles(directory=SITE, html=True), name="static")
    Mount("/static", app=FlashStatic(directory=SITE, html=True), name="static"),
])
