"""Cache-Control chosen by URL path: ordered (glob, value) rules, the first match wins.

Globs are shell-style over the URL path a file answers (its prefix included, and for a directory also its index
file's URL), with ``*``
matching ``/`` too, so ``*.html`` is every HTML file and ``/assets/*`` all below /assets.
A rule is matched once per file, when its cache entry's headers are built.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

CacheControlRules = tuple[tuple[str, str], ...]

# Visible ASCII with inner spaces: nothing that could end the header or smuggle another.
_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def cache_control_rules(rules: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> CacheControlRules:
    """The rules, in order, checked: a ValueError names the first bad entry."""
    if rules is None:
        return ()
    items = rules.items() if isinstance(rules, Mapping) else rules
    checked = []
    for glob, value in items:
        if not isinstance(glob, str) or not glob:
            raise ValueError(f"cache_control[{glob!r}]: the glob must be a non-empty string")
        if not isinstance(value, str) or _VALUE.fullmatch(value) is None:
            raise ValueError(
                f"cache_control[{glob!r}] = {value!r} is not a valid Cache-Control value "
                "(visible ASCII characters and spaces, not empty)"
            )
        checked.append((glob, value))
    return tuple(checked)


def cache_control_for(rules: CacheControlRules, url: str, index_file: str | None) -> str | None:
    """The value of the first rule whose glob matches ``url``, or for a directory answered by
    its index file the index file's own URL (``*.html`` covers ``/docs/`` as ``/docs/index.html``);
    None when none does."""
    if not rules:
        return None
    file_url = url + index_file if index_file and url.endswith("/") else url
    for glob, value in rules:
        if fnmatch.fnmatchcase(url, glob) or fnmatch.fnmatchcase(file_url, glob):
            return value
    return None
