"""The uvicorn releases the protocol classes are tested with, and the guard that refuses others.

The protocol classes subclass uvicorn's httptools and h11 protocols and override private hooks
(``_start_asgi_task``, ``_unset_keepalive_if_required``, the parser callbacks) and read private
state. uvicorn changes those without notice, and a missing hook does not fail at start-up: on
0.44 the server starts and the first request's task dies, on 0.35 ``--http`` cannot name a
class. So outside the tested range the classes are not offered at all.

pyproject.toml states the same range (a test compares them) and ``.ci/run`` runs the server
tests on the lowest release as well as the newest.
"""

from __future__ import annotations

import re

LOWEST = "0.45"  # the first release with _start_asgi_task, where the extensions are offered
BELOW = "0.56"  # the next minor release, not tested yet
SUPPORTED = f">={LOWEST},<{BELOW}"


class UnsupportedUvicorn(ImportError):
    """The installed uvicorn is outside SUPPORTED."""


def release(version: str) -> tuple[int, ...]:
    """The leading numbers of a version string ("0.56.0.dev1" -> (0, 56, 0)); () if none."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group().split(".")) if match else ()


def _in_range(numbers: tuple[int, ...]) -> bool:
    return release(LOWEST) <= numbers < release(BELOW)


def version_problem(version: str) -> str | None:
    """None for a supported uvicorn version, else the one-line reason."""
    if _in_range(release(version)):
        return None
    return (
        f"flashstatic needs uvicorn{SUPPORTED} for its server protocols (they override uvicorn's private "
        f"hooks), and uvicorn {version} is installed: pip install 'uvicorn[standard]{SUPPORTED}'"
    )


def installed_version() -> str:
    import uvicorn

    return str(getattr(uvicorn, "__version__", "unknown"))


def require_supported_uvicorn() -> None:
    """Raise UnsupportedUvicorn, with the one-line reason, unless the installed uvicorn is supported."""
    problem = version_problem(installed_version())
    if problem is not None:
        raise UnsupportedUvicorn(problem)
