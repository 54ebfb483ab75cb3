"""The app under test, built from environment variables (uvicorn factory: ``create_app``).

    BENCH_ARCH     "amped", "sped", "mt" (FlashStatic(architecture=...)) or "starlette"
                   (Starlette's own StaticFiles mounted at /static)
    BENCH_DIR      directory served under /static (the slowfs mount)
    BENCH_OPTIONS  optional JSON object of extra FlashStatic keyword arguments

Both variants have the same dynamic endpoint ``/dynamic``: a tiny JSON answer computed on the
event loop, whose latency shows whether static traffic stalls the loop. ``/_bench/stats``
returns FlashStatic.stats() (``{}`` for starlette), and ``/_bench/collections`` the full
garbage collections of the server process (``FullCollections``): a loop that pauses for one
delays every request waiting on it, the ``/dynamic`` probes' included.

    BENCH_ARCH=sped BENCH_DIR=/some/dir uvicorn benchmarks.bench_app:create_app --factory \
        --http httptools --loop uvloop --port 0
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

_counter = 0


class FullCollections:
    """The pauses of the process's full (oldest-generation) garbage collections, as they end:
    (wall-clock end, seconds, CPU seconds of the thread), the last ``keep`` of them: a pause
    longer than its CPU time waited for a core. The younger generations' collections are short
    and are not timed."""

    def __init__(self, keep: int = 10_000) -> None:
        self.pauses: deque[tuple[float, float, float]] = deque(maxlen=keep)
        self._started = (0.0, 0.0)
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
        else:
            wall, cpu = self._started
            self.pauses.append((time.time(), time.perf_counter() - wall, time.thread_time() - cpu))

    def close(self) -> None:
        gc.callbacks.remove(self._observe)

    def report(self) -> dict[str, Any]:
        return {"pauses": list(self.pauses), "tracked": len(gc.get_objects(generation=2))}


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

    collections = FullCollections()

    async def full_collections(request: Request) -> Response:
        return JSONResponse(collections.report())

    routes: list[Any] = [
        Route("/dynamic", dynamic),
        Route("/_bench/stats", stats),
        Route("/_bench/collections", full_collections),
    ]
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
