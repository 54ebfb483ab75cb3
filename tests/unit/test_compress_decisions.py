"""flashstatic compress: which files, which codings, up to date or not, whether it pays."""

from __future__ import annotations

import argparse
import os
import stat

import pytest

from flashstatic.compress import (
    MIN_SIZE,
    is_sibling,
    parse_codings,
    pays,
    skip_reason,
    up_to_date,
)


@pytest.mark.parametrize(
    "name",
    [
        "app.js",
        "style.css",
        "index.html",
        "data.json",
        "logo.svg",
        "favicon.ico",
        "font.ttf",
        "module.wasm",
        "README",
        "page.xml",
    ],
)
def test_compressible_files(name: str) -> None:
    assert skip_reason(name, 10_000) is None


@pytest.mark.parametrize(
    "name",
    [
        "photo.jpg",
        "photo.JPEG",
        "logo.png",
        "anim.gif",
        "pic.webp",
        "pic.avif",
        "font.woff2",
        "font.woff",
        "movie.mp4",
        "song.mp3",
        "archive.zip",
        "bundle.tar.gz",
        "app.js.br",
        "data.zst",
        "paper.pdf",
        "x.tgz",
    ],
)
def test_already_compressed_types_are_skipped(name: str) -> None:
    assert skip_reason(name, 10_000) == "compressed type"


def test_small_and_hidden_files_are_skipped() -> None:
    assert skip_reason("tiny.js", MIN_SIZE - 1) == "too small"
    assert skip_reason("tiny.js", MIN_SIZE) is None
    assert skip_reason(".env", 10_000) == "hidden"


def test_siblings_are_not_files_to_compress() -> None:
    names = {"app.js", "app.js.gz", "app.js.br", "app.js.zst", "backup.gz"}
    assert is_sibling("app.js.gz", names) and is_sibling("app.js.br", names) and is_sibling("app.js.zst", names)
    assert not is_sibling("backup.gz", names)  # no "backup" beside it: a file of its own
    assert not is_sibling("app.js", names)


def _st(mtime_ns: int, size: int = 100, mode: int = stat.S_IFREG | 0o644) -> os.stat_result:
    return os.stat_result(
        (
            mode,
            1,
            1,
            1,
            0,
            0,
            size,
            mtime_ns // 10**9,
            mtime_ns // 10**9,
            mtime_ns // 10**9,
            mtime_ns / 1e9,
            mtime_ns / 1e9,
            mtime_ns / 1e9,
            mtime_ns,
            mtime_ns,
            mtime_ns,
        )
    )


def test_up_to_date_means_present_non_empty_and_no_older() -> None:
    source = _st(2_000_000_000_000_000_123)
    assert up_to_date(source, _st(2_000_000_000_000_000_123))
    assert up_to_date(source, _st(2_000_000_000_000_000_124))
    assert not up_to_date(source, _st(2_000_000_000_000_000_122))  # 1 ns older: stale
    assert not up_to_date(source, None)
    assert not up_to_date(source, _st(2_100_000_000_000_000_000, size=0))
    assert not up_to_date(source, _st(2_100_000_000_000_000_000, mode=stat.S_IFDIR | 0o755))


def test_pays_needs_five_percent_and_some_bytes() -> None:
    assert pays(10_000, 9_500)
    assert not pays(10_000, 9_501)
    assert not pays(1_000, 940)  # 6% but only 60 bytes
    assert pays(1_000, 936)
    assert not pays(1_000, 1_020)  # grew


def test_codings_argument() -> None:
    assert parse_codings("br,zstd,gzip") == ["br", "zstd", "gzip"]
    assert parse_codings("gz, zst ,br,gz") == ["gzip", "zstd", "br"]
    for bad in ("", "lzma", "br,deflate"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_codings(bad)
