"""Files are opened and stat'ed beneath the served root: over real HTTP, a directory swapped
for a symlink to the outside while requests run never lets a byte or a validator of the
outside file out, and the hidden-file rule holds for every file served (precompressed
siblings, index files, the 404 page)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from flashstatic import FlashStatic, FlashStaticWSGI
from flashstatic.http.conditional import make_etag
from support import flashstatic_serve, raw_request, write_tree
from wsgi_servers import wsgiref_server

SECRET = b"TOP-SECRET-DECOY"
PLAIN = b"plain text, larger than the secret " * 4  # so a sibling holding the secret is chosen
FILES = 150
INSIDE_MTIME = 1_700_000_000
OUTSIDE_MTIME = 1_600_000_000
RACE_SECONDS = 2.0


def _inside(i: int) -> bytes:
    return f"inside-{i:04d}\n".encode() * 8


def _outside(i: int) -> bytes:
    # The same length as the inside file: only the bytes and the mtime tell them apart, so
    # the test sees an outside ETag or body, not merely a different Content-Length.
    return f"OUTSID-{i:04d}\n".encode() * 8


@pytest.fixture
def racing_tree(tmp_path: Path) -> tuple[Path, Path]:
    """root/d/f<i>.txt inside; outside/f<i>.txt the decoys; root/.swap a link to outside."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    write_tree(root, {f"d/f{i}.txt": _inside(i) for i in range(FILES)})
    write_tree(outside, {f"f{i}.txt": _outside(i) for i in range(FILES)})
    for i in range(FILES):
        os.utime(root / "d" / f"f{i}.txt", (INSIDE_MTIME, INSIDE_MTIME))
        os.utime(outside / f"f{i}.txt", (OUTSIDE_MTIME, OUTSIDE_MTIME))
    os.symlink(outside, root / ".swap")
    return root, outside


_libc = ctypes.CDLL(None, use_errno=True)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE), else in three renames."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        if ctypes.get_errno() not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(ctypes.get_errno(), "renameat2")
    held = a.with_name(".held")
    os.rename(a, held)
    os.rename(b, a)
    os.rename(held, b)


@contextlib.contextmanager
def swapping(root: Path) -> Iterator[None]:
    """root/d goes back and forth between the directory and a link to the outside."""
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            _exchange(root / "d", root / ".swap")
            time.sleep(0)

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        if (root / "d").is_symlink():
            _exchange(root / "d", root / ".swap")


def assert_never_outside(url: str) -> int:
    """Request every file, GET and HEAD, for RACE_SECONDS while the tree is swapped: each
    200 carries the inside file's bytes, length and ETag. Returns the number of 200s."""
    served = 0
    deadline = time.monotonic() + RACE_SECONDS
    with httpx.Client(timeout=10) as client:
        i = 0
        while time.monotonic() < deadline:
            method = "HEAD" if i % 3 == 2 else "GET"
            n = i % FILES
            response = client.request(method, f"{url}/d/f{n}.txt")
            assert response.status_code in (200, 404, 503), (response.status_code, response.text[:200])
            if response.status_code == 200:
                served += 1
                expected = _inside(n)
                assert response.headers["etag"] == make_etag(len(expected), INSIDE_MTIME * 10**9, None), (
                    f"{method} f{n}.txt: the outside file's ETag"
                )
                assert response.headers["content-length"] == str(len(expected))
                if method == "GET":
                    assert response.content == expected, f"f{n}.txt: bytes from outside the root"
            i += 1
    return served


def _asgi(root: Path, **options: object) -> FlashStatic:
    return FlashStatic(directory=root, revalidate_interval=0, **options)


ASGI_CASES: dict[str, Callable[[Path], FlashStatic]] = {
    "amped-process": lambda root: _asgi(root),
    "amped-thread": lambda root: _asgi(root, helper_backend="thread"),
    "mt": lambda root: _asgi(root, architecture="mt"),
}


@pytest.mark.parametrize("case", list(ASGI_CASES))
def test_asgi_never_serves_outside_while_a_directory_is_swapped(case: str, racing_tree, live_server) -> None:
    root, _ = racing_tree
    with live_server(ASGI_CASES[case](root)) as url:
        assert httpx.get(f"{url}/d/f0.txt").content == _inside(0)
        with swapping(root):
            served = assert_never_outside(url)
        assert served > 0
        assert httpx.get(f"{url}/d/f1.txt").content == _inside(1)


def test_serve_never_serves_outside_while_a_directory_is_swapped(racing_tree) -> None:
    root, _ = racing_tree
    with flashstatic_serve(root, "--no-access-log") as (_, port):
        url = f"http://127.0.0.1:{port}"
        with swapping(root):
            served = assert_never_outside(url)
        assert served > 0


def test_wsgi_never_serves_outside_while_a_directory_is_swapped(racing_tree) -> None:
    root, _ = racing_tree
    with wsgiref_server(FlashStaticWSGI(directory=root, revalidate_interval=0)) as url:
        with swapping(root):
            served = assert_never_outside(url)
        assert served > 0


def test_the_component_walk_never_serves_outside_either(racing_tree, monkeypatch: pytest.MonkeyPatch) -> None:
    # Where openat2 is missing or refused: the same race against the O_NOFOLLOW walk.
    from flashstatic import beneath

    monkeypatch.setattr(beneath, "_syscall", None)
    root, _ = racing_tree
    with wsgiref_server(FlashStaticWSGI(directory=root, revalidate_interval=0)) as url:
        with swapping(root):
            served = assert_never_outside(url)
        assert served > 0


def test_follow_symlink_still_follows_a_swapped_directory(racing_tree, live_server) -> None:
    # Starlette's follow_symlink=True: links may point anywhere, so the outside file is served.
    root, _ = racing_tree
    _exchange(root / "d", root / ".swap")
    with live_server(FlashStatic(directory=root, follow_symlink=True)) as url:
        assert httpx.get(f"{url}/d/f3.txt").content == _outside(3)


# -- the hidden-file rule for every file that is opened -----------------------------------------


@pytest.fixture
def dotted(tmp_path: Path) -> Path:
    root = write_tree(
        tmp_path / "root",
        {
            "s.txt": PLAIN,
            ".env": SECRET,
            "docs/page.html": "<p>page</p>",
            "404.html": "<h1>gone</h1>",
            ".git/config": SECRET,
        },
    )
    os.symlink(".env", root / "s.txt.gz")  # a sibling that is a dotfile
    os.symlink("../.env", root / "docs" / "index.html")  # an index file that is a dotfile
    os.symlink(".git/config", root / "404.html.gz")  # the 404 page's sibling, in a dot-directory
    return root


def _hidden_checks(url: str) -> None:
    gzip = b"Accept-Encoding: gzip\r\n"
    for method in (b"GET", b"HEAD"):
        status, reply = raw_request(url, b"/s.txt", method, gzip)
        head = reply.split(b"\r\n\r\n")[0].lower()
        assert status == 200 and SECRET not in reply, reply
        assert b"content-encoding" not in head and b"content-length: %d" % len(PLAIN) in head
        status, reply = raw_request(url, b"/docs/", method)
        assert status == 404 and SECRET not in reply, reply
        status, reply = raw_request(url, b"/nothing", method, gzip)
        head = reply.split(b"\r\n\r\n")[0].lower()
        assert status == 404 and SECRET not in reply, reply
        assert b"content-encoding" not in head and b"content-length: 13" in head


def test_hidden_rule_holds_for_siblings_index_and_404_page(dotted: Path, live_server) -> None:
    with live_server(FlashStatic(directory=dotted, html=True)) as url:
        _hidden_checks(url)


def test_hidden_rule_holds_for_siblings_index_and_404_page_over_wsgi(dotted: Path) -> None:
    with wsgiref_server(FlashStaticWSGI(directory=dotted, html=True)) as url:
        _hidden_checks(url)


def test_allow_dotfiles_serves_hidden_siblings(dotted: Path, live_server) -> None:
    with live_server(FlashStatic(directory=dotted, html=True, allow_dotfiles=True)) as url:
        response = httpx.head(f"{url}/s.txt", headers={"accept-encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["content-length"] == str(len(SECRET))
        assert httpx.get(f"{url}/docs/").content == SECRET


def test_open_refuses_a_directory_that_became_a_link_even_to_the_same_file(tmp_path: Path) -> None:
    # The fstat check alone cannot tell: the outside name is a hard link to the very file
    # translation found. The open must still not pass through the link.
    from flashstatic.amped.jobs import FileChanged, open_checked
    from flashstatic.config import Root
    from flashstatic.translate import FoundFile, TranslationRules, translate

    root = write_tree(tmp_path / "root", {"d/f.txt": "inside"})
    (tmp_path / "outside").mkdir()
    os.link(root / "d" / "f.txt", tmp_path / "outside" / "f.txt")
    rules = TranslationRules((Root(str(root), ""),))
    found = translate(rules, "/d/f.txt")
    assert isinstance(found, FoundFile)
    os.rename(root / "d", root / ".d")
    os.symlink(tmp_path / "outside", root / "d")
    with pytest.raises(FileChanged):
        open_checked(found.facts, rules)
    os.unlink(root / "d")
    os.rename(root / ".d", root / "d")
    os.close(open_checked(found.facts, rules))
