"""The imports of every module in flashstatic/ against the layers docs/architecture.md states.

The page's layer table lists the layers from the top down; a module may import modules of its
own layer and of the layers below it. Every import counts, at module level, inside a function
or under ``TYPE_CHECKING`` (a type that names an upper layer still ties the lower one to it);
the parent packages Python loads on the way do not.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
PACKAGE = REPO / "flashstatic"
ARCHITECTURE = REPO / "docs" / "architecture.md"


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a flashstatic module, or the top-level name of any other
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    """What ``name`` imports: ``from a import b`` is module a.b when b is a module, else a."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            submodules = [f"{source}.{alias.name}" for alias in node.names]
            targets = [sub for sub in submodules if sub in known] or [source]
        else:
            continue
        for target in targets:
            if not target.startswith("flashstatic"):
                target = target.partition(".")[0]
            found.append(Import(name, target, node.lineno))
    return found


def all_imports() -> list[Import]:
    found = modules()
    return [imp for name, path in found.items() for imp in imports_of(name, path, set(found))]


def stated_layers(markdown: str) -> list[tuple[str, list[str]]]:
    """(layer, module paths relative to flashstatic/) for each row of the table under
    "## The layers", top down."""
    section = markdown.split("\n## The layers\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # past header and rule
    layers = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        layers.append((cells[0], re.findall(r"`([^`]+)`", cells[1])))
    return layers


def layer_of(layers: list[tuple[str, list[str]]], module: str) -> int | None:
    """The index (0 at the top) of the layer that lists ``module``, by file or by folder."""
    relative = module.removeprefix("flashstatic").lstrip(".").replace(".", "/")
    for index, (_, paths) in enumerate(layers):
        for path in paths:
            if path.endswith("/") and (relative + "/").startswith(path):
                return index
            if path == f"{relative}.py" or (path == "__init__.py" and relative == ""):
                return index
    return None


def back_imports(layers: list[tuple[str, list[str]]], imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        if not imp.imported.startswith("flashstatic"):
            continue
        importer, imported = layer_of(layers, imp.importer), layer_of(layers, imp.imported)
        assert importer is not None and imported is not None
        if imported < importer:
            problems.append(
                f"{imp.importer} (line {imp.line}, {layers[importer][0]}) imports {imp.imported} "
                f"({layers[imported][0]}), a layer above it"
            )
    return problems


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.imported.startswith("flashstatic") and imp.imported != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.imported)
            graph.setdefault(imp.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


@pytest.fixture(scope="module")
def layers() -> list[tuple[str, list[str]]]:
    return stated_layers(ARCHITECTURE.read_text())


def test_the_page_states_the_layers(layers: list[tuple[str, list[str]]]) -> None:
    names = [name for name, _ in layers]
    assert names[:2] == ["framework glue", "command line"] and names[-1] == "HTTP decisions"
    assert len(names) == len(set(names))
    for _, paths in layers:
        for path in paths:
            assert (PACKAGE / path).exists(), f"docs/architecture.md lists {path}, which is not in flashstatic/"


def test_every_module_is_in_one_layer(layers: list[tuple[str, list[str]]]) -> None:
    missing = [name for name in modules() if layer_of(layers, name) is None]
    assert not missing, f"not in docs/architecture.md's layer table: {missing}"


def test_no_module_imports_a_layer_above_its_own(layers: list[tuple[str, list[str]]]) -> None:
    problems = back_imports(layers, all_imports())
    assert not problems, "\n".join(problems)


def test_no_import_cycles() -> None:
    assert cycles(all_imports()) == []


def test_http_imports_only_itself_and_the_standard_library() -> None:
    outside = [
        f"{imp.importer} (line {imp.line}) imports {imp.imported}"
        for imp in all_imports()
        if imp.importer.startswith("flashstatic.http")
        and not imp.imported.startswith("flashstatic.http")
        and imp.imported not in sys.stdlib_module_names
        and imp.imported != "__future__"
    ]
    assert not outside, "\n".join(outside)


def test_the_server_layer_never_imports_the_drivers() -> None:
    """The protocol reaches the static app through the shortcut it offers (server/shortcut.py)."""
    app_side = {"flashstatic", "flashstatic.asgi", "flashstatic.wsgi", "flashstatic.core"}
    reached = [
        f"{imp.importer} (line {imp.line}) imports {imp.imported}"
        for imp in all_imports()
        if imp.importer.startswith("flashstatic.server") and imp.imported in app_side
    ]
    assert not reached, "\n".join(reached)


def test_the_checks_catch_what_they_look_for() -> None:
    """The helpers above on a made-up graph: a back-import and a cycle are found."""
    layers = [("top", ["asgi.py"]), ("bottom", ["http/"])]
    up = Import("flashstatic.http.paths", "flashstatic.asgi", 1)
    down = Import("flashstatic.asgi", "flashstatic.http.paths", 1)
    assert back_imports(layers, [down]) == []
    assert len(back_imports(layers, [up])) == 1
    assert cycles([up, down]) == [["flashstatic.asgi", "flashstatic.http.paths"]]
