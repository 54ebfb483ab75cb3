"""A helper's jobs, run in this process: what they find, open, and how often they resolve a root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flashstatic.amped import jobs
from flashstatic.config import Root, TranslationRules
from flashstatic.translate import FoundFile


@pytest.fixture
def releases(tmp_path: Path) -> Path:
    """``current``, a symlink to release ``one``, as a deploy leaves it; ``two`` beside it."""
    for release in ("one", "two"):
        (tmp_path / release).mkdir()
        (tmp_path / release / "a.txt").write_text(release)
        (tmp_path / release / "b.txt").write_text(release)
    (tmp_path / "current").symlink_to(tmp_path / "one")
    return tmp_path


def _count_resolves(monkeypatch: pytest.MonkeyPatch, directory: Path) -> list[str]:
    calls: list[str] = []
    real = os.path.realpath

    def counting(path: str, *args: object, **kwargs: object) -> str:
        if os.fspath(path) == str(directory):
            calls.append(path)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os.path, "realpath", counting)
    return calls


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 100, 0).decode()
    finally:
        os.close(fd)


def test_a_lookup_and_the_open_after_it_resolve_the_root_once(releases: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = TranslationRules((Root(str(releases / "current"), ""),))
    calls = _count_resolves(monkeypatch, releases / "current")
    found, fd = jobs.run_translate_open(rules, "/a.txt", 1024)
    assert isinstance(found, FoundFile) and fd is not None
    assert _read(fd) == "one"
    assert len(calls) == 1


def test_every_job_resolves_the_root_afresh_so_a_switched_symlink_is_followed(releases: Path) -> None:
    rules = TranslationRules((Root(str(releases / "current"), ""),))
    found, fd = jobs.run_translate_open(rules, "/a.txt", 1024)
    assert fd is not None and _read(fd) == "one"
    swap = releases / "swap"
    swap.symlink_to(releases / "two")
    os.replace(swap, releases / "current")
    found, fd = jobs.run_translate_open(rules, "/a.txt", 1024)
    assert isinstance(found, FoundFile) and found.facts.path == str(releases / "two" / "a.txt")
    assert fd is not None and _read(fd) == "two"


def test_a_batch_of_revalidations_resolves_the_root_once(releases: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = TranslationRules((Root(str(releases / "current"), ""),))
    calls = _count_resolves(monkeypatch, releases / "current")
    results = jobs.run_translate_many(rules, ["/a.txt", "/b.txt", "/missing.txt"])
    assert [type(result).__name__ for result in results] == ["FoundFile", "FoundFile", "_Missing"]
    assert len(calls) == 1
