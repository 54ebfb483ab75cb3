"""One typed configuration: every way in maps the same keywords onto one Options, or takes one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flashstatic import FlashStatic, FlashStaticWSGI
from flashstatic.config import DiskOptions, Options, build_options, keyword_defaults, static_options
from support import write_tree
from wsgi_servers import WORKTREE as REPO
from wsgi_servers import wsgiref_server


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "site", {"hello.txt": "hello\n"})


def test_disk_and_metrics_settings_are_part_of_the_options(root: Path) -> None:
    app = FlashStatic(directory=root, architecture="mt", max_helpers=3, helper_queue=8, metrics_path="/_m")
    try:
        assert app.options.disk == DiskOptions(architecture="mt", max_helpers=3, helper_queue=8)
        assert app.options.metrics_path == "/_m"
    finally:
        app.close()


def test_both_ways_in_take_a_ready_options_object(root: Path, live_server, http: httpx.Client) -> None:
    options = static_options(directory=root, prefix="/s", max_age=5)
    asgi = FlashStatic(options=options)
    wsgi = FlashStaticWSGI(options=options)
    assert asgi.options is options and wsgi.options is options
    with live_server(asgi) as asgi_url, wsgiref_server(wsgi) as wsgi_url:
        for url in (asgi_url, wsgi_url):
            response = http.get(url + "/s/hello.txt")
            assert response.status_code == 200 and response.headers["cache-control"] == "max-age=5, public"
    asgi.close()


def test_options_and_keywords_do_not_mix(root: Path) -> None:
    for make in (FlashStatic, FlashStaticWSGI):
        with pytest.raises(TypeError, match="options"):
            make(options=Options(), max_age=5)
        with pytest.raises(TypeError, match="options"):
            make(None, root, options=Options())


@pytest.mark.parametrize("make", [FlashStatic, FlashStaticWSGI])
def test_an_unknown_keyword_is_a_type_error_naming_it(make: type, root: Path) -> None:
    with pytest.raises(TypeError, match="'max_agee'"):
        make(directory=root, max_agee=5)


def test_wsgi_refuses_the_disk_settings_it_has_no_use_for(root: Path) -> None:
    with pytest.raises(TypeError, match="'architecture'"):
        FlashStaticWSGI(directory=root, architecture="mt")  # type: ignore[call-arg]


def test_a_way_in_may_pass_its_own_defaults() -> None:
    defaults = {"max_age": 3600, "allow_all_origins": True}
    assert build_options(None, None, {}, defaults=defaults) == Options(max_age=3600, allow_all_origins=True)
    assert build_options(None, None, {"max_age": 7}, defaults=defaults).max_age == 7


def test_every_keyword_at_its_stated_default_changes_nothing() -> None:
    assert build_options(None, None, keyword_defaults()) == build_options(None, None, {}) == Options()


@pytest.mark.parametrize(
    "keyword, value",
    [
        ("max_age", -5),
        ("revalidate_interval", -1.0),
        ("revalidate_interval", float("nan")),
        ("pathname_cache_size", 0),
        ("small_file_max", -1),
        ("chunk_size", 0),
        ("sendfile_chunk", 0),
        ("max_ranges", -1),
        ("max_helpers", 0),
        ("helper_timeout", 0.0),
        ("page_in_size", 0),
        ("open_files", -1),
    ],
)
def test_meaningless_numbers_are_refused_naming_the_option(keyword: str, value: float, root: Path) -> None:
    with pytest.raises(ValueError, match=f"^{keyword} must be"):
        FlashStatic(directory=root, **{keyword: value})


def test_the_keywords_are_checked_by_a_type_checker(tmp_path: Path) -> None:
    """Users' code gets the keywords checked by mypy: names and types, on both ways in."""
    code = tmp_path / "use.py"
    code.write_text(
        "from flashstatic import FlashStatic, FlashStaticWSGI\n"
        "FlashStatic(directory='x', max_agee=5)\n"
        "FlashStatic(directory='x', max_age='5')\n"
        "FlashStaticWSGI(directory='x', max_agee=5)\n"
        "FlashStaticWSGI(directory='x', architecture='mt')\n"
        "FlashStatic(directory='x', architecture='mt', max_age=None, root=None, html=True)\n"
        "FlashStaticWSGI(root='x', max_age=None, index_file=True, immutable_file_test='[0-9a-f]{12}')\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(code)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MYPYPATH": str(REPO)},
    )
    errors = sorted(
        (int(line.split(":")[1]), line.rsplit("[", 1)[1].rstrip("]"))
        for line in done.stdout.splitlines()
        if ": error:" in line
    )
    assert errors == [(2, "call-arg"), (3, "arg-type"), (4, "call-arg"), (5, "call-arg")], done.stdout
