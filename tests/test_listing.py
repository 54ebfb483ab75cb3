"""Directory listings (listing=True, --listing) over real HTTP: the HTML page, its JSON form,
what is never listed, and a directory too large for one helper message, page by page."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from flashstatic.asgi import FlashStatic
from flashstatic.wsgi import FlashStaticWSGI
from support import flashstatic_serve, write_tree

JSON = {"accept": "application/json"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = write_tree(
        tmp_path / "site",
        {
            "b c.txt": "spaces\n",
            "<img src=x onerror=alert(1)>&\"'.txt": "tricky\n",
            "caf\u00e9.txt": "accent\n",
            "a.txt": "a" * 2048,
            ".hidden": "secret\n",
            ".git/config": "secret\n",
            "sub/inner.txt": "inner\n",
            "zdir/deeper/x.txt": "x\n",
            "with-index/index.html": "<h1>index</h1>",
            "with-index/other.txt": "other\n",
        },
    )
    outside = write_tree(tmp_path / "outside", {"secret.txt": "outside\n"})
    os.symlink(root / "a.txt", root / "link-inside.txt")
    os.symlink(outside / "secret.txt", root / "link-outside.txt")
    os.symlink(outside, root / "dir-outside")
    os.symlink("nowhere", root / "dangling")
    return root


def names_in_page(page: str) -> list[str]:
    """The link texts of the listing's rows, in order, unescaped."""
    return [html.unescape(text) for text in re.findall(r'<a href="[^"]*">([^<]*)</a>', page)]


def test_listing_is_off_by_default(tree: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=tree)) as url:
        assert http.get(f"{url}/").status_code == 404
        assert http.get(f"{url}/sub/").status_code == 404


def test_html_listing(tree: Path, live_server, http: httpx.Client) -> None:
    with live_server(FlashStatic(directory=tree, html=True, listing=True)) as url:
        page = http.get(f"{url}/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-cache"
        assert page.headers["x-content-type-options"] == "nosniff"
        # Directories first, then files, each sorted; no dotfiles, no symlinks (follow_symlink off).
        assert names_in_page(page.text) == [
            "sub/",
            "with-index/",
            "zdir/",
            "<img src=x onerror=alert(1)>&\"'.txt",
            "a.txt",
            "b c.txt",
            "caf\u00e9.txt",
        ]
        assert "<img" not in page.text and "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#x27;.txt" in page.text
        assert 'href="b%20c.txt"' in page.text and 'href="caf%C3%A9.txt"' in page.text
        assert 'href="%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%26%22%27.txt"' in page.text
        assert "2.0 KiB" in page.text  # a.txt's size
        assert "../" not in names_in_page(page.text)  # the top has no parent
        # Every link leads somewhere that answers.
        for href in re.findall(r'<a href="([^"]*)">', page.text):
            assert http.get(urljoin(f"{url}/", href)).status_code == 200, href

        sub = http.get(f"{url}/sub/")
        assert names_in_page(sub.text) == ["../", "inner.txt"]
        # A directory with its index file is answered with it, not listed.
        assert http.get(f"{url}/with-index/").text == "<h1>index</h1>"
        # Without the slash: redirected to the listing, as to an index.
        moved = http.get(f"{url}/zdir")
        assert moved.status_code == 307 and urljoin(f"{url}/zdir", moved.headers["location"]) == f"{url}/zdir/"
        # HEAD: the same head, no body.
        head = http.head(f"{url}/sub/")
        assert (
            head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(sub.content))
        )
        # Only GET and HEAD are listings; anything else is a miss, as without listing (so a
        # wrapped app still gets it).
        assert http.post(f"{url}/sub/").status_code == 404
        assert http.get(f"{url}/.git/").status_code == 404  # hidden directories are not listed either
        assert http.get(f"{url}/dir-outside/").status_code == 404
        assert http.get(f"{url}/nothing/").status_code == 404


@pytest.mark.parametrize("architecture", ["amped", "mt", pytest.param("sped", marks=pytest.mark.blocking_allowed)])
def test_json_listing(tree: Path, live_server, http: httpx.Client, architecture: str) -> None:
    with live_server(FlashStatic(directory=tree, listing=True, architecture=architecture)) as url:
        for got in (http.get(f"{url}/", headers=JSON), http.get(f"{url}/?format=json")):
            assert got.status_code == 200 and got.headers["content-type"] == "application/json"
            assert got.headers["cache-control"] == "no-cache" and got.headers["x-content-type-options"] == "nosniff"
            listing = got.json()
            entries = {entry["name"]: entry for entry in listing["entries"]}
            assert list(entries)[:3] == ["sub", "with-index", "zdir"]
            assert entries["a.txt"]["type"] == "file" and entries["a.txt"]["size"] == 2048
            assert entries["sub"]["type"] == "directory" and entries["sub"]["size"] is None
            assert entries["b c.txt"]["url"] == "b%20c.txt" and entries["sub"]["url"] == "sub/"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entries["a.txt"]["modified"])
            assert not any(name.startswith((".", "link", "dangling", "dir-outside")) for name in entries)
            assert listing["path"] == "/" and listing["total"] == len(entries) and listing["next"] is None


def test_dotfiles_and_symlinks_follow_the_options(tree: Path, live_server, http: httpx.Client) -> None:
    app = FlashStatic(directory=tree, listing=True, allow_dotfiles=True, follow_symlink=True)
    with live_server(app) as url:
        names = {entry["name"] for entry in http.get(f"{url}/", headers=JSON).json()["entries"]}
        assert {".hidden", ".git", "link-inside.txt"} <= names
        # Links leading out of the root are never listed, nor are dangling ones.
        assert not names & {"link-outside.txt", "dir-outside", "dangling"}


@pytest.mark.parametrize(
    ("stem", "count"),
    [
        ("n" * 150, 2000),  # ~330 KiB of names
        ("\u00e9" * 120, 400),  # 240 bytes each on disk, 720 characters each as the wire escapes them
    ],
    ids=["ascii", "escaped"],
)
def test_a_large_directory_is_listed_page_by_page(
    tmp_path: Path, live_server, http: httpx.Client, stem: str, count: int
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    expected = sorted(f"{stem}-{index:05d}.txt" for index in range(count))
    for name in expected:
        (root / name).touch()
    with live_server(FlashStatic(directory=root, listing=True)) as url:
        seen: list[str] = []
        address: str | None = f"{url}/?format=json"
        pages = 0
        while address is not None:
            listing = http.get(address).json()
            assert listing["total"] == count and 0 < len(listing["entries"]) < count
            seen.extend(entry["name"] for entry in listing["entries"])
            address = urljoin(address, listing["next"]) if listing["next"] else None
            pages += 1
        assert seen == expected and pages > 1
        first = http.get(f"{url}/").text
        assert f"of {count}" in first and 'href="?from=' in first
        assert http.get(f"{url}/?from=abc").status_code == 400
        assert http.get(f"{url}/?from=5000", headers=JSON).json()["entries"] == []


def test_wsgi_listing(tree: Path) -> None:
    app = FlashStaticWSGI(directory=tree, listing=True)
    answers: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(
        app(
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/sub/", "QUERY_STRING": "format=json"},
            lambda status, headers: answers.append((status, headers)),
        )
    )
    assert answers[-1][0].startswith("200")
    assert [entry["name"] for entry in json.loads(body)["entries"]] == ["inner.txt"]


def test_serve_listing_flag(tree: Path) -> None:
    with flashstatic_serve(tree, "--listing") as (_, port), httpx.Client() as client:
        page = client.get(f"http://127.0.0.1:{port}/sub/")
        assert page.status_code == 200 and names_in_page(page.text) == ["../", "inner.txt"]
