"""flashstatic.django in one process: the middleware (sync and async) reading Django's and
WhiteNoise's settings, the storage backends under collectstatic, runserver_nostatic.

Django configures itself once per process; each test changes settings with override_settings
and builds its middleware afterwards, as Django does at start. Real servers (gunicorn and
uvicorn) run the example project in tests/test_examples_wsgi.py.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["flashstatic.django.runserver_nostatic", "django.contrib.staticfiles"],
        STATIC_URL="/static/",
        STATIC_ROOT=None,
        USE_TZ=True,
    )
    django.setup()

from django.contrib.staticfiles.storage import staticfiles_storage  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.management import call_command, get_commands, load_command_class  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import AsyncRequestFactory, RequestFactory, override_settings  # noqa: E402

from flashstatic.django import FlashStaticFileResponse, FlashStaticMiddleware  # noqa: E402
from flashstatic.django.storage import MissingFileError  # noqa: E402
from support import write_tree  # noqa: E402

LARGE = b"x" * 100_000 + b"end"  # beyond small_file_max: sent from the file, not memory
CSS = "body { color: red; margin: 0; padding: 0 }\n" * 40


def django_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"django " + request.path_info.encode(), content_type="text/plain")


async def async_django_view(request: HttpRequest) -> HttpResponse:
    return django_view(request)


def body_of(response: Any) -> bytes:
    try:
        if getattr(response, "streaming", False):
            return b"".join(response.streaming_content)
        return bytes(response.content)
    finally:
        response.close()


async def async_body_of(response: Any) -> bytes:
    try:
        if getattr(response, "streaming", False):
            return b"".join([part async for part in response])
        return bytes(response.content)
    finally:
        response.close()


def get(middleware: FlashStaticMiddleware, path: str, **headers: str) -> Any:
    return middleware(RequestFactory().get(path, headers=headers))


@pytest.fixture
def static_root(tmp_path: Path) -> Iterator[Path]:
    root = write_tree(tmp_path / "collected", {"app.js": "console.log(1);\n", "big.bin": LARGE, "site.css": CSS})
    (root / "site.css.gz").write_bytes(gzip.compress(CSS.encode()))
    with override_settings(STATIC_ROOT=str(root)):
        yield root


# -- where files are served from ------------------------------------------------------------


def test_static_root_at_static_url(static_root: Path) -> None:
    middleware = FlashStaticMiddleware(django_view)
    small = get(middleware, "/static/app.js")
    assert small.status_code == 200 and body_of(small) == b"console.log(1);\n"
    assert small["Content-Type"] == "text/javascript; charset=utf-8"
    assert small["Cache-Control"] == "max-age=60, public"
    assert small["Access-Control-Allow-Origin"] == "*"  # WhiteNoise's default
    assert "ETag" in small and "Last-Modified" in small
    assert body_of(get(middleware, "/elsewhere/app.js")) == b"django /elsewhere/app.js"
    assert body_of(get(middleware, "/static/missing.js")) == b"django /static/missing.js"


def test_large_file_is_a_file_response(static_root: Path) -> None:
    """The server gets a file to send (Django hands it to wsgi.file_wrapper), with only
    flashstatic's headers: no Content-Disposition, no length Django guessed."""
    middleware = FlashStaticMiddleware(django_view)
    whole = get(middleware, "/static/big.bin")
    assert isinstance(whole, FlashStaticFileResponse)
    assert whole.file_to_stream is not None and whole.file_to_stream.fileno() >= 0
    assert "Content-Disposition" not in whole
    assert whole["Content-Length"] == str(len(LARGE)) and body_of(whole) == LARGE
    part = get(middleware, "/static/big.bin", range="bytes=100-199")
    assert part.status_code == 206 and part["Content-Length"] == "100"
    assert part["Content-Range"] == f"bytes 100-199/{len(LARGE)}"
    assert body_of(part) == LARGE[100:200]


def test_not_modified_has_no_content_type(static_root: Path) -> None:
    middleware = FlashStaticMiddleware(django_view)
    etag = get(middleware, "/static/app.js")["ETag"]
    again = get(middleware, "/static/app.js", if_none_match=etag)
    assert again.status_code == 304 and "Content-Type" not in again and body_of(again) == b""


def test_precompressed_sibling_by_accept_encoding(static_root: Path) -> None:
    middleware = FlashStaticMiddleware(django_view)
    zipped = get(middleware, "/static/site.css", accept_encoding="gzip")
    assert zipped["Content-Encoding"] == "gzip" and zipped["Vary"] == "Accept-Encoding"
    assert gzip.decompress(body_of(zipped)) == CSS.encode()
    assert "Content-Encoding" not in get(middleware, "/static/site.css", accept_encoding="*")


def test_post_to_a_file_is_405(static_root: Path) -> None:
    response = FlashStaticMiddleware(django_view)(RequestFactory().post("/static/app.js"))
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "static_url",
    ["https://cdn.example.com/static/", "//cdn.example.com/static/", "/static/"],
)
def test_full_url_static_url_is_served_at_its_path(static_root: Path, static_url: str) -> None:
    """A CDN in front fetches STATIC_URL's path from this server: it must be answered there."""
    with override_settings(STATIC_URL=static_url):
        middleware = FlashStaticMiddleware(django_view)
    assert middleware.static_prefix == "/static/"
    assert body_of(get(middleware, "/static/app.js")) == b"console.log(1);\n"


def test_force_script_name_is_not_part_of_the_prefix(static_root: Path) -> None:
    with override_settings(FORCE_SCRIPT_NAME="/app", STATIC_URL="/app/static/"):
        middleware = FlashStaticMiddleware(django_view)
    assert middleware.static_prefix == "/static/"
    request = RequestFactory().get("/static/app.js", SCRIPT_NAME="/app")
    assert body_of(middleware(request)) == b"console.log(1);\n"


@pytest.mark.parametrize("name", ["WHITENOISE_STATIC_PREFIX", "FLASHSTATIC_STATIC_PREFIX"])
def test_static_prefix_setting(static_root: Path, name: str) -> None:
    with override_settings(**{name: "assets"}):
        middleware = FlashStaticMiddleware(django_view)
    assert body_of(get(middleware, "/assets/app.js")) == b"console.log(1);\n"


def test_whitenoise_root_at_the_top(static_root: Path, tmp_path: Path) -> None:
    top = write_tree(tmp_path / "top", {"robots.txt": "User-agent: *\n"})
    with override_settings(WHITENOISE_ROOT=str(top)):
        middleware = FlashStaticMiddleware(django_view)
    assert body_of(get(middleware, "/robots.txt")) == b"User-agent: *\n"
    assert body_of(get(middleware, "/static/app.js")) == b"console.log(1);\n"


def test_no_static_root_serves_nothing(tmp_path: Path) -> None:
    middleware = FlashStaticMiddleware(django_view)
    assert body_of(get(middleware, "/static/app.js")) == b"django /static/app.js"


# -- through Django's handlers (test client) ---------------------------------------------------

urlpatterns: list[object] = []  # this module is the URLconf: every path Django sees is a 404

CLIENT_SETTINGS = {
    "ROOT_URLCONF": __name__,
    "MIDDLEWARE": ["django.middleware.security.SecurityMiddleware", "flashstatic.django.FlashStaticMiddleware"],
}


@pytest.mark.parametrize("client_class", ["Client", "AsyncClient"])
def test_through_djangos_handlers(static_root: Path, client_class: str) -> None:
    """The middleware as Django loads it from settings, in the sync and the async handler
    (where the event loop is watched for blocking calls)."""
    from django import test

    write_tree(static_root, {"caf\u00e9 \u2713.txt": "non-ascii name\n", "directory/pixel.gif": b"GIF89a"})
    with override_settings(**CLIENT_SETTINGS):
        client = getattr(test, client_class)()
        if client_class == "AsyncClient":
            # Django builds the middleware on the first request; a server does it at start,
            # before its loop runs: so here too.
            client.handler.load_middleware(is_async=True)
            requests = []

            def fetch(path: str, **headers: str) -> Any:
                requests.append((path, headers))
                return len(requests) - 1

            async def run_all() -> list[Any]:
                return [await client.get(path, headers=headers) for path, headers in requests]
        else:

            def fetch(path: str, **headers: str) -> Any:
                return client.get(path, headers=headers)

        # (AsyncClient puts the path's bytes in the scope as latin-1, where an ASGI server
        # gives the UTF-8 text: a non-ASCII name is checked under ASGI in test_async_non_ascii.)
        checks = [
            fetch("/static/caf%C3%A9%20%E2%9C%93.txt" if client_class == "Client" else "/static/app.js"),
            fetch("/static/directory"),  # a directory: Django's 404
            fetch("/static/directory/"),
            fetch("/static/test\u263a"),  # no such file: safely Django's 404
            fetch("/static/app.js"),
        ]
        if client_class == "AsyncClient":
            checks = asyncio.run(run_all())
    text, directory, directory_slash, missing, js = checks
    assert text.status_code == 200
    assert text.content == (b"non-ascii name\n" if client_class == "Client" else b"console.log(1);\n")
    assert directory.status_code == directory_slash.status_code == missing.status_code == 404
    assert js.status_code == 200 and js["Access-Control-Allow-Origin"] == "*"
    assert "Content-Disposition" not in js


def test_relative_static_url(static_root: Path) -> None:
    """STATIC_URL "static/" is relative to the script name (Django prefixes it per request)."""
    from django.test import Client

    with override_settings(**CLIENT_SETTINGS, STATIC_URL="static/"):
        response = Client().get("/static/app.js")
    assert response.status_code == 200 and response.content == b"console.log(1);\n"


def test_file_response_has_only_its_content_type() -> None:
    """FlashStaticFileResponse adds nothing of Django's guessing (length, disposition)."""
    with open(__file__, "rb") as file:
        response = FlashStaticFileResponse(file)
        assert {name.lower() for name in response.headers} == {"content-type"}
        response.close()


# -- settings -------------------------------------------------------------------------------


def test_whitenoise_settings_keep_their_meaning(static_root: Path) -> None:
    def add_header(headers, path: str, url: str) -> None:  # type: ignore[no-untyped-def]
        headers["X-Url"] = url

    with override_settings(
        WHITENOISE_MAX_AGE=300,
        WHITENOISE_ALLOW_ALL_ORIGINS=False,
        WHITENOISE_MIMETYPES={".bin": "application/x-test"},
        WHITENOISE_ADD_HEADERS_FUNCTION=add_header,
        WHITENOISE_IMMUTABLE_FILE_TEST=r"\.css$",
        WHITENOISE_CHARSET="latin-1",
    ):
        middleware = FlashStaticMiddleware(django_view)
    js = get(middleware, "/static/app.js")
    assert js["Cache-Control"] == "max-age=300, public"
    assert "Access-Control-Allow-Origin" not in js
    assert js["X-Url"] == "/static/app.js"
    assert js["Content-Type"] == "text/javascript; charset=latin-1"
    assert get(middleware, "/static/big.bin")["Content-Type"] == "application/x-test"
    assert "immutable" in get(middleware, "/static/site.css")["Cache-Control"]


def test_flashstatic_spelling_wins(static_root: Path) -> None:
    with override_settings(WHITENOISE_MAX_AGE=300, FLASHSTATIC_MAX_AGE=7, FLASHSTATIC_SMALL_FILE_MAX=10):
        middleware = FlashStaticMiddleware(django_view)
    assert get(middleware, "/static/app.js")["Cache-Control"] == "max-age=7, public"
    assert middleware.static.options.small_file_max == 10


def test_flashstatic_compress_compresses_what_has_no_sibling(static_root: Path) -> None:
    (static_root / "page.html").write_text("<p>flashstatic</p>\n" * 200)
    with override_settings(FLASHSTATIC_COMPRESS=True):
        middleware = FlashStaticMiddleware(django_view)
    page = get(middleware, "/static/page.html", accept_encoding="gzip")
    assert page["Content-Encoding"] == "gzip" and "Accept-Encoding" in page["Vary"]
    assert gzip.decompress(body_of(page)) == (static_root / "page.html").read_bytes()
    assert "Content-Encoding" not in get(middleware, "/static/page.html")  # not asked for
    plain = FlashStaticMiddleware(django_view)  # off unless set
    assert "Content-Encoding" not in get(plain, "/static/page.html", accept_encoding="gzip")


def test_index_file_redirects_with_302(static_root: Path) -> None:
    write_tree(static_root, {"docs/index.html": "<p>docs</p>"})
    with override_settings(WHITENOISE_INDEX_FILE=True):
        middleware = FlashStaticMiddleware(django_view)
    assert body_of(get(middleware, "/static/docs/")) == b"<p>docs</p>"
    for path in ("/static/docs", "/static/docs/index.html"):
        redirect = get(middleware, path)
        assert redirect.status_code == 302
        assert redirect["Location"] in ("./docs/", "./")


@pytest.mark.parametrize(
    ("name", "value"), [("FLASHSTATIC_MAX_AGES", 1), ("FLASHSTATIC_PACKAGES", ["x"]), ("FLASHSTATIC_HELPER_QUEUE", 4)]
)
def test_unknown_flashstatic_setting_is_an_error(static_root: Path, name: str, value: object) -> None:
    with override_settings(**{name: value}), pytest.raises(ImproperlyConfigured, match=name):
        FlashStaticMiddleware(django_view)


def test_bad_option_value_is_improperly_configured(static_root: Path) -> None:
    with (
        override_settings(FLASHSTATIC_REDIRECT_STATUS=200),
        pytest.raises(ImproperlyConfigured, match="redirect_status"),
    ):
        FlashStaticMiddleware(django_view)


def test_missing_static_root_warns(tmp_path: Path) -> None:
    with (
        override_settings(STATIC_ROOT=str(tmp_path / "not-collected")),
        pytest.warns(UserWarning, match="No directory"),
    ):
        FlashStaticMiddleware(django_view)


# -- DEBUG ----------------------------------------------------------------------------------


def test_debug_serves_from_the_finders_and_refreshes(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "source", {"app.js": "from source\n"})
    with override_settings(DEBUG=True, STATICFILES_DIRS=[str(source), ("vendor", str(tmp_path / "vendor"))]):
        write_tree(tmp_path / "vendor", {"lib.js": "vendored\n"})
        middleware = FlashStaticMiddleware(django_view)
    response = get(middleware, "/static/app.js")
    assert body_of(response) == b"from source\n"
    assert response["Cache-Control"] == "max-age=0, public"
    assert body_of(get(middleware, "/static/vendor/lib.js")) == b"vendored\n"
    write_tree(source, {"later.js": "added while running\n"})
    assert body_of(get(middleware, "/static/later.js")) == b"added while running\n"


def test_use_finders_off_in_debug(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "source", {"app.js": "from source\n"})
    with override_settings(DEBUG=True, STATICFILES_DIRS=[str(source)], WHITENOISE_USE_FINDERS=False):
        middleware = FlashStaticMiddleware(django_view)
    assert body_of(get(middleware, "/static/app.js")) == b"django /static/app.js"


# -- async ----------------------------------------------------------------------------------


def test_async_capable_and_marked() -> None:
    from asgiref.sync import iscoroutinefunction

    assert FlashStaticMiddleware.sync_capable and FlashStaticMiddleware.async_capable
    assert iscoroutinefunction(FlashStaticMiddleware(async_django_view))
    assert not iscoroutinefunction(FlashStaticMiddleware(django_view))


def test_async_serves_files_and_passes_the_rest(static_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    middleware = FlashStaticMiddleware(async_django_view)
    factory = AsyncRequestFactory()
    threads: list[str] = []
    real_to_thread = asyncio.to_thread

    async def counting_to_thread(func, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(getattr(func, "__name__", type(func).__name__))
        return await real_to_thread(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting_to_thread)

    async def scenario() -> None:
        dynamic = await middleware(factory.get("/page/"))
        assert await async_body_of(dynamic) == b"django /page/"
        assert threads == []  # not a static path: no thread
        first = await middleware(factory.get("/static/app.js"))
        assert await async_body_of(first) == b"console.log(1);\n"
        count = len(threads)
        second = await middleware(factory.get("/static/app.js"))
        assert await async_body_of(second) == b"console.log(1);\n"
        assert len(threads) == count  # whole from memory: no thread
        large = await middleware(factory.get("/static/big.bin"))
        assert large.is_async and await async_body_of(large) == LARGE
        part = await middleware(factory.get("/static/big.bin", headers={"range": "bytes=0-9, 20-29"}))
        assert part.status_code == 206 and b"multipart/byteranges" in part["Content-Type"].encode()
        assert LARGE[:10] in await async_body_of(part)
        missing = await middleware(factory.get("/static/missing.js"))
        assert await async_body_of(missing) == b"django /static/missing.js"

    asyncio.run(scenario())


def test_async_non_ascii_name(static_root: Path) -> None:
    """An ASGI server's scope path is the decoded UTF-8 text (not the test client's latin-1)."""
    import io

    from django.core.handlers.asgi import ASGIRequest

    write_tree(static_root, {"caf\u00e9 \u2713.txt": "non-ascii name\n"})
    middleware = FlashStaticMiddleware(async_django_view)
    path = "/static/caf\u00e9 \u2713.txt"
    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}

    async def fetch() -> bytes:
        return await async_body_of(await middleware(ASGIRequest(scope, io.BytesIO())))

    assert asyncio.run(fetch()) == b"non-ascii name\n"


def test_async_misses_known_from_the_start_up_scan_stay_on_the_loop(
    static_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With WHITENOISE_ROOT every path is under a root; with the roots read once at start, a
    path that names no file is known to be Django's without a thread."""
    top = write_tree(tmp_path / "top", {"robots.txt": "User-agent: *\n"})
    with override_settings(WHITENOISE_ROOT=str(top)):
        middleware = FlashStaticMiddleware(async_django_view)
    threads: list[object] = []
    real_to_thread = asyncio.to_thread

    async def counting_to_thread(func, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(func)
        return await real_to_thread(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting_to_thread)

    async def scenario() -> None:
        factory = AsyncRequestFactory()
        for path in ("/page/", "/static/missing.js", "/a/../../etc/passwd"):
            response = await middleware(factory.get(path))
            assert (await async_body_of(response)).startswith(b"django ")
        assert threads == []
        assert await async_body_of(await middleware(factory.get("/robots.txt"))) == b"User-agent: *\n"

    asyncio.run(scenario())


# -- immutability from the manifest ---------------------------------------------------------


@pytest.fixture
def collected(tmp_path: Path) -> Iterator[Path]:
    source = write_tree(
        tmp_path / "source",
        {
            "css/site.css": CSS + "\n.logo { background: url(../img/logo.svg) }\n",
            "img/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'>" + " " * 400 + "</svg>\n",
            # Looks hashed to a pattern; the manifest knows it is an original name.
            "lib.0123456789ab.js": "looks hashed\n",
        },
    )
    root = tmp_path / "collected"
    storages = {"staticfiles": {"BACKEND": "flashstatic.django.storage.CompressedManifestStaticFilesStorage"}}
    with override_settings(STATICFILES_DIRS=[str(source)], STATIC_ROOT=str(root), STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield root


def test_manifest_decides_immutability(collected: Path) -> None:
    middleware = FlashStaticMiddleware(django_view)
    hashed = staticfiles_storage.url("css/site.css")
    assert hashed != "/static/css/site.css"
    response = get(middleware, hashed)
    assert response["Cache-Control"] == f"max-age={FlashStaticMiddleware.FOREVER}, public, immutable"
    assert get(middleware, "/static/css/site.css")["Cache-Control"] == "max-age=60, public"
    # A name that only looks hashed is not immutable; its own hashed copy is.
    assert get(middleware, "/static/lib.0123456789ab.js")["Cache-Control"] == "max-age=60, public"
    assert "immutable" in get(middleware, staticfiles_storage.url("lib.0123456789ab.js"))["Cache-Control"]


def test_manifest_storage_writes_siblings_of_hashed_files(collected: Path) -> None:
    hashed = staticfiles_storage.stored_name("css/site.css")
    for suffix in (".gz", ".br", ".zst"):
        assert (collected / (hashed + suffix)).is_file()
        assert (collected / ("css/site.css" + suffix)).is_file()
    assert gzip.decompress((collected / (hashed + ".gz")).read_bytes()) == (collected / hashed).read_bytes()
    assert not list(collected.rglob("*.js.gz"))  # too small to pay
    middleware = FlashStaticMiddleware(django_view)
    response = get(middleware, "/static/" + hashed, accept_encoding="br, gzip")
    assert response["Content-Encoding"] == "br"


# -- storage backends -----------------------------------------------------------------------


def collect(tmp_path: Path, backend: str, *args: str, **extra: Any) -> Path:
    source = write_tree(tmp_path / "source", {"site.css": CSS, "tiny.css": "a{}\n", "photo.jpg": b"\xff\xd8" + LARGE})
    root = tmp_path / "collected"
    storages = {"staticfiles": {"BACKEND": f"flashstatic.django.storage.{backend}"}}
    with override_settings(STATICFILES_DIRS=[str(source)], STATIC_ROOT=str(root), STORAGES=storages, **extra):
        call_command("collectstatic", *args, interactive=False, verbosity=0)
    return root


def test_compressed_storage(tmp_path: Path) -> None:
    root = collect(tmp_path, "CompressedStaticFilesStorage")
    assert sorted(p.name for p in root.iterdir()) == [
        "photo.jpg",
        "site.css",
        "site.css.br",
        "site.css.gz",
        "site.css.zst",
        "tiny.css",
    ]


def test_compressed_storage_dry_run_writes_nothing(tmp_path: Path) -> None:
    root = collect(tmp_path, "CompressedStaticFilesStorage", "--dry-run")
    assert not root.exists() or not list(root.rglob("*.gz"))


def test_skip_compress_extensions(tmp_path: Path) -> None:
    root = collect(tmp_path, "CompressedStaticFilesStorage", WHITENOISE_SKIP_COMPRESS_EXTENSIONS=["css"])
    assert not list(root.glob("*.gz"))


def test_keep_only_hashed_files(tmp_path: Path) -> None:
    root = collect(tmp_path, "CompressedManifestStaticFilesStorage", WHITENOISE_KEEP_ONLY_HASHED_FILES=True)
    names = sorted(p.name for p in root.iterdir())
    assert "site.css" not in names and "staticfiles.json" in names
    hashed = [name for name in names if name.startswith("site.") and name.endswith(".css")]
    assert len(hashed) == 1 and hashed[0] + ".gz" in names


@pytest.mark.parametrize("strict", [True, False])
def test_manifest_strict_setting(strict: bool, tmp_path: Path) -> None:
    from flashstatic.django.storage import CompressedManifestStaticFilesStorage

    with override_settings(WHITENOISE_MANIFEST_STRICT=strict, STATIC_ROOT=str(tmp_path)):
        assert CompressedManifestStaticFilesStorage().manifest_strict is strict


def test_missing_reference_names_the_referring_file(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "source", {"css/app.css": "body { background: url(../img/gone.png) }\n"})
    storages = {"staticfiles": {"BACKEND": "flashstatic.django.storage.CompressedManifestStaticFilesStorage"}}
    out = str(tmp_path / "out")
    settings_given = override_settings(STATICFILES_DIRS=[str(source)], STATIC_ROOT=out, STORAGES=storages)
    with settings_given, pytest.raises(MissingFileError, match=r"css/app\.css refers to 'img/gone\.png'"):
        call_command("collectstatic", interactive=False, verbosity=0)


# -- runserver_nostatic ---------------------------------------------------------------------


def test_runserver_nostatic_turns_off_the_static_view() -> None:
    command = load_command_class(get_commands()["runserver"], "runserver")
    assert command.__module__ == "flashstatic.django.runserver_nostatic.management.commands.runserver"
    parser = command.create_parser("manage.py", "runserver")
    assert parser.get_default("use_static_handler") is False
    assert "FlashStaticMiddleware" in parser.format_help()
    # staticfiles' runserver is the one extended: --static is still there to turn it back on.
    assert parser.parse_args(["--nostatic"]).use_static_handler is False
