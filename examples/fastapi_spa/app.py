# A single-page app (the dist/ folder a React or Vite build writes) served by FastAPI: the API
# under /api, the hashed assets as immutable files, and any other extensionless path (a route
# the app's own router handles in the browser, such as /users/42) answered with index.html.
#
# Run it from the repository root:
#   uvicorn examples.fastapi_spa.app:app --port 8000
# then open http://127.0.0.1:8000/ and http://127.0.0.1:8000/users/42 (the same shell).

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from flashstatic import FlashStatic

DIST = Path(__file__).parent / "dist"

app = FastAPI()


@app.get("/api/greeting")
async def greeting() -> dict[str, str]:
    return {"text": "Hello from the API"}


# Last, so that the API routes match first. html=True serves index.html for "/";
# fallback="index.html" answers the app's client-side routes with it too (no-cache, so a
# deploy is seen at once), while a missing /assets/app-1234abcd.js is still a 404.
app.mount("/", FlashStatic(directory=DIST, html=True, fallback="index.html"), name="spa")
