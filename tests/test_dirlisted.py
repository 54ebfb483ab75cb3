"""A directory's names from a listing kept while it is unchanged, and the sibling lookups it
spares translation."""

from __future__ import annotations

import gzip as gzip_module
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from flashstatic import FlashStatic, dirlisted, translate
from flashstatic.config import Root, TranslationRules
from flashstatic.dirlisted import SETTLED_NS, DirectoryNames
from flashstatic.translate import FoundFile
from support import write_tree


def _settle(directory: Path) -> int:
    """Set the directory's times well in the past: as one not changed for a while."""
    past = time.time_ns() - 10 * SETTLED_NS
    os.utime(directory, ns=(past, past))
    return past


def _at_once(job: Callable[[], None]) -> None:
    job()


def test_a_settled_directory_is_listed_once_and_relisted_when_a_name_is_added(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.js": "a", "b.css": "b"})
    _settle(tmp_path)
    listings: list[object] = []
    names = DirectoryNames(later=lambda job: (listings.append(job), job()))
    assert names.names(str(tmp_path)) is None  # the lookup that finds no listing does not wait
    assert names.names(str(tmp_path)) == {"a.js", "b.css"}
    assert names.names(str(tmp_path)) == {"a.js", "b.css"} and len(listings) == 1
    (tmp_path / "a.js.gz").write_bytes(b"gz")  # moves the directory's time
    assert names.names(str(tmp_path)) is None  # changed lately: asked name by name
    _settle(tmp_path)
    assert names.names(str(tmp_path)) is None
    assert names.names(str(tmp_path)) == {"a.js", "b.css", "a.js.gz"} and len(listings) == 2


def test_a_directory_is_listed_once_however_many_ask_while_it_is_listed(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.js": "a"})
    _settle(tmp_path)
    waiting: list[Callable[[], None]] = []
    names = DirectoryNames(later=waiting.append)
    assert [names.names(str(tmp_path)) for _ in range(5)] == [None] * 5
    assert len(waiting) == 1
    waiting[0]()
    assert names.names(str(tmp_path)) == {"a.js"}


def test_a_directory_changed_lately_is_not_listed(tmp_path: Path) -> None:
    # Changed within the clock's tick as far as a listing could tell: a name added just after
    # the listing might leave the time as it was, so nothing is kept.
    write_tree(tmp_path, {"a.js": "a"})
    mtime = os.stat(tmp_path).st_mtime_ns
    names = DirectoryNames(clock=lambda: mtime + SETTLED_NS // 2, later=_at_once)
    assert names.names(str(tmp_path)) is None
    (tmp_path / "a.js.br").write_bytes(b"br")
    os.utime(tmp_path, ns=(mtime, mtime))  # the same tick: the time did not move
    names._clock = lambda: mtime + 2 * SETTLED_NS
    assert names.names(str(tmp_path)) is None
    assert names.names(str(tmp_path)) == {"a.js", "a.js.br"}


def test_a_directory_replaced_by_another_of_the_same_time_is_listed_afresh(tmp_path: Path) -> None:
    old = write_tree(tmp_path / "site", {"a.js": "a"})
    new = write_tree(tmp_path / "next", {"a.js": "a", "a.js.gz": "gz"})
    past = _settle(old)
    os.utime(new, ns=(past, past))
    names = DirectoryNames(later=_at_once)
    names.names(str(old))
    assert names.names(str(old)) == {"a.js"}
    os.rename(old, tmp_path / "gone")
    os.rename(new, old)
    names.names(str(old))
    assert names.names(str(old)) == {"a.js", "a.js.gz"}


def test_a_directory_too_large_to_list_says_nothing(tmp_path: Path) -> None:
    write_tree(tmp_path, {f"f{i}": "x" for i in range(5)})
    _settle(tmp_path)
    for max_names, listed in ((4, None), (5, {f"f{i}" for i in range(5)})):
        names = DirectoryNames(max_names=max_names, later=_at_once)
        names.names(str(tmp_path))
        assert names.names(str(tmp_path)) == listed


def test_a_listing_with_suffixes_keeps_only_those_names_so_a_large_directory_is_listed(tmp_path: Path) -> None:
    write_tree(tmp_path, {**{f"f{i}.js": "x" for i in range(20)}, "f0.js.gz": "gz", "f1.js.br": "br"})
    _settle(tmp_path)
    names = DirectoryNames(max_names=5, suffixes=(".gz", ".br"), later=_at_once)
    names.names(str(tmp_path))
    assert names.names(str(tmp_path)) == {"f0.js.gz", "f1.js.br"}


def test_a_directory_of_too_many_entries_to_read_says_nothing(tmp_path: Path, monkeypatch) -> None:
    write_tree(tmp_path, {f"f{i}.js": "x" for i in range(10)})
    _settle(tmp_path)
    monkeypatch.setattr(dirlisted, "MAX_ENTRIES", 9)
    names = DirectoryNames(suffixes=(".gz",), later=_at_once)
    names.names(str(tmp_path))
    assert names.names(str(tmp_path)) is None


def test_listings_kept_are_bounded(tmp_path: Path) -> None:
    directories = [write_tree(tmp_path / f"d{i}", {"a": "a"}) for i in range(3)]
    for directory in directories:
        _settle(directory)
    names = DirectoryNames(max_directories=2, later=_at_once)
    for directory in directories:
        names.names(str(directory))
    assert len(names._listings) == 2 and str(directories[0]) not in names._listings


def _lookups_counted(monkeypatch) -> list[str]:
    """The names translation looks up beneath a root from now on, in order."""
    looked_up: list[str] = []
    stat_beneath = translate.stat_beneath

    def counting(base: str, relative: str) -> os.stat_result:
        looked_up.append(relative)
        return stat_beneath(base, relative)

    monkeypatch.setattr(translate, "stat_beneath", counting)
    return looked_up


def test_translation_in_a_settled_directory_looks_up_no_absent_sibling(tmp_path: Path, monkeypatch) -> None:
    root = write_tree(tmp_path / "site", {"a.js": "a", "b.js": "b", "b.js.gz": "gz"})
    _settle(root)
    looked_up = _lookups_counted(monkeypatch)
    monkeypatch.setattr(translate, "_directory_names", DirectoryNames(later=_at_once))
    rules = TranslationRules((Root(str(root), ""),))
    translate.translate(rules, "/a.js")  # asks name by name, and has the directory listed
    looked_up.clear()
    a = translate.translate(rules, "/a.js")
    b = translate.translate(rules, "/b.js")
    assert isinstance(a, FoundFile) and a.siblings == ()
    assert isinstance(b, FoundFile) and [coding for coding, _ in b.siblings] == ["gzip"]
    assert looked_up == ["a.js", "b.js", "b.js.gz"]


def test_translation_in_a_directory_of_many_files_looks_up_no_absent_sibling(tmp_path: Path, monkeypatch) -> None:
    # More files than a listing may keep names, few of them precompressed: still listed.
    root = write_tree(tmp_path / "site", {**{f"f{i}.js": "x" for i in range(30)}, "f1.js.gz": "gz"})
    _settle(root)
    looked_up = _lookups_counted(monkeypatch)
    listed = DirectoryNames(max_names=10, suffixes=translate._directory_names.suffixes, later=_at_once)
    monkeypatch.setattr(translate, "_directory_names", listed)
    rules = TranslationRules((Root(str(root), ""),))
    translate.translate(rules, "/f0.js")
    looked_up.clear()
    assert isinstance(translate.translate(rules, "/f0.js"), FoundFile)
    found = translate.translate(rules, "/f1.js")
    assert isinstance(found, FoundFile) and [coding for coding, _ in found.siblings] == ["gzip"]
    assert looked_up == ["f0.js", "f1.js", "f1.js.gz"]


@pytest.mark.parametrize("architecture", ["amped", pytest.param("sped", marks=pytest.mark.blocking_allowed)])
def test_a_sibling_written_after_the_file_was_served_is_served_once_revalidated(
    tmp_path: Path, live_server, architecture: str
) -> None:
    root = write_tree(tmp_path / "site", {"app.js": "let a = 1;\n" * 100})
    _settle(root)
    app = FlashStatic(directory=root, architecture=architecture, revalidate_interval=0)
    gzip = {"accept-encoding": "gzip"}
    with live_server(app) as url, httpx.Client(timeout=10) as client:
        assert "content-encoding" not in client.get(url + "/app.js", headers=gzip).headers
        (root / "app.js.gz").write_bytes(gzip_module.compress(b"precompressed"))
        response = client.get(url + "/app.js", headers=gzip)
    assert response.headers["content-encoding"] == "gzip" and response.text == "precompressed"


def test_by_default_a_thread_of_its_own_makes_the_listing(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.js": "a"})
    _settle(tmp_path)
    names = DirectoryNames()
    assert names.names(str(tmp_path)) is None
    deadline = time.monotonic() + 10
    while names.names(str(tmp_path)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert names.names(str(tmp_path)) == {"a.js"}


def test_a_forked_child_lists_though_the_parent_was_listing_when_it_forked(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.js": "a"})
    _settle(tmp_path)
    names = DirectoryNames(later=lambda job: None)  # the parent's listing never ends
    assert names.names(str(tmp_path)) is None
    names._later = lambda job: job()
    with names._lock:  # as a lister thread holding it at the fork
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports by its exit status
            signal.alarm(10)  # a lock never released ends the child, not the test run
            names.names(str(tmp_path))
            os._exit(0 if names.names(str(tmp_path)) == {"a.js"} else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
