"""Under gunicorn, whole files and single ranges leave through sendfile(2), counted by strace.

gunicorn sendfiles a ``wsgi.file_wrapper`` body from the descriptor's current offset for
Content-Length bytes; FlashStaticWSGI hands it a file positioned at the slice start. The
syscall log shows which bytes went that way.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from wsgi_servers import gunicorn

SIZE = 5 * 1024 * 1024
SENDFILE = re.compile(r"sendfile\(\d+, \d+, \[(\d+)\][^)]*\) += (\d+)")

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (.ci/run installs it)")


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_whole_files_and_single_ranges_go_through_sendfile(worker_class: str, tmp_path: Path) -> None:
    root = tmp_path / "site"
    content = _big_file(root)
    log = tmp_path / "strace.log"
    env = {"FLASHSTATIC_TEST_ROOT": str(root)}
    with gunicorn("wsgi_app:app", worker_class=worker_class, threads=2, env=env, prefix_command=_strace(log)) as url:
        _fetch_whole_and_part(url + "/big.bin", content)
    calls = _sendfile_calls(log)
    # Each response started at its slice's first byte, and the range stopped at its last.
    assert (0, min(SIZE, calls[0][1])) == calls[0]


def test_strace_runs_this_python() -> None:
    """The check above is only meaningful if strace can trace at all here (ptrace allowed)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    import subprocess

    done = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=sendfile", sys.executable, "-c", "pass"], capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_django_middleware_files_go_through_sendfile(worker_class: str, tmp_path: Path) -> None:
    """FlashStaticMiddleware's FileResponse reaches gunicorn's file_wrapper: the same syscalls
    as FlashStaticWSGI's own bodies, for the example project's STATIC_ROOT."""
    pytest.importorskip("django")
    from wsgi_servers import WORKTREE

    root = tmp_path / "collected"
    content = _big_file(root)
    log = tmp_path / "strace.log"
    here = WORKTREE / "examples" / "django_site"
    with gunicorn(
        "site_config.wsgi",
        worker_class=worker_class,
        threads=2,
        env={"DJANGO_STATIC_ROOT": str(root)},
        extra=["--chdir", str(here)],
        prefix_command=_strace(log),
    ) as url:
        _fetch_whole_and_part(url + "/static/big.bin", content)
    _sendfile_calls(log)


def _big_file(root: Path) -> bytes:
    root.mkdir()
    content = os.urandom(SIZE)
    (root / "big.bin").write_bytes(content)
    return content


def _strace(log: Path) -> list[str]:
    return ["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(log)]


def _fetch_whole_and_part(url: str, content: bytes) -> None:
    whole = httpx.get(url, timeout=30)
    part = httpx.get(url, headers={"range": "bytes=1000-2000999"}, timeout=30)
    assert whole.content == content
    assert part.status_code == 206 and part.content == content[1000:2001000]


def _sendfile_calls(log: Path) -> list[tuple[int, int]]:
    """The (offset, bytes) of each sendfile the server made, once it has stopped: every byte of
    the whole file and of the range went that way, the range from its first byte."""
    calls = [(int(offset), int(sent)) for offset, sent in SENDFILE.findall(log.read_text())]
    assert sum(sent for _, sent in calls) == SIZE + 2_000_000, calls
    assert any(offset == 1000 for offset, _ in calls), calls
    return calls
