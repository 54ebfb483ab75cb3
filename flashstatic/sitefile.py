"""``flashstatic serve --config site.toml``: the command's settings from a TOML file.

A key is a flag's name without its leading dashes (``max-age = 3600``, ``access-log = false``,
``html = false`` for ``--no-html``; ``max_age`` is read the same), so the file and the command
line cannot drift apart: the keys are read off the parser itself, each value goes through the
flag's own check, and a flag given on the command line overrides the file. Directories to
serve come as ``[[root]]`` tables (``directory``, and ``prefix``, "/" unless given), several
under several prefixes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


class SiteFileError(Exception):
    """A site file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class SiteRoot:
    directory: str
    prefix: str


@dataclass(frozen=True)
class SiteFile:
    roots: tuple[SiteRoot, ...]
    defaults: dict[str, Any]  # parser destinations and their values, for set_defaults


def read_site_file(path: str, parser: argparse.ArgumentParser, *, skip: frozenset[str] = frozenset()) -> SiteFile:
    """The roots and flag values ``path`` holds, each checked as the parser checks its flag;
    ``skip``: destinations the file may not set (the --config flag itself)."""
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except OSError as error:
        raise SiteFileError(f"{path}: cannot read it: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise SiteFileError(f"{path}: not valid TOML: {error}") from None
    base = os.path.dirname(os.path.abspath(path))
    roots = _roots(path, table.pop("root", []), base)
    actions = _settable_actions(parser, skip)
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        action = actions.get(key.replace("-", "_"))
        if action is None:
            known = ", ".join(sorted(name.replace("_", "-") for name in actions))
            raise SiteFileError(f"{path}: unknown key {key!r} (known: root, {known})")
        try:
            defaults[action.dest] = _value(action, value)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
            raise SiteFileError(f"{path}: {key}: {error}") from None
    return SiteFile(roots, defaults)


def _roots(path: str, entries: object, base: str) -> tuple[SiteRoot, ...]:
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, list):
        raise SiteFileError(f"{path}: root: expected [[root]] tables with a directory and a prefix")
    roots = []
    for number, entry in enumerate(entries, 1):
        where = f"{path}: root #{number}"
        if not isinstance(entry, Mapping):
            raise SiteFileError(f"{where}: expected a table with a directory and a prefix")
        unknown = set(entry) - {"directory", "prefix"}
        if unknown:
            raise SiteFileError(f"{where}: unknown key {min(unknown)!r} (known: directory, prefix)")
        directory, prefix = entry.get("directory"), entry.get("prefix", "/")
        if not isinstance(directory, str) or not directory:
            raise SiteFileError(f"{where}: directory: expected a path")
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise SiteFileError(f"{where}: prefix: expected a URL path starting with '/', got {prefix!r}")
        # Relative to the file, as a user writing it next to the site expects.
        roots.append(SiteRoot(os.path.join(base, directory), prefix))
    return tuple(roots)


def _settable_actions(parser: argparse.ArgumentParser, skip: frozenset[str]) -> dict[str, argparse.Action]:
    """The actions a key may set, by the key (dashes as underscores): each flag's destination
    and its long spellings, but not a --no-x, whose key is x."""
    actions: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse keeps no public list of a parser's flags
        if not action.option_strings or action.dest in skip or isinstance(action, argparse._VersionAction):
            continue
        actions.setdefault(action.dest, action)
        for spelling in action.option_strings:
            if spelling.startswith("--") and not spelling.startswith("--no-"):
                actions.setdefault(spelling[2:].replace("-", "_"), action)
    return actions


def _value(action: argparse.Action, value: object) -> Any:
    if action.nargs == 0 or isinstance(action, argparse.BooleanOptionalAction):
        # A switch: the key names what it sets (html = false for --no-html), as true or false,
        # never a string that looks like one.
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        # Repeatable flags: a list of values, or a table for NAME=VALUE ones (--cache-control).
        if isinstance(value, Mapping):
            value = [f"{name}={item}" for name, item in value.items()]
        if not isinstance(value, list):
            value = [value]
        return [_one(action, item) for item in value]
    return _one(action, value)


def _one(action: argparse.Action, value: object) -> Any:
    if isinstance(value, (bool, Mapping, list)) or value is None:
        raise TypeError(f"expected a single value, got {value!r}")
    convert = action.type if callable(action.type) else str
    try:
        converted = convert(str(value))
    except (TypeError, ValueError):
        raise ValueError(f"invalid {getattr(convert, '__name__', 'value')} value: {value!r}") from None
    if action.choices is not None and converted not in action.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(map(str, action.choices))}")
    return converted
