"""`flashstatic serve`'s command line: flags named after the options, and bad input refused in one
line before anything starts (each case in a real subprocess, as a user would run it)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from support import flashstatic_serve, read_responses, wait_listening, write_tree


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "site",
        {"hello.txt": "hello\n", ".well-known/security.txt": "contact\n", "docs/default.htm": "<p>docs</p>"},
    )


def serve(*args: str, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """`flashstatic serve ARGS` that must refuse to start: a server that starts anyway is cut
    short by the timeout, which fails the test."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "flashstatic", "serve", *args], capture_output=True, text=True, timeout=10
    )


def argparse_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one error line argparse writes (after serve's usage), with exit status 2."""
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("usage: flashstatic serve"), done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    return errors[0]


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """A refusal after parsing: exactly one line on stderr, a non-zero exit, nothing served."""
    assert done.returncode != 0 and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and "Uvicorn running" not in done.stderr
    return done.stderr.strip()


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_a_port_out_of_range_is_refused(root: Path, port: str) -> None:
    error = argparse_error(serve(str(root), "--port", port))
    assert "--port" in error and "0 to 65535" in error


def test_an_unknown_log_level_is_refused(root: Path) -> None:
    error = argparse_error(serve(str(root), "--port", "0", "--log-level", "infoo"))
    assert "--log-level" in error and "'infoo'" in error and "warning" in error


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--max-age", "-5"),
        ("--max-helpers", "0"),
        ("--min-helpers", "-1"),
        ("--small-file-max", "-1"),
        ("--pathname-cache-size", "0"),
        ("--sendfile-chunk", "0"),
        ("--helper-timeout", "0"),
        ("--revalidate-interval", "-1"),
        ("--open-files", "-3"),
        ("--workers", "0"),
        ("--max-age", "soon"),
    ],
)
def test_meaningless_numbers_are_refused(root: Path, flag: str, value: str) -> None:
    error = argparse_error(serve(str(root), "--port", "0", flag, value))
    assert flag in error and "must be" in error


def test_a_root_that_does_not_exist_or_is_no_directory(root: Path) -> None:
    assert "does not exist" in one_line(serve(str(root / "nope"), "--port", "0"))
    assert "is not a directory" in one_line(serve(str(root / "hello.txt"), "--port", "0"))


def test_an_unreadable_root(root: Path) -> None:
    locked = root / "docs"
    locked.chmod(0)
    try:
        prefix: list[str] = []
        try:
            os.listdir(locked)
        except PermissionError:
            pass
        else:
            # Root reads everything, by two capabilities: the server runs without them.
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root, which reads any directory, and no setpriv to drop that")
            prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
        assert "cannot read" in one_line(serve(str(locked), "--port", "0", prefix=prefix))
    finally:
        locked.chmod(0o755)


def test_a_port_in_use_is_one_line_before_anything_starts(root: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(serve(str(root), "--port", str(port)))
    assert f"127.0.0.1:{port}" in line and "in use" in line


def test_an_unknown_flag_shows_serves_usage(root: Path) -> None:
    error = argparse_error(serve(str(root), "--bogus"))
    assert "--bogus" in error


def test_the_flags_are_named_after_the_options(root: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "flashstatic", "serve", "--help"], capture_output=True, text=True)
    for flag in ("--allow-dotfiles", "--follow-symlink ", "--index-file", "--html", "--small-file-max"):
        assert flag in done.stdout
    # The old spellings still work, but are not offered.
    assert "--dotfiles" not in done.stdout and "--follow-symlinks" not in done.stdout


@pytest.mark.parametrize("flag", ["--allow-dotfiles", "--dotfiles"])
def test_allow_dotfiles_and_its_old_spelling(root: Path, flag: str) -> None:
    with flashstatic_serve(root) as (_, port):
        assert httpx.get(f"http://127.0.0.1:{port}/.well-known/security.txt").status_code == 404
    with flashstatic_serve(root, flag) as (_, port):
        assert httpx.get(f"http://127.0.0.1:{port}/.well-known/security.txt").text == "contact\n"


def test_index_file_and_max_age_flags(root: Path) -> None:
    with flashstatic_serve(root, "--index-file", "default.htm", "--max-age", "0") as (_, port):
        response = httpx.get(f"http://127.0.0.1:{port}/docs/")
        assert response.text == "<p>docs</p>" and response.headers["cache-control"] == "max-age=0, public"


def test_an_option_the_configuration_refuses_is_one_line(root: Path) -> None:
    line = one_line(serve(str(root), "--port", "0", "--immutable-file-test", "[0-9"))
    assert "immutable_file_test" in line and "'[0-9'" in line


def test_a_site_file_serves_several_roots_and_the_command_line_wins(tmp_path: Path) -> None:
    write_tree(tmp_path / "public", {"index.html": "<h1>home</h1>", "a.txt": "public"})
    write_tree(tmp_path / "media", {"photo.txt": "media"})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = tmp_path / "site.toml"
    site.write_text(
        f"""
port = 1
max-age = 3600
log-level = "warning"
cors = ["https://app.example"]

[cache-control]
"*.html" = "no-cache"

[[root]]
directory = "public"

[[root]]
directory = "{tmp_path / "media"}"
prefix = "/media"
"""
    )
    # The file says port 1; the command line's --port wins over it.
    process = subprocess.Popen(
        [sys.executable, "-m", "flashstatic", "serve", "--config", str(site), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_listening(process, port, "flashstatic serve")
        with httpx.Client(base_url=base, timeout=10) as client:
            text = client.get("/a.txt", headers={"origin": "https://app.example"})
            assert text.text == "public" and text.headers["cache-control"] == "max-age=3600, public"
            assert text.headers["access-control-allow-origin"] == "https://app.example"
            home = client.get("/")
            assert home.text == "<h1>home</h1>" and home.headers["cache-control"] == "no-cache"
            assert client.get("/media/photo.txt").text == "media"
            assert client.get("/photo.txt").status_code == 404
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("max-age = -5", "site.toml: max-age: must be at least 0"),
        ("bogus = true", "site.toml: unknown key 'bogus'"),
        ("[[root]]\ndirectory = 'missing'", "does not exist"),
        ("port = ", "site.toml: not valid TOML"),
    ],
)
def test_a_bad_site_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(text)
    argv = [sys.executable, "-m", "flashstatic", "serve", "--config", str(site), "--port", "0"]
    if "root" not in text:
        argv.insert(4, str(write_tree(tmp_path / "public", {"a.txt": "a"})))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_serve_fallback_answers_routes_of_a_single_page_app(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "dist", {"index.html": "<div id=app></div>", "assets/app.js": "x"})
    with flashstatic_serve(root, "--fallback", "index.html") as (_, port), httpx.Client(timeout=10) as client:
        route = client.get(f"http://127.0.0.1:{port}/users/42")
        assert route.status_code == 200 and route.text == "<div id=app></div>"
        assert route.headers["cache-control"] == "no-cache"
        assert client.get(f"http://127.0.0.1:{port}/assets/missing.js").status_code == 404
        assert client.get(f"http://127.0.0.1:{port}/assets/app.js").text == "x"


def _forwarded_log(root: Path, *flags: str) -> list[str]:
    """The access-log lines of six requests for one file, each with X-Forwarded-For, three of
    them byte-identical on one connection (cache hits, and repeats)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "flashstatic", "serve", str(root), "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen([*argv, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(process, port, "flashstatic serve")
        with httpx.Client(timeout=10) as client:
            for _ in range(3):
                client.get(f"http://127.0.0.1:{port}/a.txt", headers={"x-forwarded-for": "203.0.113.9"})
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            for _ in range(3):
                sock.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n")
                [(status, _, body)] = read_responses(sock, 1)
                assert (status, body) == (200, b"a")
    finally:
        process.terminate()
        stdout, _ = process.communicate(timeout=30)
    return [line for line in stdout.splitlines() if "/a.txt" in line]


def test_behind_a_trusted_proxy_every_line_shows_the_forwarded_client(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "site", {"a.txt": "a"})
    lines = _forwarded_log(root)
    assert len(lines) == 6 and all(line.startswith("203.0.113.9 - - [") for line in lines), lines


@pytest.mark.parametrize("flags", [("--forwarded-allow-ips", "10.0.0.5"), ("--no-proxy-headers",)])
def test_forwarded_headers_from_an_untrusted_peer_are_ignored(tmp_path: Path, flags: tuple[str, ...]) -> None:
    root = write_tree(tmp_path / "site", {"a.txt": "a"})
    lines = _forwarded_log(root, *flags)
    assert len(lines) == 6 and all(line.startswith("127.0.0.1 - - [") for line in lines), lines


def test_root_path_puts_the_proxys_prefix_back_in_the_log(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "site", {"a.txt": "a"})
    lines = _forwarded_log(root, "--root-path", "/site")
    assert len(lines) == 6 and all('"GET /site/a.txt HTTP/1.1"' in line for line in lines), lines


def test_json_access_log_lines(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "site", {"a.txt": "a"})
    lines = _forwarded_log(root, "--access-log-format", "json")
    assert len(lines) == 6
    for line in lines:
        entry = json.loads(line)
        assert entry["client"] == "203.0.113.9" and entry["method"] == "GET" and entry["path"] == "/a.txt"
        assert (entry["status"], entry["bytes"], entry["protocol"], entry["query"]) == (200, 1, "HTTP/1.1", "")
        assert entry["time"].endswith("Z") and entry["referer"] is None
    assert {json.loads(line)["user_agent"] for line in lines} == {f"python-httpx/{httpx.__version__}", None}


def test_a_json_line_cannot_be_forged() -> None:
    from flashstatic.server.accesslog import json_line

    hostile = b'x", "status": 500}\n{"client": "evil\x01'
    line = json_line(("127.0.0.1", 1), "GET", "/a", b"q=\x7f", "1.1", [(b"user-agent", hostile)], 200, 1, 0.0)
    assert "\n" not in line and line.isascii() and line.isprintable()
    assert json.loads(line)["user_agent"] == hostile.decode() and json.loads(line)["status"] == 200
