"""The default immutability rule: content hashes as bundlers and Django write them, and nothing else."""

from __future__ import annotations

import pytest

from flashstatic.config import has_content_hash

HASHED = [
    "app.3f2a9c1d7b4e.js",  # Django's manifest: 12 hex digits
    "css/site.0a1b2c3d4e5f.css",
    "main.8e0d62a0f1b2c3d4e5f6.js",  # webpack's 20-digit contenthash
    "main-8e0d62a0.chunk.js",
    "vendors.a1b2c3d4.js",  # Parcel
    "main-BZ2F3x9a.css",  # Vite / Rollup
    "index-DiwrgTda.js",
    "index-C-5oTTnB.js",
    "chunk-aB_9x-Qz.js",
    "app-4YPQJQXW.js",  # esbuild
]

NOT_HASHED = [
    "report.20241105.csv",  # dates
    "backup-20240101.tar.gz",
    "photo-20240101.jpeg",
    "jquery-3.7.1.min.js",  # version numbers
    "lib-1.2.3.js",
    "app-v2.js",
    "release-12345678.zip",  # a number
    "deadbeef.js",
    "logo.deadbeef.svg",  # a hex word without a digit
    "my-Overview.pdf",  # capitalised words
    "notes-document.txt",
    "app-release2.apk",  # no capital: a word, not a hash
    "index.html",
    "style.css",
    "3f2a9c1d7b4e.js",  # a hash with no separator before it is a name
]


@pytest.mark.parametrize("name", HASHED)
def test_a_content_hash_is_recognised(name: str) -> None:
    assert has_content_hash("/srv/" + name, "/" + name)


@pytest.mark.parametrize("name", NOT_HASHED)
def test_dates_versions_and_words_are_not_hashes(name: str) -> None:
    assert not has_content_hash("/srv/" + name, "/" + name)
