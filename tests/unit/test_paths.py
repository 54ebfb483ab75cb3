"""Request path -> safe relative path (paths.parse_request_path)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashstatic.http.paths import (
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    PathRejected,
    SafePath,
    parse_request_path,
)


def rejected(path: str) -> PathRejected:
    with pytest.raises(PathRejected) as info:
        parse_request_path(path)
    return info.value


# --- accepted paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "segments", "trailing"),
    [
        ("", (), False),
        ("/", (), True),
        ("/a", ("a",), False),
        ("/a/", ("a",), True),
        ("/a/b/c", ("a", "b", "c"), False),
        ("/a//b/./c", ("a", "b", "c"), False),
        ("//a", ("a",), False),
        ("/a/../b", ("b",), False),
        ("/a/b/../../c", ("c",), False),
        ("/a/./b/..", ("a",), True),
        ("/a/..", (), True),
        ("/./", (), True),
        ("/.", (), True),
        ("/dir/", ("dir",), True),
        ("/dir/.", ("dir",), True),
        ("/dir//", ("dir",), True),
        ("/index.html", ("index.html",), False),
        ("/.well-known/x", (".well-known", "x"), False),
        ("/...", ("...",), False),  # three dots is an ordinary name
        ("/a..b", ("a..b",), False),
        ("/C:/Windows", ("C:", "Windows"), False),  # a drive letter is just a name here
        ("/caf\u00e9/\u65e5\u672c", ("caf\u00e9", "\u65e5\u672c"), False),
        ("/a b/%2e%2e", ("a b", "%2e%2e"), False),  # already decoded: "%2e" is literal
        ("/emoji/\U0001f600", ("emoji", "\U0001f600"), False),
    ],
)
def test_accepted(path: str, segments: tuple[str, ...], trailing: bool) -> None:
    assert parse_request_path(path) == SafePath(segments, trailing)


def test_result_fields() -> None:
    result = parse_request_path("/a//b/./c")
    assert result.segments == ("a", "b", "c")
    assert result.trailing_slash is False


# --- rejected with 400 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/..", "/../", "/../a", "/a/../..", "/a/../../b", "/./..", "/a/b/../../..", "//..", "/x/./../.."],
)
def test_climbing_above_the_root_is_400(path: str) -> None:
    assert rejected(path).status == 400


@pytest.mark.parametrize("path", ["/a\x01", "/a\tb", "/a\nb", "/a\rb", "/a\x1fb", "/a\x7fb", "/\x1b[31m"])
def test_control_characters_are_400(path: str) -> None:
    assert rejected(path).status == 400


@pytest.mark.parametrize("path", ["/a\x00b", "/\x00", "/a.txt\x00.js", "/\x00/../../etc/passwd"])
def test_a_nul_names_no_file_so_is_404(path: str) -> None:
    # As Starlette's StaticFiles and WhiteNoise answer it: no file name can hold a NUL.
    assert rejected(path).status == 404


@pytest.mark.parametrize("path", ["/..\\x", "/a\\b", "/\\", "/a\\..\\..\\etc", "/..\\..\\windows\\win.ini"])
def test_backslash_is_400(path: str) -> None:
    assert rejected(path).status == 400


# ruff reads a lone surrogate escape as U+FFFD, so it sees "/\ud800" as a duplicate; it is not.
@pytest.mark.parametrize("path", ["/\ufffd", "/a\ufffdb", "/\ud800", "/a/\udcff", "/\udc80\udc80"])  # noqa: PT014
def test_replacement_character_and_lone_surrogates_are_400(path: str) -> None:
    assert rejected(path).status == 400


@pytest.mark.parametrize(
    "path", ["*", "a", "a/b", "http://x/y", "https://example.com/", ".", "..", "../etc/passwd", " /a"]
)
def test_path_not_starting_with_slash_is_400(path: str) -> None:
    assert rejected(path).status == 400


def test_rejection_carries_a_reason() -> None:
    error = rejected("/..")
    assert error.status == 400
    assert isinstance(error.reason, str) and error.reason
    assert str(error) == error.reason


# --- rejected with 404 (names that cannot exist) ----------------------------------------------


def test_limits_are_linux_ones() -> None:
    assert MAX_NAME_BYTES == 255
    assert MAX_PATH_BYTES == 4096


def test_segment_of_255_bytes_is_accepted() -> None:
    name = "a" * 255
    assert parse_request_path("/" + name).segments == (name,)


@pytest.mark.parametrize(
    "name",
    [
        "a" * 256,
        "\u00e9" * 128,  # 128 characters, 256 UTF-8 bytes
        "\u65e5" * 86,  # 86 characters, 258 UTF-8 bytes
    ],
)
def test_segment_over_255_utf8_bytes_is_404(name: str) -> None:
    assert rejected("/dir/" + name).status == 404


def test_multibyte_segment_of_exactly_255_bytes_is_accepted() -> None:
    name = "\u65e5" * 85  # 255 bytes
    assert parse_request_path("/" + name).segments == (name,)


def test_path_of_exactly_4096_bytes_is_accepted() -> None:
    path = "/a" * 2048
    assert len(path.encode()) == 4096
    result = parse_request_path(path)
    assert len(result.segments) == 2048


def test_path_over_4096_bytes_is_404() -> None:
    path = "/a" * 2048 + "/"
    assert len(path.encode()) == 4097
    assert rejected(path).status == 404


def test_path_over_4096_bytes_counted_in_utf8_is_404() -> None:
    path = "/\u00e9\u00e9" * 1000  # 3000 characters, 5000 bytes
    assert len(path) < 4096
    assert rejected(path).status == 404


def test_long_path_made_only_of_dot_segments_is_still_404() -> None:
    assert rejected("/." * 2049).status == 404


# --- derived properties ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "hidden"),
    [
        ("/.env", True),
        ("/.git/config", True),
        ("/a/.hidden/b", True),
        ("/a/b/.htaccess", True),
        ("/...", True),
        ("/a/./b", False),  # "." is resolved away, not a name
        ("/a/b", False),
        ("/a.b/c.d", False),
        ("/", False),
        ("", False),
    ],
)
def test_is_hidden(path: str, hidden: bool) -> None:
    assert parse_request_path(path).is_hidden is hidden


@pytest.mark.parametrize(
    ("path", "url_path"),
    [
        ("", ""),
        ("/", "/"),
        ("/.", "/"),
        ("/a/..", "/"),
        ("/a", "/a"),
        ("/a/", "/a/"),
        ("/a//b/./c", "/a/b/c"),
        ("/a/./b/../c/", "/a/c/"),
        ("/dir/.", "/dir/"),
    ],
)
def test_url_path_is_canonical(path: str, url_path: str) -> None:
    assert parse_request_path(path).url_path == url_path


def test_url_path_of_constructed_values() -> None:
    assert SafePath((), False).url_path == ""
    assert SafePath((), True).url_path == "/"
    assert SafePath(("x", "y"), False).url_path == "/x/y"
    assert SafePath(("x", "y"), True).url_path == "/x/y/"


# --- properties -----------------------------------------------------------------------------

_segment = st.one_of(
    st.sampled_from(["", ".", "..", "a", "b", ".h", "...", "C:"]),
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF, blacklist_characters="/\\\x7f"), max_size=6
    ),
)


@settings(max_examples=120, deadline=None)
@given(st.lists(_segment, max_size=8))
def test_output_is_always_safe_to_join(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    try:
        result = parse_request_path(path)
    except PathRejected as error:
        assert error.status in (400, 404)  # noqa: PT017 - any path may be refused, only never with a 500
        return
    for segment in result.segments:
        assert segment not in ("", ".", "..")
        assert "/" not in segment and "\\" not in segment and "\x00" not in segment
    # The canonical spelling is a fixed point.
    again = parse_request_path(result.url_path)
    assert again == result


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_never_raises_anything_but_path_rejected(path: str) -> None:
    try:
        parse_request_path(path)
    except PathRejected as error:
        assert error.status in (400, 404)  # noqa: PT017 - any path may be refused, only never with a 500
