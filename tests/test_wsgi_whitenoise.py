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
    assert ours[0] == theirs[0] == 302


def test_redirect_status_can_be_starlettes(tree: Path) -> None:
    app = FlashStaticWSGI(dynamic, root=str(tree), index_file=True, redirect_status=307)
    assert call(app, "/sub")[0] == 307


@pytest.mark.parametrize("status", [200, 304, "302"])
def test_redirect_status_must_be_a_redirect(tree: Path, status: object) -> None:
    with pytest.raises(ValueError, match="redirect_status"):
        FlashStaticWSGI(dynamic, root=str(tree), redirect_status=status)


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


def test_defaults_are_whitenoises(tree: Path) -> None:
    """The same call without arguments: CORS on, and the roots read once at start."""
    apps = [cls(dynamic, root=str(tree)) for cls in (whitenoise.WhiteNoise, FlashStaticWSGI)]
    write_tree(tree, {"later.txt": "added after start\n"})
    for app in apps:
        assert call(app, "/hello.txt")[1].get("access-control-allow-origin") == "*"
        assert call(app, "/later.txt")[2] == b"dynamic /later.txt"
        assert app.autorefresh is False


def test_autorefresh_finds_later_files(tree: Path) -> None:
    app = FlashStaticWSGI(dynamic, root=str(tree), autorefresh=True)
    write_tree(tree, {"later.txt": "added after start\n"})
    assert call(app, "/later.txt")[2] == b"added after start\n"
    assert app.autorefresh is True


def test_missing_directory_warns_as_in_whitenoise(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    for cls in (whitenoise.WhiteNoise, FlashStaticWSGI):
        with pytest.warns(UserWarning, match="No directory at"):
            app = cls(dynamic, root=missing)
        with pytest.warns(UserWarning, match="No directory at"):
            app.add_files(missing + "-too", prefix="more")
        assert call(app, "/more/x.txt")[2] == b"dynamic /more/x.txt"


def test_missing_directory_with_autorefresh_is_quiet(tmp_path: Path) -> None:
    """It may be created later, and will then be served."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app = FlashStaticWSGI(dynamic, root=str(tmp_path / "later"), autorefresh=True)
    write_tree(tmp_path / "later", {"a.txt": "a\n"})
    assert call(app, "/a.txt")[2] == b"a\n"


def test_check_dir_still_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        FlashStaticWSGI(dynamic, root=str(tmp_path / "nowhere"), check_dir=True)


def test_environ_without_path_info_or_method(tree: Path) -> None:
    """PEP 3333 lets PATH_INFO be absent (the root of the app): no KeyError, the app answers."""
    seen = []

    def app(environ, start_response):
        seen.append(dict(environ))
        start_response("200 OK", [])
        return [b"app"]

    ours = FlashStaticWSGI(app, root=str(tree), prefix="static")
    assert list(ours({}, lambda *args: None)) == [b"app"]
    assert seen == [{}]


@pytest.mark.parametrize(("accept", "coding"), [("*", None), ("gzip", "gzip"), ("identity;q=0, *", "gzip")])
def test_accept_encoding_star(tree: Path, accept: str, coding: str | None) -> None:
    """``*`` alone is no promise to decode a given coding: identity, as WhiteNoise sends."""
    import gzip

    write_tree(tree, {"big.css": "body { color: red }\n" * 50})
    (tree / "big.css.gz").write_bytes(gzip.compress((tree / "big.css").read_bytes()))
    apps = [cls(dynamic, root=str(tree)) for cls in (whitenoise.WhiteNoise, FlashStaticWSGI)]
    theirs, ours = (call(app, "/big.css", HTTP_ACCEPT_ENCODING=accept)[1] for app in apps)
    assert ours.get("content-encoding") == coding
    if accept != "identity;q=0, *":  # WhiteNoise reads no q-values
        assert theirs.get("content-encoding") == coding


def test_immutable_file_test_attribute(tree: Path) -> None:
    app = FlashStaticWSGI(None, root=str(tree), immutable_file_test=r"\.test$")
    assert app.immutable_file_test("", "/myfile.test")
    assert not app.immutable_file_test("", "file.test.txt")


def test_positional_root_as_whitenoise_takes_it(tree: Path) -> None:
    app = FlashStaticWSGI(dynamic, str(tree), "static")
    assert call(app, "/static/hello.txt")[2] == b"hello, world\n"
