"""Run WhiteNoise's own tests against flashstatic: ``python scripts/peer_suites_whitenoise.py <checkout>``.

<checkout> is a WhiteNoise source tree with its tests (a git clone of evansd/whitenoise). Its
tests directory is copied to a temporary directory, the names of WhiteNoise's classes and
modules are replaced by flashstatic's (FlashStaticWSGI, flashstatic.django's middleware,
storage backends and runserver_nostatic app), and each suite is run with pytest; the counts
are printed per file. Tests of WhiteNoise's internals (its media-type table, compressor,
responder and string helpers) have no counterpart and are not copied.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

SUITES = ("test_whitenoise.py", "test_django_whitenoise.py", "test_storage.py", "test_runserver_nostatic.py")
SUPPORT = ("__init__.py", "conftest.py", "utils.py", "django_settings.py", "django_urls.py")

# Longest first: a module path is replaced before the package name inside it.
RENAMES = (
    ("from whitenoise import WhiteNoise", "from flashstatic import FlashStaticWSGI as WhiteNoise"),
    (
        "from whitenoise.middleware import WhiteNoiseFileResponse, WhiteNoiseMiddleware",
        "from flashstatic.django import FlashStaticFileResponse as WhiteNoiseFileResponse, "
        "FlashStaticMiddleware as WhiteNoiseMiddleware",
    ),
    ("whitenoise.middleware.WhiteNoiseMiddleware", "flashstatic.django.FlashStaticMiddleware"),
    ("from whitenoise.storage import", "from flashstatic.django.storage import"),
    ("whitenoise.storage.", "flashstatic.django.storage."),
    ("whitenoise.runserver_nostatic", "flashstatic.django.runserver_nostatic"),
)


def rename(text: str) -> str:
    for old, new in RENAMES:
        text = text.replace(old, new)
    return text


def prepare(checkout: Path, work: Path) -> Path:
    source = checkout / "tests"
    if not (source / "test_whitenoise.py").is_file():
        raise SystemExit(f"peer_suites_whitenoise: no tests/test_whitenoise.py under {checkout}")
    tests = work / "tests"
    tests.mkdir()
    shutil.copytree(source / "test_files", tests / "test_files")
    for name in SUPPORT + SUITES:
        if (source / name).is_file():
            (tests / name).write_text(rename((source / name).read_text(encoding="utf-8")), encoding="utf-8")
    return tests


def run_suite(work: Path, name: str) -> tuple[dict[str, int], str]:
    """pytest's counts (passed, failed, error, skipped) for one copied suite, and the lines
    naming the tests that failed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(work), str(REPOSITORY)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", f"tests/{name}"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    found = re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)
    counts = {word.replace("errors", "error"): int(number) for number, word in found}
    failures = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return counts, "\n".join(failures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=["whitenoise"])
    parser.add_argument("checkout", type=Path, help="a WhiteNoise source tree with its tests/")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the failing tests")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        prepare(args.checkout.resolve(), work)
        for name in SUITES:
            counts, failures = run_suite(work, name)
            passed, skipped = counts.get("passed", 0), counts.get("skipped", 0)
            total = passed + counts.get("failed", 0) + counts.get("error", 0)
            print(f"{name}: {passed}/{total} passed" + (f", {skipped} skipped" if skipped else ""))
            if args.verbose and failures:
                print(failures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
