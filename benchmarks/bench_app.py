"""The app under test, built from environment variables (uvicorn factory: ``create_app``).

    BENCH_ARCH     "amped", "sped", "mt" (FlashStatic(architecture=...)) or "starlette"
                   (Starlette's own StaticFiles mounted at /static)
    BENCH_DIR      directory served under /static (the slowfs mount)
    BENCH_OPTIONS  optional JSON object of extra FlashStatic keyword arguments

Both variants have the same dynamic endpoint ``/dynamic``: a tiny JSON answer computed on the
event loop, whose latency shows whether static traffic stalls the loop. ``/_bench/stats``
returns FlashStatic.stats() (``{}`` for starlette).

    BENCH_ARCH=sped BENCH_DIR=/some/dir uvicorn benchmarks.bench_app:create_app --factory \
        --http httptools --loop uvloop --port 0
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

_counter = 0


async def dynamic(request: Request) -> Response:
    global _counter
    _counter += 1
    return JSONResponse({"n": _counter, "t": time.time()})


def create_app() -> Any:
    arch = os.environ.get("BENCH_ARCH", "amped")
    directory = os.environ["BENCH_DIR"]
    extra = json.loads(os.environ.get("BENCH_OPTIONS") or "{}")
    holder: dict[str, Any] = {}

    async def stats(request: Request) -> Response:
        static = holder.get("static")
        data = static.stats() if static is not None and hasattr(static, "stats") else {}
        return JSONResponse(data)

    routes: list[Any] = [Route("/dynamic", dynamic), Route("/_bench/stats", stats)]
    if arch == "starlette":
        from starlette.staticfiles import StaticFiles

        routes.append(Mount("/static", app=StaticFiles(directory=directory)))
        return Starlette(routes=routes)

    from flashstatic import FlashStatic

    static = FlashStatic(
        Starlette(routes=routes), directory=directory, prefix="/static", architecture=arch, max_age=60, **extra
    )
    holder["static"] = static
    return static
