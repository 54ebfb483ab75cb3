"""flashstatic.beneath: opens and stats below a base directory that meet no symlink, through
openat2 and through the component walk (forced), with the same answers."""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import pytest

from flashstatic import beneath


@pytest.fixture(params=["openat2", "walk"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "openat2":
        if not beneath.openat2_in_use():
            pytest.skip("openat2 is not available here")
    else:
        monkeypatch.setattr(beneath, "_syscall", None)
    return request.param


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    base = tmp_path / "base"
    (base / "a" / "b").mkdir(parents=True)
    (base / "a" / "b" / "f.txt").write_bytes(b"inside")
    (base / "top.txt").write_bytes(b"top")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f.txt").write_bytes(b"OUTSIDE")
    os.symlink(tmp_path / "outside", base / "a" / "out")  # a directory link to the outside
    os.symlink("b", base / "a" / "alias")  # a directory link that stays inside
    os.symlink("b/f.txt", base / "a" / "link.txt")  # a file link that stays inside
    os.mkfifo(base / "fifo")
    return base


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def test_opens_a_file_below(way: str, tree: Path) -> None:
    assert _read(beneath.open_beneath(str(tree), "a/b/f.txt", os.O_RDONLY)) == b"inside"
    assert _read(beneath.open_beneath(str(tree), "top.txt", os.O_RDONLY)) == b"top"


def test_opens_the_base_itself(way: str, tree: Path) -> None:
    fd = beneath.open_beneath(str(tree), "", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(tree))
    finally:
        os.close(fd)


@pytest.mark.parametrize("relative", ["a/out/f.txt", "a/alias/f.txt", "a/link.txt"])
def test_any_symlink_is_refused(way: str, tree: Path, relative: str) -> None:
    # Even a link that stays inside: the caller gives a real path, so a link means a change.
    with pytest.raises(OSError) as refused:
        beneath.open_beneath(str(tree), relative, os.O_RDONLY)
    assert refused.value.errno == errno.ELOOP
    with pytest.raises(OSError) as refused:
        beneath.stat_beneath(str(tree), relative)
    assert refused.value.errno == errno.ELOOP


def test_a_link_as_the_last_component_is_refused_even_for_o_path(way: str, tree: Path) -> None:
    if not hasattr(os, "O_PATH"):
        pytest.skip("no O_PATH")
    with pytest.raises(OSError) as refused:
        beneath.open_beneath(str(tree), "a/link.txt", os.O_PATH)
    assert refused.value.errno == errno.ELOOP


@pytest.mark.parametrize("relative", ["../outside/f.txt", "a/../../outside/f.txt", "/etc/passwd", ".."])
def test_climbing_out_is_refused(way: str, tree: Path, relative: str) -> None:
    for call in (
        lambda: beneath.open_beneath(str(tree), relative, os.O_RDONLY),
        lambda: beneath.stat_beneath(str(tree), relative),
    ):
        with pytest.raises(OSError) as refused:
            call()
        assert refused.value.errno == errno.EXDEV


def test_missing_and_not_a_directory_are_what_they_are(way: str, tree: Path) -> None:
    with pytest.raises(FileNotFoundError):
        beneath.open_beneath(str(tree), "a/b/none.txt", os.O_RDONLY)
    with pytest.raises(FileNotFoundError):
        beneath.stat_beneath(str(tree), "nothing/none.txt")
    with pytest.raises(NotADirectoryError):
        beneath.open_beneath(str(tree), "top.txt/x", os.O_RDONLY)


def test_stat_of_files_directories_and_the_base(way: str, tree: Path) -> None:
    assert os.path.samestat(beneath.stat_beneath(str(tree), "a/b/f.txt"), os.stat(tree / "a/b/f.txt"))
    assert os.path.samestat(beneath.stat_beneath(str(tree), "top.txt"), os.stat(tree / "top.txt"))
    assert os.path.samestat(beneath.stat_beneath(str(tree), "a/b"), os.stat(tree / "a/b"))
    assert os.path.samestat(beneath.stat_beneath(str(tree), ""), os.stat(tree))
    # A FIFO is stat'ed, never opened: nothing can block.
    assert stat.S_ISFIFO(beneath.stat_beneath(str(tree), "fifo").st_mode)


def test_the_base_may_be_a_symlink(way: str, tree: Path) -> None:
    # A root switched by deploys: the base is trusted, what is below it is not.
    current = tree.parent / "current"
    os.symlink(tree, current)
    assert _read(beneath.open_beneath(str(current), "a/b/f.txt", os.O_RDONLY)) == b"inside"
    assert beneath.stat_beneath(str(current), "top.txt").st_size == 3


def test_no_descriptor_is_left_open(way: str, tree: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        for relative in ("a/out/f.txt", "a/b/none.txt", "a/b/f.txt/x"):
            with pytest.raises(OSError):
                beneath.open_beneath(str(tree), relative, os.O_RDONLY)
            with pytest.raises(OSError):
                beneath.stat_beneath(str(tree), relative)
        beneath.stat_beneath(str(tree), "a/b/f.txt")
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.skipif(sys.platform != "linux", reason="openat2 is Linux's")
@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EPERM])
def test_openat2_refused_falls_back_to_the_walk(tree: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    import ctypes

    calls = []

    def refused(*args: object) -> int:
        calls.append(args)
        ctypes.set_errno(code)
        return -1

    monkeypatch.setattr(beneath, "_syscall", refused)
    assert _read(beneath.open_beneath(str(tree), "a/b/f.txt", os.O_RDONLY)) == b"inside"
    assert not beneath.openat2_in_use() and len(calls) == 1
    with pytest.raises(OSError) as refused_link:
        beneath.open_beneath(str(tree), "a/out/f.txt", os.O_RDONLY)
    assert refused_link.value.errno == errno.ELOOP and len(calls) == 1


def test_a_null_byte_is_refused_not_cut_short(way: str, tree: Path) -> None:
    # C would read "top.txt\0x" as "top.txt"; os.open refuses it, and so must openat2's caller.
    with pytest.raises(ValueError):
        beneath.open_beneath(str(tree), "top.txt\0x", os.O_RDONLY)
    with pytest.raises(ValueError):
        beneath.stat_beneath(str(tree), "a/b\0/f.txt")
