"""Changes in the served directories are seen before the next request (inotify), not only at
the next revalidation: every test here trusts cached answers for a minute, so only the watch
can explain a fresh answer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from flashstatic import FlashStatic
from flashstatic.cache.pathname import PathnameCache
from flashstatic.config import build_options
from flashstatic.translate import MISSING, FileFacts, FoundFile
from flashstatic.watch import OVERFLOW, Change, DirectoryWatch
from support import flashstatic_serve, write_tree

TRUSTED = "60"  # seconds: far longer than any test runs


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write_tree(root, {"a.txt": "alpha", "b.txt": "beta", "sub/c.txt": "gamma", "sub/deep/d.txt": "delta"})
    return root


def _replace(path: Path, text: str) -> None:
    """As a deploy writes a file: beside it, then renamed over it."""
    staged = path.with_name(path.name + ".new")
    staged.write_text(text)
    os.replace(staged, path)


def _changes_seen_over(get, root: Path) -> None:  # type: ignore[no-untyped-def]
    first = get("/a.txt")
    assert first.status_code == 200 and first.text == "alpha"
    etag = first.headers["etag"]
    assert get("/a.txt", headers={"if-none-match": etag}).status_code == 304  # a cache hit
    assert get("/sub/c.txt").text == "gamma" and get("/sub/deep/d.txt").text == "delta"
    assert get("/new.txt").status_code == 404  # a cached miss

    (root / "a.txt").unlink()
    assert get("/a.txt", headers={"if-none-match": etag}).status_code == 404  # not a 304

    _replace(root / "b.txt", "beta, second edition")
    assert get("/b.txt").text == "beta, second edition"

    (root / "new.txt").write_text("new")
    assert get("/new.txt").text == "new"

    shutil.rmtree(root / "sub" / "deep")
    assert get("/sub/deep/d.txt").status_code == 404
    assert get("/sub/c.txt").text == "gamma"


@pytest.mark.parametrize("way", ["serve", "middleware"])
def test_a_change_on_disk_is_seen_by_the_next_request(way: str, tree: Path, live_server) -> None:
    if way == "serve":
        # The protocol's own hot path answers hits without the ASGI app.
        with (
            flashstatic_serve(tree, "--revalidate-interval", TRUSTED) as (_, port),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
        ):
            client.get("/b.txt")
            _changes_seen_over(client.get, tree)
    else:
        app = FlashStatic(directory=tree, revalidate_interval=float(TRUSTED))
        with live_server(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            client.get("/b.txt")
            _changes_seen_over(client.get, tree)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_deleted_file_is_a_404_at_once_under_each_anyio_backend(backend: str, tree: Path) -> None:
    # Starlette's TestClient runs each request on a loop of its own unless used in a with
    # block: the watch is read on whichever loop comes (under trio, at each request).
    app = FlashStatic(directory=tree, revalidate_interval=float(TRUSTED))
    client = TestClient(app, backend=backend)
    first = client.get("/a.txt")
    assert client.get("/a.txt", headers={"if-modified-since": first.headers["last-modified"]}).status_code == 304
    (tree / "a.txt").unlink()
    assert client.get("/a.txt", headers={"if-modified-since": first.headers["last-modified"]}).status_code == 404


def test_the_404_page_is_watched_too(tree: Path, live_server) -> None:
    (tree / "404.html").write_text("<p>first</p>")
    app = FlashStatic(directory=tree, html=True, revalidate_interval=float(TRUSTED))
    with live_server(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/nothing").text == "<p>first</p>"
        _replace(tree / "404.html", "<p>second</p>")
        assert client.get("/nothing").text == "<p>second</p>"


# -- the pieces, without a server --------------------------------------------------------------


def test_the_watch_reports_what_changed_in_a_directory(tmp_path: Path) -> None:
    watch = DirectoryWatch.open()
    assert watch is not None
    try:
        (tmp_path / "sub").mkdir()
        (tmp_path / "kept.txt").write_text("x")
        watch.watch(str(tmp_path))
        assert watch.changes() == []
        (tmp_path / "kept.txt").unlink()
        (tmp_path / "new.txt").write_text("y")
        os.rename(tmp_path / "sub", tmp_path / "moved")
        changes = watch.changes()
        assert Change(str(tmp_path), "kept.txt", False) in changes
        assert Change(str(tmp_path), "new.txt", False) in changes
        assert Change(str(tmp_path), "sub", True) in changes and Change(str(tmp_path), "moved", True) in changes
        shutil.rmtree(tmp_path)
        assert Change(str(tmp_path), "", True) in watch.changes()  # the directory itself went
        assert watch.changes() == []
        assert not watch.watching(str(tmp_path))  # and its watch with it: it may be added again
    finally:
        watch.close()


def test_the_watch_stops_adding_at_its_bound(tmp_path: Path) -> None:
    watch = DirectoryWatch.open(max_watches=2)
    assert watch is not None
    try:
        for name in "abc":
            (tmp_path / name).mkdir()
            watch.watch(str(tmp_path / name))
        assert [watch.watching(str(tmp_path / name)) for name in "abc"] == [True, True, False]
    finally:
        watch.close()


def _found(path: Path) -> FoundFile:
    st = path.stat()
    return FoundFile("/" + path.name, FileFacts(str(path), st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino), ())


def test_the_pathname_cache_forgets_by_directory(tree: Path) -> None:
    options = build_options(tree, None, {"pathname_cache_size": 3})
    cache = PathnameCache(options)
    assert cache.take_new_directories() == []  # from now on, new directories are collected
    cache.store("/a.txt", _found(tree / "a.txt"), 0.0)
    cache.store("/sub/c.txt", _found(tree / "sub" / "c.txt"), 0.0)
    cache.store("/sub/deep/d.txt", _found(tree / "sub" / "deep" / "d.txt"), 0.0)
    cache.store("/gone", MISSING, 0.0)
    assert cache.take_new_directories() == [str(tree), str(tree / "sub"), str(tree / "sub" / "deep")]
    assert cache.take_new_directories() == []

    assert cache.forget_changed(str(tree / "sub"), subtree=False) == 1
    assert cache.lookup("/sub/c.txt", 0.0)[0] is None
    assert cache.lookup("/gone", 0.0)[0] is None  # every miss: a file may have appeared
    assert cache.lookup("/sub/deep/d.txt", 0.0)[0] is not None

    cache.store("/sub/c.txt", _found(tree / "sub" / "c.txt"), 0.0)
    assert cache.forget_changed(str(tree / "sub"), subtree=True) == 2
    assert cache.lookup("/a.txt", 0.0)[0] is not None


def test_an_evicted_entry_leaves_the_index(tree: Path) -> None:
    options = build_options(tree, None, {"pathname_cache_size": 1})
    cache = PathnameCache(options)
    cache.store("/a.txt", _found(tree / "a.txt"), 0.0)
    cache.store("/sub/c.txt", _found(tree / "sub" / "c.txt"), 0.0)  # evicts /a.txt
    assert cache.forget_changed(str(tree), subtree=False) == 0
    assert cache.take_new_directories() == [str(tree / "sub")]


def test_an_overflow_forgets_everything(tree: Path) -> None:
    app = FlashStatic(directory=tree, revalidate_interval=float(TRUSTED))
    app.core.store("/a.txt", _found(tree / "a.txt"), 0.0)
    app.directory_changed(OVERFLOW)
    assert app.core.lookup("/a.txt", 0.0)[0] is None
