"""Run a peer project's own test suite against flashstatic, to measure how much of a drop-in it is.

    python scripts/peer_suites.py starlette

downloads the source distribution of the installed Starlette (``pip download --no-binary``)
into a temporary directory, takes its static-files tests with their conftest and pytest
configuration, swaps ``StaticFiles`` for ``FlashStatic`` and runs them there, printing the
pass and fail counts and the failures. Nothing is copied into this repository; this script
is not part of the test run (it needs the network for the download).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# What the static-files tests need from Starlette's tests/ folder.
STARLETTE_FILES = ("__init__.py", "conftest.py", "types.py", "test_staticfiles.py", "statics")


def download_sdist(project: str, version: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"{project}=={version}", "--no-binary", ":all:", "--no-deps", "-q"],
        cwd=into,
        check=True,
    )
    (archive,) = into.glob(f"{project}-{version}.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / f"{project}-{version}"


def swap_class(source: str) -> str:
    """Starlette's StaticFiles becomes FlashStatic, by import and by dotted name (monkeypatch)."""
    source = source.replace(
        "from starlette.staticfiles import StaticFiles", "from flashstatic import FlashStatic as StaticFiles"
    )
    return source.replace("starlette.staticfiles.StaticFiles", "flashstatic.FlashStatic")


def prepare_starlette(workdir: Path) -> Path:
    version = importlib.metadata.version("starlette")
    sdist = download_sdist("starlette", version, workdir / "download")
    suite = workdir / "suite"
    (suite / "tests").mkdir(parents=True)
    shutil.copy(sdist / "pyproject.toml", suite / "pyproject.toml")
    for name in STARLETTE_FILES:
        source = sdist / "tests" / name
        if source.is_dir():
            shutil.copytree(source, suite / "tests" / name, symlinks=True)
        else:
            shutil.copy(source, suite / "tests" / name)
    tests = suite / "tests" / "test_staticfiles.py"
    tests.write_text(swap_class(tests.read_text()))
    types = suite / "tests" / "types.py"
    # Newer Starlette types its test client with httpx2; plain httpx serves when that is absent.
    types.write_text(re.sub(r"^import httpx2 as httpx$", _HTTPX_IMPORT, types.read_text(), flags=re.MULTILINE))
    return suite


_HTTPX_IMPORT = "try:\n    import httpx2 as httpx\nexcept ImportError:\n    import httpx"


def run(suite: Path, extra: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(suite)])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_staticfiles.py", "-p", "no:cacheprovider", "-q", "-rfE", *extra],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    print(output)
    passed = _count(output, "passed")
    failed = _count(output, "failed") + _count(output, "error") + _count(output, "errors")
    total = passed + failed
    share = f"{100 * passed / total:.1f}%" if total else "n/a"
    print(f"starlette's test_staticfiles.py against FlashStatic: {passed} passed, {failed} failed ({share})")
    return 0 if total else 1


def _count(output: str, word: str) -> int:
    found = re.findall(rf"(\d+) {word}\b", output.splitlines()[-1] if output.strip() else "")
    return int(found[0]) if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", choices=["starlette"])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and print its path")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="flashstatic-peer-"))
    try:
        return run(prepare_starlette(workdir), args.pytest_args)
    finally:
        if args.keep:
            print(f"kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
