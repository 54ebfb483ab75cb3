"""The start-up summary's facts: files counted (with a cap), zero copy on or off and why."""

from __future__ import annotations

from pathlib import Path

from flashstatic.config import Root
from flashstatic.startup import count_files, zero_copy_status
from support import write_tree


def test_count_files_with_a_cap(tmp_path: Path) -> None:
    write_tree(
        tmp_path / "a", {f"f{i}.txt": "x" for i in range(5)} | {"d/e/g.txt": "x", ".hidden/h.txt": "x", ".dot": "x"}
    )
    write_tree(tmp_path / "b", {"one.txt": "x"})
    (tmp_path / "a" / "link").symlink_to(tmp_path / "b")  # a link to a directory is not entered
    roots = [Root(str(tmp_path / "a"), ""), Root(str(tmp_path / "b"), "/b")]
    assert count_files(roots, allow_dotfiles=False) == (7, False)
    assert count_files(roots, allow_dotfiles=True) == (9, False)
    assert count_files(roots, allow_dotfiles=False, cap=3) == (3, True)


def test_zero_copy_status() -> None:
    assert zero_copy_status(tls=False, sendfile_available=True) == (True, "sendfile on plain TCP")
    active, why = zero_copy_status(tls=True, sendfile_available=True)
    assert not active and "TLS" in why
    active, why = zero_copy_status(tls=False, sendfile_available=False)
    assert not active and "no sendfile" in why
