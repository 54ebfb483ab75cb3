"""WhiteNoise users switch by changing the class name: same arguments, same meaning.

The same constructor call (and add_files) is made on WhiteNoise and on FlashStaticWSGI, and
the answers are compared header by header where the two agree by design. The deliberate
differences (docs/usage.md, "WSGI") are asserted as such, so a change to them is noticed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin
from wsgiref.util import setup_testing_defaults

import pytest

from flashstatic import FlashStaticWSGI
from support import write_tree

whitenoise = pytest.importorskip("whitenoise")

AGREED = ("access-control-allow-origin", "cache-control", "content-length", "content-type", "last-modified", "x-path")


def dynamic(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"dynamic " + environ["PATH_INFO"].encode("latin-1")]


def add_path_header(headers, path: str, url: str) -> None:
    headers["X-Path"] = url


def call(app, path: str, **environ: str) -> tuple[int, dict[str, str], bytes]:
    env: dict = {"PATH_INFO": path, **environ}
    setup_testing_defaults(env)
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in headers}

    iterable = app(env, start_response)
    try:
        body = b"".join(iterable)
    finally:
        getattr(iterable, "close", lambda: None)()
    return answer["status"], answer["headers"], body


def agreed(headers: dict[str, str]) -> dict[str, str]:
    # charset="latin-1" (WhiteNoise) and charset=latin-1 are the same parameter (RFC 9110 5.6.6).
    return {name: headers[name].replace('"', "") for name in AGREED if name in headers}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "static",
        {
            "hello.txt": "hello, world\n",
            "app.js": "console.log(1);\n",
            "style.css": "body {}\n",
            "sub/index.html": "<p>sub</p>",
            "extra/more.txt": "more\n",
        },
    )


WHITENOISE_ARGUMENTS = dict(
    prefix="static",
    max_age=120,
    allow_all_origins=True,
    charset="latin-1",
    mimetypes={".txt": "text/x-notes"},
    add_headers_function=add_path_header,
    index_file=True,
    autorefresh=False,
)


@pytest.fixture
def pair(tree: Path):
    """The same call on both classes, as a user switching would write it."""
    apps = []
    for cls in (whitenoise.WhiteNoise, FlashStaticWSGI):
        app = cls(dynamic, root=str(tree), **WHITENOISE_ARGUMENTS)
        app.add_files(str(tree / "extra"), prefix="more/")
        apps.append(app)
    return apps


@pytest.mark.parametrize(
    "path",
    [
        "/static/hello.txt",
        "/static/app.js",
        "/static/style.css",
        "/static/sub/",
        "/static/extra/more.txt",
        "/more/more.txt",
    ],
)
def test_files_agree_header_by_header(pair, path: str) -> None:
    theirs, ours = (call(app, path) for app in pair)
    assert ours[0] == theirs[0] == 200
    assert ours[2] == theirs[2]
    assert agreed(ours[1]) == agreed(theirs[1])
    assert ours[1]["x-path"] == path  # add_headers_function saw the URL


@pytest.mark.parametrize("path", ["/elsewhere", "/static/missing.txt", "/more/missing.txt"])
def test_misses_reach_the_app_in_both(pair, path: str) -> None:
    theirs, ours = (call(app, path) for app in pair)
    assert ours == theirs
    assert ours[2] == b"dynamic " + path.encode()


@pytest.mark.parametrize("path", ["/static/sub", "/static/sub/index.html"])
def test_index_redirects_lead_to_the_same_place(pair, path: str) -> None:
    theirs, ours = (call(app, path) for app in pair)
    base = "http://testserver" + path
    assert urljoin(base, ours[1]["location"]) == urljoin(base, theirs[1]["location"])
    # A deliberate difference: 307 (method kept, as Starlette's StaticFiles), not 302.
    assert (theirs[0], ours[0]) == (302, 307)


def test_immutable_file_test_same_meaning(tree: Path) -> None:
    write_tree(tree, {"app.0123abcd.js": "hashed\n"})
    apps = [
        cls(
            None if cls is FlashStaticWSGI else dynamic,
            root=str(tree),
            prefix="static",
            immutable_file_test=r"\.[0-9a-f]{8}\.",
        )
        for cls in (whitenoise.WhiteNoise, FlashStaticWSGI)
    ]
    theirs, ours = (call(app, "/static/app.0123abcd.js")[1]["cache-control"] for app in apps)
    plain = [call(app, "/static/app.js")[1]["cache-control"] for app in apps]
    assert "immutable" in theirs and "immutable" in ours
    assert plain[0] == plain[1] == "max-age=60, public"
    # Deliberate: one year (RFC 9111's practical maximum), not WhiteNoise's ten.
    assert (theirs.split(",")[0], ours.split(",")[0]) == ("max-age=315360000", "max-age=31536000")


def test_allow_all_origins_default_differs(tree: Path) -> None:
    """Deliberate: CORS is opt-in here (Starlette's default), on by default in WhiteNoise."""
    theirs = call(whitenoise.WhiteNoise(dynamic, root=str(tree)), "/hello.txt")[1]
    ours = call(FlashStaticWSGI(dynamic, root=str(tree)), "/hello.txt")[1]
    assert theirs.get("access-control-allow-origin") == "*"
    assert "access-control-allow-origin" not in ours


def test_positional_root_as_whitenoise_takes_it(tree: Path) -> None:
    app = FlashStaticWSGI(dynamic, str(tree), "static")
    assert call(app, "/static/hello.txt")[2] == b"hello, world\n"
