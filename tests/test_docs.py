"""The docs against the code: every option documented with its real default, every link alive."""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from dataclasses import fields
from pathlib import Path

import pytest

from flashstatic.asgi import FlashStatic
from flashstatic.cli import SERVER_FLAGS, build_parser
from flashstatic.config import DiskOptions, Options, keyword_defaults

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


def tables(markdown: str) -> list[tuple[list[str], dict[str, list[str]]]]:
    """Each table's header cells, and its rows as table_rows reads them."""
    found: list[tuple[list[str], dict[str, list[str]]]] = []
    lines: list[str] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            lines.append(line)
        elif lines:
            header = [cell.strip() for cell in lines[0].strip().strip("|").split("|")]
            found.append((header, table_rows("\n".join(lines[2:]))))
            lines = []
    return found


def the_table(heading: str) -> dict[str, list[str]]:
    """The rows of the one table whose header has this cell."""
    [rows] = [rows for header, rows in tables(CONFIGURATION.read_text()) if heading in header]
    return rows


def serve_actions() -> list[argparse.Action]:
    """The flags `flashstatic serve --help` shows (hidden old spellings left out)."""
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    return [action for action in serve._actions if action.dest != "help" and action.help != argparse.SUPPRESS]


def flag_of(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest.upper()


def test_every_flashstatic_option_is_documented_with_its_default() -> None:
    rows = the_table("`serve` flag")
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


def test_every_serve_flag_is_an_option_of_the_same_name_or_a_documented_server_flag() -> None:
    options, server = the_table("`serve` flag"), the_table("uvicorn equivalent")
    for action in serve_actions():
        flag = flag_of(action)
        if action.dest in flashstatic_defaults():
            expected = "--" + action.dest.replace("_", "-") if action.option_strings else action.dest.upper()
            assert flag == expected, f"{flag} sets {action.dest}: name it {expected}"
            assert f"`{flag}`" in options[action.dest][1], f"{action.dest}: docs do not give its flag {flag}"
        else:
            assert action.dest in SERVER_FLAGS, f"{flag} is neither an option nor one of cli.SERVER_FLAGS"
            assert flag in server, f"flashstatic serve {flag} is missing from docs/configuration.md"
            cell = server[flag][0]
            if re.fullmatch(r"`[^`]+`", cell) and isinstance(action.default, (int, str)) and flag != "--http":
                assert cell.strip("`") == str(action.default), f"{flag}: docs say {cell}, code says {action.default!r}"


def test_every_flag_the_docs_name_exists() -> None:
    flags = {name for action in serve_actions() for name in action.option_strings} | {"DIRECTORY"}
    for name, cells in the_table("`serve` flag").items():
        for flag in re.findall(r"`(--[a-z-]+|[A-Z]+)`", cells[1]):
            assert flag in flags, f"{name}: docs name the flag {flag}, which serve does not take"


def test_every_setting_is_an_option_of_the_same_name_or_made_from_some() -> None:
    settings = {f.name for f in fields(Options)} | {f.name for f in fields(DiskOptions)}
    # Made by build_options from the options (directory/root/packages/prefix, html, autorefresh).
    derived = {"roots", "not_found_file", "scan_once", "disk"}
    assert settings - derived <= set(flashstatic_defaults())


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


def test_usage_options_table_agrees_with_the_code() -> None:
    # usage.md's short table: every keyword there, none that is not one, literal defaults true.
    [rows] = [
        rows
        for header, rows in tables((REPO / "docs" / "usage.md").read_text())
        if header[:2] == ["option", "default"] and "max_age" in rows
    ]
    known = flashstatic_defaults()
    extra = {"app", "directory", "prefix", "options"}
    assert set(rows) - extra <= set(known), f"usage.md names no such option: {set(rows) - extra - set(known)}"
    assert set(known) - extra <= set(rows), f"usage.md misses {set(known) - extra - set(rows)}"
    for name, cells in rows.items():
        if name in extra:
            continue
        try:
            default = documented_default(cells[0])
        except (ValueError, SyntaxError):
            continue  # prose, for a default computed at run time or a rule
        expected = known[name]
        assert default == expected or (default == {} and expected is None), f"usage.md {name}: {cells[0]}"


@pytest.mark.parametrize("page", ["examples/README.md", "docs/index.md"])
def test_every_example_is_listed(page: str) -> None:
    text = (REPO / page).read_text()
    examples = [
        path.name
        for path in sorted((REPO / "examples").iterdir())
        if path.name not in {"README.md", "__init__.py", "site", "__pycache__"}
    ]
    missing = [name for name in examples if f"{name}" not in text]
    assert not missing, f"{page} does not list {missing}"
