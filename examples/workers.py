# Several server processes behind the same port: the kernel hands each new connection to one
# of them, and each has its own event loop, caches and AMPED helpers. Either command, from the
# repository root:
#   flashstatic serve examples/site --workers 2 --port 8000
#   uvicorn examples.workers:app --workers 2 --http flashstatic.server:HttpToolsProtocol --port 8000
# then open http://127.0.0.1:8000/ (the files) and http://127.0.0.1:8000/worker (which process
# answered; reload with a new connection to meet the other one).
#
# uvicorn imports this module once in each worker, so every worker builds its own FlashStatic;
# helpers are started by the first request that needs one, never shared across processes.

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from flashstatic import FlashStatic

SITE = Path(__file__).parent / "site"


async def worker(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"worker {os.getpid()}\n")


app = FlashStatic(Starlette(routes=[Route("/worker", worker)]), directory=SITE, html=True)
