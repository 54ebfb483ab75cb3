"""The docs against the code: every option documented with its real default, every link alive."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from flashstatic.asgi import FlashStatic
from flashstatic.cli import build_parser
from flashstatic.config import keyword_defaults

REPO = Path(__file__).resolve().parent.parent
CONFIGURATION = REPO / "docs" / "configuration.md"


def table_rows(markdown: str) -> dict[str, list[str]]:
    """First cell (the option, without backticks) -> the row's other cells, for every table."""
    rows: dict[str, list[str]] = {}
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows.setdefault(cells[0].strip("`"), cells[1:])
    return rows


def documented_default(cell: str) -> object:
    """The default as the docs write it: one Python literal in backticks, else prose."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    if match is None:
        raise ValueError(cell)
    return ast.literal_eval(match.group(1))


def flashstatic_defaults() -> dict[str, object]:
    """Every argument of FlashStatic with its default: the named ones, then the keywords."""
    named = list(inspect.signature(FlashStatic.__init__).parameters.values())[1:]
    defaults = {p.name: p.default for p in named if p.kind is not inspect.Parameter.VAR_KEYWORD}
    return {**defaults, **keyword_defaults()}


def serve_options() -> dict[str, object]:
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    options = {}
    for action in serve._actions:
        if action.dest == "help":
            continue
        name = action.option_strings[0] if action.option_strings else action.dest.upper()
        options[name] = action.default
    return options


def test_every_flashstatic_option_is_documented_with_its_default() -> None:
    rows = table_rows(CONFIGURATION.read_text())
    for name, expected in flashstatic_defaults().items():
        assert name in rows, f"FlashStatic({name}=...) is missing from docs/configuration.md"
        cell = rows[name][0]
        try:
            default = documented_default(cell)
        except ValueError:
            # Prose is for defaults computed at run time, which the code spells None.
            assert expected is None, f"{name}: write the default {expected!r} as a literal"
            continue
        assert default == expected, f"{name}: docs say {cell}, code says {expected!r}"


def test_every_serve_option_is_documented_with_its_default() -> None:
    rows = table_rows(CONFIGURATION.read_text())
    for name, default in serve_options().items():
        assert name in rows, f"flashstatic serve {name} is missing from docs/configuration.md"
        cell = rows[name][0]
        if re.fullmatch(r"`[^`]+`", cell) and isinstance(default, (int, str)) and name != "--http":
            assert cell.strip("`") == str(default), f"{name}: docs say {cell}, code says {default!r}"


def test_the_checks_above_can_fail() -> None:
    rows = table_rows("| option | default |\n|---|---|\n| `max_age` | `61` |\n")
    assert documented_default(rows["max_age"][0]) != flashstatic_defaults()["max_age"]
    assert "nonexistent_option" not in rows


def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "examples").glob("*.md"))]


def slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading (GitHub's rule)."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_links_between_pages_resolve(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # an outside address
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        name = str(linked.relative_to(REPO)) if linked.is_relative_to(REPO) else str(linked)
        assert linked.exists(), f"{page.name}: link to {target} leads nowhere"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: no heading #{anchor} in {name}"


def test_docs_index_lists_every_page() -> None:
    index = (REPO / "docs" / "index.md").read_text()
    for page in sorted((REPO / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"({page.name})" in index, f"docs/index.md does not link {page.name}"
