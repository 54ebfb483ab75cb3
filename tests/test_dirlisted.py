"""A directory's names from a listing kept while it is unchanged, and the sibling lookups it
spares translation."""

from __future__ import annotations

import gzip as gzip_module
import os
import time
from pathlib import Path

import httpx
import pytest

from flashstatic import FlashStatic, translate
from flashstatic.config import Root, TranslationRules
from flashstatic.dirlisted import SETTLED_NS, DirectoryNames
from flashstatic.translate import FoundFile
from support import write_tree


def _settle(directory: Path) -> int:
    """Set the directory's times well in the past: as one not changed for a while."""
    past = time.time_ns() - 10 * SETTLED_NS
    os.utime(directory, ns=(past, past))
    return past


def test_a_settled_directory_is_listed_once_and_relisted_when_a_name_is_added(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.js": "a", "b.css": "b"})
    _settle(tmp_path)
    names = DirectoryNames()
    assert names.names(str(tmp_path)) == {"a.js", "b.css"}
    (tmp_path / "a.js.gz").write_bytes(b"gz")  # moves the directory's time
    assert names.names(str(tmp_path)) is None  # changed lately: asked name by name
    _settle(tmp_path)
    assert names.names(str(tmp_path)) == {"a.js", "b.css", "a.js.gz"}


def test_a_directory_changed_lately_is_not_listed(tmp_path: Path) -> None:
    # Changed within the clock's tick as far as a listing could tell: a name added just after
    # the listing might leave the time as it was, so nothing is kept.
    write_tree(tmp_path, {"a.js": "a"})
    mtime = os.stat(tmp_path).st_mtime_ns
    names = DirectoryNames(clock=lambda: mtime + SETTLED_NS // 2)
    assert names.names(str(tmp_path)) is None
    (tmp_path / "a.js.br").write_bytes(b"br")
    os.utime(tmp_path, ns=(mtime, mtime))  # the same tick: the time did not move
    names._clock = lambda: mtime + 2 * SETTLED_NS
    assert names.names(str(tmp_path)) == {"a.js", "a.js.br"}


def test_a_directory_replaced_by_another_of_the_same_time_is_listed_afresh(tmp_path: Path) -> None:
    old = write_tree(tmp_path / "site", {"a.js": "a"})
    new = write_tree(tmp_path / "next", {"a.js": "a", "a.js.gz": "gz"})
    past = _settle(old)
    os.utime(new, ns=(past, past))
    names = DirectoryNames()
    assert names.names(str(old)) == {"a.js"}
    os.rename(old, tmp_path / "gone")
    os.rename(new, old)
    assert names.names(str(old)) == {"a.js", "a.js.gz"}


def test_a_directory_too_large_to_list_says_nothing(tmp_path: Path) -> None:
    write_tree(tmp_path, {f"f{i}": "x" for i in range(5)})
    _settle(tmp_path)
    assert DirectoryNames(max_names=4).names(str(tmp_path)) is None
    assert DirectoryNames(max_names=5).names(str(tmp_path)) is not None


def test_listings_kept_are_bounded(tmp_path: Path) -> None:
    directories = [write_tree(tmp_path / f"d{i}", {"a": "a"}) for i in range(3)]
    for directory in directories:
        _settle(directory)
    names = DirectoryNames(max_directories=2)
    for directory in directories:
        names.names(str(directory))
    assert len(names._listings) == 2 and str(directories[0]) not in names._listings


def test_translation_in_a_settled_directory_looks_up_no_absent_sibling(tmp_path: Path, monkeypatch) -> None:
    root = write_tree(tmp_path / "site", {"a.js": "a", "b.js": "b", "b.js.gz": "gz"})
    _settle(root)
    looked_up: list[str] = []
    stat_beneath = translate.stat_beneath

    def counting(base: str, relative: str) -> os.stat_result:
        looked_up.append(relative)
        return stat_beneath(base, relative)

    monkeypatch.setattr(translate, "stat_beneath", counting)
    rules = TranslationRules((Root(str(root), ""),))
    a = translate.translate(rules, "/a.js")
    b = translate.translate(rules, "/b.js")
    assert isinstance(a, FoundFile) and a.siblings == ()
    assert isinstance(b, FoundFile) and [coding for coding, _ in b.siblings] == ["gzip"]
    assert looked_up == ["a.js", "b.js", "b.js.gz"]


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
