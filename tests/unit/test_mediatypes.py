"""Content-Type from a file name (mediatypes.media_type_for)."""

from __future__ import annotations

import pytest

from flashstatic.http.mediatypes import DEFAULT_TYPE, media_type_for


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("page.htm", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("module.mjs", "text/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("app.js.map", "application/json; charset=utf-8"),
        ("icon.svg", "image/svg+xml; charset=utf-8"),
        ("site.webmanifest", "application/manifest+json; charset=utf-8"),
        ("feed.xml", "application/xml; charset=utf-8"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("image.png", "image/png"),
        ("photo.jpg", "image/jpeg"),
        ("photo.jpeg", "image/jpeg"),
        ("font.woff2", "font/woff2"),
        ("module.wasm", "application/wasm"),
        ("doc.pdf", "application/pdf"),
        ("video.mp4", "video/mp4"),
    ],
)
def test_known_types(name: str, expected: str) -> None:
    assert media_type_for(name) == expected


@pytest.mark.parametrize("name", ["INDEX.HTML", "App.Js", "IMAGE.PNG"])
def test_extension_is_case_insensitive(name: str) -> None:
    assert media_type_for(name) == media_type_for(name.lower())
    assert media_type_for(name) != DEFAULT_TYPE


@pytest.mark.parametrize("name", ["file.xyzzy", "README", "Makefile", "archive.unknownext", "noext.", ""])
def test_unknown_is_octet_stream(name: str) -> None:
    assert DEFAULT_TYPE == "application/octet-stream"
    assert media_type_for(name) == "application/octet-stream"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x.js.gz", "application/gzip"),
        ("style.css.gz", "application/gzip"),
        ("x.js.br", "application/x-brotli"),
        ("x.js.zst", "application/zstd"),
        ("site.zip", "application/zip"),
        ("backup.tar", "application/x-tar"),
    ],
)
def test_compressed_files_are_served_as_what_they_are(name: str, expected: str) -> None:
    result = media_type_for(name)
    assert result == expected
    assert "javascript" not in result and "charset" not in result


@pytest.mark.parametrize("name", ["x.js.bz2", "x.tar.bz2", "x.css.xz"])
def test_other_compressed_files_never_get_the_inner_type(name: str) -> None:
    result = media_type_for(name)
    assert "javascript" not in result and "text/css" not in result and "x-tar" not in result


def test_override_by_extension() -> None:
    overrides = {".js": "application/javascript", ".foo": "text/x-foo"}
    assert media_type_for("app.js", overrides) == "application/javascript; charset=utf-8"
    assert media_type_for("a.foo", overrides) == "text/x-foo; charset=utf-8"
    assert media_type_for("A.FOO", overrides) == "text/x-foo; charset=utf-8"
    assert media_type_for("a.png", overrides) == "image/png"  # untouched


def test_override_by_full_file_name() -> None:
    overrides = {"LICENSE": "text/plain", "manifest.json": "application/manifest+json"}
    assert media_type_for("LICENSE", overrides) == "text/plain; charset=utf-8"
    assert media_type_for("manifest.json", overrides) == "application/manifest+json; charset=utf-8"
    assert media_type_for("other.json", overrides) == "application/json; charset=utf-8"


def test_file_name_override_wins_over_extension_override() -> None:
    overrides = {".json": "application/x-a", "special.json": "application/x-b"}
    assert media_type_for("special.json", overrides) == "application/x-b"
    assert media_type_for("plain.json", overrides) == "application/x-a"


def test_override_with_parameters_is_used_verbatim() -> None:
    overrides = {".txt": "text/plain; charset=iso-8859-1", ".md": "text/markdown;variant=GFM"}
    assert media_type_for("a.txt", overrides) == "text/plain; charset=iso-8859-1"
    assert media_type_for("a.md", overrides) == "text/markdown;variant=GFM"


def test_override_of_non_text_type_gets_no_charset() -> None:
    assert media_type_for("a.dat", {".dat": "application/x-thing"}) == "application/x-thing"


def test_empty_charset_disables_charset() -> None:
    assert media_type_for("index.html", charset="") == "text/html"
    assert media_type_for("app.js", charset="") == "text/javascript"
    assert media_type_for("data.json", charset="") == "application/json"
    assert media_type_for("icon.svg", charset="") == "image/svg+xml"
    assert media_type_for("image.png", charset="") == "image/png"


def test_other_charset_is_used() -> None:
    assert media_type_for("index.html", charset="iso-8859-1") == "text/html; charset=iso-8859-1"
    assert media_type_for("image.png", charset="iso-8859-1") == "image/png"


def test_empty_overrides_mapping() -> None:
    assert media_type_for("app.js", {}) == "text/javascript; charset=utf-8"
    assert media_type_for("app.js", None) == "text/javascript; charset=utf-8"
