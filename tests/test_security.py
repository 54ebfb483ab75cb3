"""Hostile paths over real HTTP: a clear 4xx, never a 500, never a byte from outside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse

from flashstatic import FlashStatic
from support import raw_request, write_tree

SECRET = b"TOP-SECRET-DECOY"

TRAVERSALS = [
    b"/../secret.txt",
    b"/static/../secret.txt",
    b"/static/../../secret.txt",
    b"/static/..%2fsecret.txt",
    b"/static/..%2F..%2Fsecret.txt",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E/%2E%2E/secret.txt",
    b"/static/%2e%2e%2fsecret.txt",
    b"/static/..%5csecret.txt",
    b"/static/..%5c..%5csecret.txt",
    b"/static/%252e%252e/secret.txt",
    b"/static/%252e%252e%252fsecret.txt",
    b"/static/sub/../../secret.txt",
    b"/static/./../secret.txt",
    b"/static//../secret.txt",
    b"/static/%2fetc%2fpasswd",
    b"/static//etc/passwd",
    b"/static/%2F%2Fetc%2Fpasswd",
    b"/static/C:/Windows/win.ini",
    b"/static/C:%5cWindows%5cwin.ini",
    b"/static/c:..%5c..%5csecret.txt",
    b"/static/hello.txt%00.js",
    b"/static/%00",
    b"/static/%00/../secret.txt",
    b"/static/%zz",
    b"/static/%",
    b"/static/%ff%fe",
    b"/static/%c0%ae%c0%ae/secret.txt",
    b"/static/" + b"a" * 300,
    b"/static/" + b"a/" * 2100 + b"x",
    b"/static/link-out.txt",
    b"/static/link-dir/secret.txt",
    b"/static/.env",
    b"/static/.git/config",
    b"/static/sub/.hidden",
    b"/static/%2eenv",
    b"/static/..",
    b"/static/../",
    b"/static/.%2e/secret.txt",
    b"http://localhost/static/../secret.txt",
    b"http://evil.example/../secret.txt",
]


@pytest.fixture
def served(tmp_path: Path) -> Path:
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    root = write_tree(
        tmp_path / "root",
        {
            "hello.txt": "hello",
            "sub/inner.txt": "inner",
            ".env": SECRET,
            ".git/config": SECRET,
            "sub/.hidden": SECRET,
            "app.js": "js",
            "app.js.gz": b"\x1f\x8b gzip bytes",
        },
    )
    os.symlink(tmp_path / "secret.txt", root / "link-out.txt")
    os.symlink(tmp_path / "outside", root / "link-dir")
    os.symlink(root / "hello.txt", root / "link-in.txt")
    return root


def apps(root: Path) -> dict[str, object]:
    async def fallback(scope, receive, send):
        response = PlainTextResponse("app", status_code=404)
        await response(scope, receive, send)

    return {
        "middleware": FlashStatic(fallback, directory=root, prefix="/static"),
        "mounted": Starlette(
            routes=[
                __import__("starlette.routing").routing.Mount("/static", app=FlashStatic(directory=root, html=True))
            ]
        ),
        "standalone": FlashStatic(directory=root, prefix="/static", html=True),
    }


@pytest.mark.parametrize("mode", ["middleware", "mounted", "standalone"])
def test_traversal_spellings_never_escape(mode: str, served: Path, live_server) -> None:
    with live_server(apps(served)[mode]) as url:
        assert raw_request(url, b"/static/hello.txt")[0] == 200
        for target in TRAVERSALS:
            status, reply = raw_request(url, target)
            assert status in (400, 404), (target, status)
            assert SECRET not in reply, target


@pytest.mark.parametrize("mode", ["mounted", "standalone"])
def test_rejections_say_why(mode: str, served: Path, live_server) -> None:
    with live_server(apps(served)[mode]) as url:
        status, reply = raw_request(url, b"/static/%2e%2e/secret.txt")
        assert status == 400 and b"climbs above the root" in reply
        status, reply = raw_request(url, b"/static/a%01b")
        assert status == 400 and b"control character" in reply
        status, reply = raw_request(url, b"/static/a%00b")
        # Mounted, a 404 is Starlette's HTTPException, which its handlers answer.
        assert status == 404 and (b"NUL in path" in reply or mode == "mounted")
        status, reply = raw_request(url, b"/static/" + b"n" * 300)
        assert status == 404


def test_symlinks_inside_the_root_are_served(served: Path, live_server) -> None:
    with live_server(FlashStatic(directory=served)) as url:
        status, reply = raw_request(url, b"/link-in.txt")
        assert status == 200 and reply.endswith(b"\r\n\r\nhello")


def test_follow_symlink_opts_in(served: Path, live_server) -> None:
    with live_server(FlashStatic(directory=served, follow_symlink=True)) as url:
        status, reply = raw_request(url, b"/link-out.txt")
        assert status == 200 and reply.endswith(SECRET)
        # Following links never means following "..".
        assert SECRET not in raw_request(url, b"/../secret.txt")[1]


def test_dotfiles_opt_in(served: Path, live_server) -> None:
    with live_server(FlashStatic(directory=served, allow_dotfiles=True)) as url:
        assert raw_request(url, b"/.env")[0] == 200


def test_compressed_file_asked_by_name_is_what_it_is(served: Path, live_server) -> None:
    with live_server(FlashStatic(directory=served)) as url:
        status, reply = raw_request(url, b"/app.js.gz", extra=b"Accept-Encoding: gzip\r\n")
        head = reply.split(b"\r\n\r\n")[0].lower()
        assert status == 200 and b"content-type: application/gzip" in head
        assert b"content-encoding" not in head
        assert reply.endswith(b"\x1f\x8b gzip bytes")


def test_odd_request_targets(served: Path, live_server) -> None:
    with live_server(FlashStatic(directory=served)) as url:
        assert raw_request(url, b"*", method=b"OPTIONS")[0] == 400
        assert raw_request(url, b"/hello.txt", method=b"OPTIONS")[0] == 405
        assert raw_request(url, b"/hello.txt", method=b"DELETE")[0] == 405
        assert raw_request(url, b"/nothing", method=b"PUT")[0] == 404
