"""The uvicorn releases flashstatic's protocol classes support: stated in pyproject.toml, enforced
by a guard, and refused in one line outside the range (never a server that starts and hangs).

The refusals run against a stand-in ``uvicorn`` package that only reports a version: the guard
must decide before anything of uvicorn's is used. ``.ci/run`` runs the server tests on the
lowest supported release for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flashstatic.server.uvicorn_range import SUPPORTED, version_problem

tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parent.parent


def test_pyproject_states_the_range_the_guard_enforces() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    uvicorn = [spec for spec in dependencies if spec.startswith("uvicorn")]
    assert uvicorn == [f"uvicorn[standard]{SUPPORTED}"]


@pytest.mark.parametrize("version", ["0.45.0", "0.52.4", "0.55.0", "0.55.1"])
def test_the_guard_accepts_the_supported_releases(version: str) -> None:
    assert version_problem(version) is None


@pytest.mark.parametrize("version", ["0.30.6", "0.44.0", "0.56.0", "0.56.0.dev1", "1.0.0", "unknown"])
def test_the_guard_refuses_the_others_naming_the_range(version: str) -> None:
    problem = version_problem(version)
    assert problem is not None and SUPPORTED in problem and version in problem and "\n" not in problem


def _with_uvicorn_reporting(tmp_path: Path, version: str) -> dict[str, str]:
    """An environment whose ``uvicorn`` is a stand-in that has nothing but ``__version__``."""
    fake = tmp_path / "fake" / "uvicorn"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(f"__version__ = {version!r}\n")
    path = os.pathsep.join([str(fake.parent), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.parametrize("version", ["0.44.0", "0.56.0"])
def test_serve_refuses_an_unsupported_uvicorn_in_one_line(tmp_path: Path, version: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flashstatic", "serve", str(tmp_path), "--port", "0"],
        env=_with_uvicorn_reporting(tmp_path, version),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert SUPPORTED in done.stderr and version in done.stderr


def test_the_protocol_classes_refuse_an_unsupported_uvicorn(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from flashstatic.server import HttpToolsProtocol"],
        env=_with_uvicorn_reporting(tmp_path, "0.44.0"),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("flashstatic.server.uvicorn_range.UnsupportedUvicorn:")
    assert SUPPORTED in last and "0.44.0" in last


def test_the_middleware_does_not_need_the_protocols_uvicorn(tmp_path: Path) -> None:
    """FlashStatic and FlashStaticWSGI speak plain ASGI / WSGI: importing them must not load
    the protocol classes, so neither their guard nor uvicorn's private modules stop them."""
    done = subprocess.run(
        [sys.executable, "-c", "from flashstatic import FlashStatic, FlashStaticWSGI"],
        env=_with_uvicorn_reporting(tmp_path, "0.44.0"),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
