"""One place counts a response and writes its access-log line, whichever way it left.

A response leaves by an ASGI cycle, as a cache answer the protocol writes itself, or as a file
the protocol sends (flashstatic/server/). Each way ends in ``accounting.response_done``, so
the counter and the Combined Log line cannot drift apart between them; the behaviour itself
is checked over HTTP in tests/test_hot_path.py and tests/test_observability.py.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent.parent / "flashstatic"
ACCOUNTING = PACKAGE / "server" / "accounting.py"


def _counts_responses(node: ast.AST) -> bool:
    target = node.target if isinstance(node, ast.AugAssign) else None
    return isinstance(target, ast.Attribute) and target.attr == "responses"


def _logs_a_response(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
    return name == "log_response"


def _places(check: Callable[[ast.AST], bool]) -> list[str]:
    """``file:line`` of every node in flashstatic/ that ``check`` picks."""
    return [
        f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', 0)}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if check(node)
    ]


def _response_done_lines() -> range:
    for node in ast.walk(ast.parse(ACCOUNTING.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == "response_done":
            return range(node.lineno, (node.end_lineno or node.lineno) + 1)
    raise AssertionError("server/accounting.py has no response_done")


def test_only_response_done_counts_a_response() -> None:
    places = _places(_counts_responses)
    assert len(places) == 1 and places[0].startswith("server/accounting.py:"), places
    assert int(places[0].rpartition(":")[2]) in _response_done_lines()


def test_only_response_done_writes_an_access_log_line() -> None:
    places = _places(_logs_a_response)
    assert len(places) == 1 and places[0].startswith("server/accounting.py:"), places
    assert int(places[0].rpartition(":")[2]) in _response_done_lines()
