"""The site file's reading, against a parser with one flag of each kind serve has: its keys are
the parser's flags, its values pass the flags' own checks, and every mistake names the key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from flashstatic.sitefile import SiteFileError, SiteRoot, read_site_file


def _positive(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value!r}")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", nargs="?")
    parser.add_argument("--config")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-age", type=_positive, default=60)
    parser.add_argument("--log-level", choices=("info", "warning"), default="info")
    parser.add_argument("--no-html", dest="html", action="store_false")
    parser.add_argument("--allow-dotfiles", action="store_true")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--cors", action="append", default=None)
    parser.add_argument("--cache-control", action="append", default=None)
    return parser


def _read(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "site.toml"
    path.write_text(text)
    return read_site_file(str(path), _parser(), skip=frozenset({"config"}))


def test_keys_are_the_flags_names_and_values_pass_their_checks(tmp_path: Path) -> None:
    site = _read(
        tmp_path,
        """
port = 9000
max-age = 3600
log_level = "warning"
html = false
allow-dotfiles = true
access-log = false
cors = ["https://a.example", "https://b.example"]

[cache-control]
"*.html" = "no-cache"
"/assets/*" = "public, max-age=31536000, immutable"

[[root]]
directory = "public"

[[root]]
directory = "/srv/media"
prefix = "/media"
""",
    )
    assert site.defaults == {
        "port": 9000,
        "max_age": 3600,
        "log_level": "warning",
        "html": False,
        "allow_dotfiles": True,
        "access_log": False,
        "cors": ["https://a.example", "https://b.example"],
        "cache_control": ["*.html=no-cache", "/assets/*=public, max-age=31536000, immutable"],
    }
    # A relative directory is relative to the file, not to wherever the command runs.
    assert site.roots == (SiteRoot(str(tmp_path / "public"), "/"), SiteRoot("/srv/media", "/media"))


def test_command_line_flags_override_the_file(tmp_path: Path) -> None:
    parser = _parser()
    path = tmp_path / "site.toml"
    path.write_text("port = 9000\nmax-age = 10\n")
    parser.set_defaults(**read_site_file(str(path), parser).defaults)
    args = parser.parse_args(["--port", "9100"])
    assert (args.port, args.max_age) == (9100, 10)


@pytest.mark.parametrize(
    "text, message",
    [
        ("bogus = 1", "unknown key 'bogus'"),
        ("port = 'eighty'", "port: invalid int value: 'eighty'"),
        ("max-age = -5", "max-age: must be at least 0, not '-5'"),
        ("log-level = 'loud'", "log-level: 'loud' is not one of info, warning"),
        ("html = 'no'", "html: expected true or false, got 'no'"),
        ("port = [1, 2]", "port: expected a single value"),
        ("config = 'other.toml'", "unknown key 'config'"),
        ("[[root]]\nprefix = '/x'", "root #1: directory: expected a path"),
        ("[[root]]\ndirectory = 'a'\nprefix = 'x'", "root #1: prefix: expected a URL path starting with '/'"),
        ("[[root]]\ndirectory = 'a'\nindex = 'x'", "root #1: unknown key 'index'"),
        ("port = ", "not valid TOML"),
    ],
)
def test_each_mistake_names_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SiteFileError) as caught:
        _read(tmp_path, text)
    assert str(caught.value).startswith(str(tmp_path / "site.toml") + ": ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)  # one line, for a one-line CLI error


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError, match=r"site\.toml: cannot read it: No such file or directory"):
        read_site_file(str(tmp_path / "site.toml"), _parser())
