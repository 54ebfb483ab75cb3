"""flashstatic compress on real trees, and the siblings it writes served over real HTTP."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import brotli
import httpx
import pytest
import zstandard

from flashstatic import FlashStatic
from flashstatic.compress import ProgressBar, run
from support import write_tree

REPO = Path(__file__).resolve().parents[1]

SCRIPT = "".join(f"function f{i}() {{ return {i} * 2; }}\n" for i in range(400))
DECODE = {
    ".br": brotli.decompress,
    ".zst": lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
    ".gz": gzip.decompress,
}


def _tree(root: Path) -> Path:
    return write_tree(
        root,
        {
            "app.js": SCRIPT,
            "css/site.css": "body { margin: 0; }\n" * 200,
            "logo.png": b"\x89PNG" + os.urandom(4000),
            "noise.txt": os.urandom(8000).hex()[:8000],  # hex digits: compresses, but barely (about 50%)
            "random.bin": os.urandom(20_000),  # does not compress at all
            "tiny.js": "x=1",
            ".hidden.js": SCRIPT,
        },
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flashstatic", "compress", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_writes_siblings_that_decompress_to_the_original(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    done = _cli(str(root), "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert "7 files: 9 siblings written" in done.stdout
    for name in ("app.js", "css/site.css", "noise.txt"):
        original = (root / name).read_bytes()
        for suffix, decode in DECODE.items():
            sibling = root / (name + suffix)
            assert decode(sibling.read_bytes()) == original
            assert sibling.stat().st_mode == (root / name).stat().st_mode
    # Already compressed, incompressible, too small, hidden: no siblings.
    for name in ("logo.png", "random.bin", "tiny.js", ".hidden.js"):
        assert not any((root / (name + suffix)).exists() for suffix in DECODE)
    assert not list(root.rglob("*.tmp"))  # temp files renamed or removed


def test_idempotent_and_stale_siblings_rewritten(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert run([str(root)], jobs=1).outcomes["written"] == 9
    sibling = root / "app.js.br"
    before = sibling.stat().st_mtime_ns
    again = run([str(root)], jobs=1)
    assert (again.outcomes["written"], again.fresh, again.files) == (0, 9, 7)
    assert sibling.stat().st_mtime_ns == before
    # The source changes: its siblings, and only they, are written again.
    (root / "app.js").write_text(SCRIPT.replace("2;", "3;"))
    newer = max((root / f"app.js{suffix}").stat().st_mtime_ns for suffix in DECODE) + 1
    os.utime(root / "app.js", ns=(newer, newer))  # 1 ns newer than its siblings
    third = run([str(root)], jobs=2)
    assert (third.outcomes["written"], third.fresh) == (3, 6)
    assert brotli.decompress(sibling.read_bytes()) == (root / "app.js").read_bytes()
    # An empty sibling is not trusted, whatever its date.
    (root / "css/site.css.gz").write_bytes(b"")
    assert run([str(root)], jobs=1, codings=["gzip"]).outcomes["written"] == 1
    assert gzip.decompress((root / "css/site.css.gz").read_bytes()) == (root / "css/site.css").read_bytes()


def test_a_sibling_that_no_longer_pays_is_removed(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"data.txt": "a" * 5000})
    run([str(root)], jobs=1)
    assert (root / "data.txt.gz").exists()
    # Rewritten with incompressible content: a stale sibling would now serve the old text.
    (root / "data.txt").write_bytes(os.urandom(2500).hex().encode())
    newer = max((root / f"data.txt{suffix}").stat().st_mtime_ns for suffix in DECODE) + 1
    os.utime(root / "data.txt", ns=(newer, newer))
    summary = run([str(root)], jobs=1, codings=["gzip"])
    assert summary.outcomes["written"] == 1  # hex still compresses by about half
    (root / "data.txt").write_bytes(os.urandom(5000))
    newer = max((root / f"data.txt{suffix}").stat().st_mtime_ns for suffix in DECODE) + 1
    os.utime(root / "data.txt", ns=(newer, newer))
    summary = run([str(root)], jobs=1)
    assert summary.outcomes["not worth it"] == 3
    assert not any((root / f"data.txt{suffix}").exists() for suffix in DECODE)


def test_progress_bar_and_summary(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    stream = io.StringIO()
    summary = run([str(root)], jobs=2, progress=stream)
    assert stream.getvalue().endswith("] 12/12\n") and "\r[" in stream.getvalue()
    line = summary.line()
    assert "9 siblings written" in line and "3 not worth it" in line
    assert "1 compressed type" in line and "1 hidden" in line and "1 too small" in line
    bar = ProgressBar(4, io.StringIO(), width=8)
    for _ in range(4):
        bar.advance()
    assert bar.stream.getvalue().endswith("[########] 4/4")


def test_cli_errors(tmp_path: Path) -> None:
    done = _cli(str(tmp_path / "nope"))
    assert done.returncode == 2 and "is not a directory" in done.stderr
    done = _cli(str(tmp_path), "--codings", "lzma")
    assert done.returncode == 2 and "codings are br, zstd, gzip" in done.stderr
    # Without the optional libraries, the error names the extra to install.
    code = (
        "import sys; sys.modules['brotli'] = None; from flashstatic.cli import main; "
        f"sys.exit(main(['compress', {str(tmp_path)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "flashstatic[compress]" in done.stderr and "brotli" in done.stderr
    # gzip alone needs nothing extra.
    code = code.replace("['compress', ", "['compress', '--codings', 'gzip', ")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_file_that_fails_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flashstatic import compress

    root = _tree(tmp_path)
    planned = compress.plan

    def plan_then_lose_a_file(*args, **kwargs):
        work = planned(*args, **kwargs)
        (root / "app.js").unlink()  # gone between the plan and the work
        return work

    monkeypatch.setattr(compress, "plan", plan_then_lose_a_file)
    summary = run([str(root)], jobs=1, codings=["gzip"])
    assert summary.outcomes["failed"] == 1 and "app.js" in summary.errors[0]
    assert summary.outcomes["written"] == 2 and (root / "css/site.css.gz").exists()
    assert not list(root.rglob("*.tmp"))


def test_served_end_to_end(tmp_path: Path, live_server, http: httpx.Client) -> None:
    root = _tree(tmp_path)
    assert _cli(str(root)).returncode == 0
    sizes = {suffix: (root / f"app.js{suffix}").stat().st_size for suffix in DECODE}
    smallest = min(sizes, key=sizes.__getitem__)
    coding = {".br": "br", ".zst": "zstd", ".gz": "gzip"}
    with live_server(FlashStatic(directory=root)) as url:
        for accept, expected in [
            ("br, zstd, gzip", smallest),
            ("gzip, zstd", min([".gz", ".zst"], key=sizes.get)),
            ("gzip", ".gz"),
        ]:
            with http.stream("GET", url + "/app.js", headers={"accept-encoding": accept}) as response:
                raw = b"".join(response.iter_raw())
            assert response.headers["content-encoding"] == coding[expected]
            assert int(response.headers["content-length"]) == sizes[expected]
            assert DECODE[expected](raw) == SCRIPT.encode()
        # Nothing was written for the incompressible file: identity whatever the client accepts.
        r = http.get(url + "/random.bin", headers={"accept-encoding": "br, zstd, gzip"})
        assert "content-encoding" not in r.headers and r.content == (root / "random.bin").read_bytes()
