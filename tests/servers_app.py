"""The app the other-servers tests start under Hypercorn, Granian and Daphne: FlashStatic as
middleware over a Starlette app with one dynamic route, as a user's app would be."""

import os

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from flashstatic import FlashStatic


async def dynamic(request):  # type: ignore[no-untyped-def]
    return PlainTextResponse("dynamic " + request.query_params.get("n", ""))


app = FlashStatic(
    Starlette(routes=[Route("/dynamic", dynamic)]),
    directory=os.environ["FLASHSTATIC_TEST_ROOT"],
    prefix="/static",
    index_file=True,
)
