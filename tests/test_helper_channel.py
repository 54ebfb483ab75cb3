"""The channel between the server and its helper processes, under attack and on a bad day.

Messages are bounded in bytes and made of plain data (no code can travel), a job too large for
the channel fails alone without killing a helper, revalidation of the pathname cache never
stops for good, and every descriptor a helper sends is checked against what was asked for.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from flashstatic import FlashStatic
from flashstatic.amped import wire
from flashstatic.amped.jobs import FileChanged
from flashstatic.amped.pool import JobTooLarge, ProcessPool
from flashstatic.amped.strategy import AmpedDisk
from flashstatic.config import Root
from flashstatic.http.paths import PathRejected
from flashstatic.translate import MISSING, FileFacts, FoundFile, RedirectTo, TranslationRules, translate
from support import write_tree

REPO = Path(__file__).resolve().parents[1]


def _long_spelling(name: str, length: int) -> str:
    """``/./././.../name``: the same file under a path of about ``length`` bytes."""
    return "/." * ((length - len(name) - 1) // 2) + "/" + name


def _get_all_at_once(url: str, paths: list[str]) -> list[int]:
    """One connection per path, every request written before any answer is read, so that the
    server sees them in the same turns of its loop."""
    host, port = url.removeprefix("http://").split(":")
    sockets = [socket.create_connection((host, int(port)), timeout=10) for _ in paths]
    try:
        for sock, path in zip(sockets, paths, strict=True):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        statuses = []
        for sock in sockets:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            statuses.append(int(data.split(b" ", 2)[1]))
        return statuses
    finally:
        for sock in sockets:
            sock.close()


def _eventually(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


SLOW_HELPER = (sys.executable, str(REPO / "tests" / "slow_helper.py"))


def _app_with_helpers(root: Path, command: tuple[str, ...] = SLOW_HELPER, **options: object) -> FlashStatic:
    app = FlashStatic(directory=root, **options)  # type: ignore[arg-type]
    app.disk.close()
    app.disk = AmpedDisk(256, ProcessPool(1, 2, 256, command=command), 512 * 1024)
    return app


def test_revalidation_survives_a_batch_larger_than_the_channel(tmp_path: Path, live_server, monkeypatch) -> None:
    # While one slow revalidation runs, 64 spellings of about 4 KB each go stale: the next batch
    # is 250 KB, more than one SEQPACKET message may carry. It must be split, not taken for a
    # dead helper and retried forever: edits and deletes are still seen afterwards.
    monkeypatch.setenv("SLOW_HELPER_TRANSLATE_DELAY", "0.5")
    monkeypatch.setenv("SLOW_HELPER_DELAY", "0")
    root = write_tree(tmp_path / "site", {"a.txt": "old", "b.txt": "bee"})
    app = _app_with_helpers(root, revalidate_interval=0.2)
    long_paths = [_long_spelling("a.txt", 3900 + i * 2) for i in range(64)]
    with live_server(app) as url:
        with httpx.Client(timeout=10) as client:
            assert client.get(url + "/b.txt").text == "bee"
            assert set(_get_all_at_once(url, long_paths)) == {200}
            time.sleep(0.3)
            assert client.get(url + "/b.txt").text == "bee"  # stale: a slow batch of one starts
            assert set(_get_all_at_once(url, long_paths)) == {200}  # 64 stale while it runs
            (root / "b.txt").write_text("edited")
            os.utime(root / "b.txt", ns=(time.time_ns(), time.time_ns() + 10**9))
            assert _eventually(lambda: client.get(url + "/b.txt").text == "edited")
            (root / "b.txt").unlink()
            assert _eventually(lambda: client.get(url + "/b.txt").status_code == 404)
        assert app.disk.pool.stats()["lost"] == 0  # no helper was killed for it


def test_a_full_stale_queue_defers_paths_and_they_are_revalidated_later(
    tmp_path: Path, live_server, monkeypatch
) -> None:
    import flashstatic.asgi

    monkeypatch.setattr(flashstatic.asgi, "_MAX_STALE", 8)
    monkeypatch.setenv("SLOW_HELPER_TRANSLATE_DELAY", "0.3")
    monkeypatch.setenv("SLOW_HELPER_DELAY", "0")
    root = write_tree(tmp_path / "site", {f"f{i}.txt": str(i) for i in range(40)})
    app = _app_with_helpers(root, revalidate_interval=0.2)
    paths = [f"/f{i}.txt" for i in range(40)]
    with live_server(app) as url:
        assert set(_get_all_at_once(url, paths)) == {200}
        time.sleep(0.3)
        assert set(_get_all_at_once(url, paths)) == {200}  # all stale, more than the queue holds
        assert len(app._stale) <= 8
        assert app.stats()["pathname"]["revalidations_deferred"] > 0
        (root / "f39.txt").write_text("changed")
        os.utime(root / "f39.txt", ns=(time.time_ns(), time.time_ns() + 10**9))
        with httpx.Client(timeout=10) as client:
            assert _eventually(lambda: client.get(url + "/f39.txt").text == "changed")


# -- the message format -------------------------------------------------------------------------

RULES = TranslationRules(
    (Root("/srv/site", ""), Root("/srv/media", "/media")),
    follow_symlink=False,
    allow_dotfiles=True,
    index_file="index.html",
    redirect_index=False,
    not_found_file="404.html",
)
FACTS = FileFacts("/srv/site/caf\udce9.txt", 12, 1_700_000_000_123_456_789, 2049, 77)


@pytest.mark.parametrize(
    "value",
    [
        ("translate", (RULES, "/a b/é.txt")),
        (7, "translate", (RULES, "/a b/é.txt")),
        (8, "translate_open", (RULES, "/caf\udce9.txt", 65536)),
        (9, True, FoundFile("/caf\u00e9.txt", FACTS, ())),
        (10, True, FoundFile("/a.txt", FACTS, (("gzip", FACTS._replace(path=FACTS.path + ".gz")),))),
        (11, True, FoundFile("/a.txt", FACTS._replace(mtime_ns=-1_000_000_000), ())),
        ("translate_many", (RULES, ["/a", "/b"])),
        ("open", (FACTS,)),
        ("page_in", (0, 524288)),
        (True, FoundFile("/a.txt", FACTS, (("gzip", FACTS._replace(path=FACTS.path + ".gz")),))),
        (True, RedirectTo("slash")),
        (True, MISSING),
        (True, None),
        (True, [MISSING, PathRejected(400, "path climbs above the root"), FileNotFoundError(2, "gone", "/x")]),
        (False, FileChanged("/srv/site/a.txt")),
        (False, PermissionError(13, "Permission denied")),
    ],
)
def test_every_job_and_answer_survives_the_wire(value: object) -> None:
    back = wire.decode(wire.encode(value))
    assert _comparable(back) == _comparable(value)


def _comparable(value: object) -> object:
    if isinstance(value, BaseException):
        return (type(value), value.args)
    if isinstance(value, (list, tuple)) and not isinstance(value, FileFacts):
        return type(value), [_comparable(item) for item in value]
    return value


def test_a_first_requests_lookup_and_the_file_it_finds_travel_as_flat_arrays() -> None:
    other = TranslationRules((Root("/srv/other", ""),))
    for message in (
        (1, "translate_open", (RULES, "/a.txt", 65536)),
        (2, "translate", (other, "/b.txt")),
        (3, True, FoundFile("/a.txt", FACTS, ())),
    ):
        data = wire.encode(message)
        assert data.startswith(b"[") and wire.decode(data) == message
    # Each set of rules comes back as itself, however many have crossed.
    assert wire.decode(wire.encode((4, "translate", (RULES, "/c"))))[2][0] == RULES


def test_an_os_error_comes_back_as_its_own_class() -> None:
    error = wire.decode(wire.encode((False, OSError(2, "No such file"))))[1]
    assert isinstance(error, FileNotFoundError)
    assert isinstance(wire.decode(wire.encode((False, KeyError("x"))))[1], wire.HelperError)


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x04\x95garbage",  # a pickle
        b"not json",
        b'{"tuple": [true, {"exec": "print(1)"}]}',  # an unknown tag
        b'{"facts": ["/a", "12", 0, 0, 0]}',  # a size that is not an integer
        b'{"facts": ["/a", 12, 0, 0]}',  # a field missing
        b'{"redirect": "elsewhere"}',
        b'{"error": ["os", 999999, "x", null]}',
        b'{"tuple": [true], "list": []}',
        b"[" * 5000 + b"]" * 5000,  # nesting deep enough to exhaust the parser
        b'"' + b"a" * wire.MAX_MESSAGE + b'"',
        b'[1,true,"/a","/a","12",0,0,0]',  # the compact forms, as strictly
        b'[1,true,"/a","/a",12,0,0]',
        b'[true,true,"/a","/a",12,0,0,0]',
        b'[1,true,"/a",null,12,0,0,0]',
        b'[1,"translate_open","{\\"facts\\":[\\"/a\\",1,0,0,0]}","/a",5]',  # rules that are not rules
        b'[1,"translate","{\\"rules\\":[[],false,false,null,false,null]}","/a",5]',  # a warm-up without an open
        b'[1,"translate_open","not json","/a",5]',
        b'[1,"exec","x","/a"]',
        b"[]",
    ],
)
def test_the_wire_refuses_what_it_never_sends(data: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(data)


def test_a_message_over_the_bound_is_refused_before_it_is_sent() -> None:
    with pytest.raises(wire.MessageTooLarge):
        wire.encode(("translate_many", (RULES, ["/" + "a" * 4000] * 20)))


def test_answers_of_the_wrong_shape_do_not_fit() -> None:
    assert wire.answer_fits("translate", (RULES, "/a"), MISSING)
    assert not wire.answer_fits("translate", (RULES, "/a"), 12345)
    assert not wire.answer_fits("translate_many", (RULES, ["/a", "/b"]), [MISSING])
    assert not wire.answer_fits("open", (FACTS,), "/etc/passwd")
    listing_args = (RULES, 0, ("js",), "00" * 16)
    assert wire.answer_fits("list_directory", listing_args, None)
    assert wire.answer_fits("list_directory", listing_args, "AAAAAAAAAAA=")  # two digests
    for bad in (["app.js"], "app.js", "AAAA"):  # names, not base64, a partial digest
        assert not wire.answer_fits("list_directory", listing_args, bad)


def test_a_listing_page_crosses_the_wire_and_nothing_else_fits() -> None:
    args = (RULES, "/a/", 0)
    page = (2, True, 0, [("sub", True, 0, 1700000000), ("caf\u00e9.txt", False, 12, 1700000000)])
    assert wire.decode(wire.encode(page)) == page and wire.answer_fits("list_page", args, page)
    assert wire.answer_fits("list_page", args, "slash") and wire.answer_fits("list_page", args, None)
    for bad in (
        "elsewhere",
        (2, True, 0),
        (2, "yes", 0, []),
        (-1, True, 0, []),
        (1, True, 0, [("a", True, 0)]),
        (1, True, 0, [("a", 1, 0, 0)]),
        (1, True, 0, [(b"a", True, 0, 0)]),
        (1, True, 0, [("a", False, -5, 0)]),
    ):
        assert not wire.answer_fits("list_page", args, bad), bad


# -- the pool, with real helper processes --------------------------------------------------------


def _run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_a_job_too_large_fails_alone_and_its_helper_goes_on(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "site", {"a.txt": "a"})
    rules = TranslationRules((Root(str(root), ""),))
    pool = ProcessPool(1, 1, 16)

    async def scenario() -> None:
        assert isinstance(await pool.run("translate", (rules, "/a.txt")), FoundFile)
        pids = pool.pids
        with pytest.raises(JobTooLarge):
            await pool.run("translate_many", (rules, ["/" + "x" * 4000] * 40))
        assert isinstance(await pool.run("translate", (rules, "/a.txt")), FoundFile)
        assert pool.pids == pids
        assert pool.stats()["lost"] == 0

    try:
        _run(scenario())
    finally:
        pool.close()


def test_a_batch_too_large_for_one_message_is_split(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "site", {"a.txt": "a"})
    rules = TranslationRules((Root(str(root), ""),))
    disk = AmpedDisk(16, ProcessPool(1, 2, 16), 512 * 1024)
    paths = [_long_spelling("a.txt", 3900 + i) for i in range(50)] + ["/missing.txt"]

    async def scenario() -> list[object]:
        return await disk.translate_many(rules, paths)

    try:
        results = _run(scenario())
    finally:
        disk.close()
    assert results == [translate(rules, path) for path in paths]
    assert disk.pool.stats()["lost"] == 0


ROGUE_HELPER = (sys.executable, str(REPO / "tests" / "rogue_helper.py"))


@pytest.mark.parametrize("mode", ["pickle", "wrong_type", "garbage"])
def test_a_helper_that_answers_nonsense_fails_its_job_and_is_replaced(tmp_path: Path, monkeypatch, mode: str) -> None:
    mark = tmp_path / "unpickled"
    monkeypatch.setenv("ROGUE_HELPER_MODE", mode)
    monkeypatch.setenv("ROGUE_HELPER_MARK", str(mark))
    rules = TranslationRules((Root(str(tmp_path), ""),))
    pool = ProcessPool(1, 1, 16, command=ROGUE_HELPER)

    async def scenario() -> None:
        for _ in range(2):
            with pytest.raises(Exception) as caught:
                await pool.run("translate", (rules, "/a.txt"))
            assert "unreadable answer" in str(caught.value)

    try:
        _run(scenario())
    finally:
        pool.close()
    assert not mark.exists()  # nothing it sent was run
    assert pool.stats()["lost"] == 2  # each was replaced, none retried


def _rogue_disk(monkeypatch, mode: str, root: Path, other_file: Path) -> tuple[TranslationRules, AmpedDisk]:
    """Rules for ``root`` and a disk whose one helper lies in ``mode``, with ``other_file``."""
    monkeypatch.setenv("ROGUE_HELPER_MODE", mode)
    monkeypatch.setenv("ROGUE_HELPER_OTHER_FILE", str(other_file))
    rules = TranslationRules((Root(str(root), ""),))
    return rules, AmpedDisk(16, ProcessPool(1, 1, 16, command=ROGUE_HELPER), 512 * 1024)


@pytest.mark.parametrize("mode", ["other_file", "outside_root"])
def test_a_descriptor_of_another_file_or_from_outside_the_root_is_refused(
    tmp_path: Path, monkeypatch, mode: str
) -> None:
    # other_file: the descriptor is not the file translated. outside_root: the helper lies
    # consistently (translation and descriptor describe the same file, so the identity check
    # passes); only the file's place on disk shows it is not the root's.
    root = write_tree(tmp_path / "site", {"a.txt": "served"})
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    rules, disk = _rogue_disk(monkeypatch, mode, root, secret)

    async def scenario() -> None:
        found = await disk.translate(rules, "/a.txt")
        assert isinstance(found, FoundFile)
        assert (found.facts.path == str(secret)) is (mode == "outside_root")
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(FileChanged):
            await disk.open(found.facts, rules)
        assert len(os.listdir("/proc/self/fd")) == before  # the foreign descriptor was closed

    try:
        _run(scenario())
    finally:
        disk.close()


@pytest.mark.parametrize("mode", ["other_file", "outside_root"])
def test_a_descriptor_a_lookup_brings_is_kept_only_if_it_is_the_file_inside_the_root(
    tmp_path: Path, monkeypatch, mode: str
) -> None:
    # A lookup that opens hands its descriptor to the open-file cache: the same checks as an
    # open's, or the other file would be served from the cache with no open at all. other_file:
    # another file of the root, which only the identity check tells apart.
    # Of a.txt's size and time, so that only the inode differs.
    root = write_tree(tmp_path / "site", {"a.txt": "served", "b.txt": "secret"})
    os.utime(root / "b.txt", ns=(os.stat(root / "a.txt").st_atime_ns, os.stat(root / "a.txt").st_mtime_ns))
    secret = root / "b.txt" if mode == "other_file" else tmp_path / "secret.txt"
    if mode == "outside_root":
        secret.write_text("not yours")
    rules, disk = _rogue_disk(monkeypatch, mode, root, secret)

    async def scenario() -> None:
        await disk.translate(rules, "/a.txt")  # the helper started
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(2):  # the second time, the roots' real paths are surely known
            found = await disk.translate(rules, "/a.txt", opening=1024)
            assert isinstance(found, FoundFile)
            assert disk.kept_open(found.facts) is None
        assert len(os.listdir("/proc/self/fd")) == before  # the foreign descriptors were closed

    try:
        _run(scenario())
    finally:
        disk.close()


def test_over_http_a_descriptor_from_outside_the_root_sends_none_of_its_bytes(
    tmp_path: Path, live_server, monkeypatch
) -> None:
    root = write_tree(tmp_path / "site", {"a.txt": "served"})
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours, and larger than the small-body cache's limit\n" * 4000)
    monkeypatch.setenv("ROGUE_HELPER_MODE", "outside_root")
    monkeypatch.setenv("ROGUE_HELPER_OTHER_FILE", str(secret))
    _two_503s_from_a_rogue_helper(root, live_server, "not yours")


@pytest.mark.parametrize("switched", [False, True])
def test_a_root_that_is_a_symlink_still_serves_after_a_deploy_switches_it(
    tmp_path: Path, live_server, switched: bool
) -> None:
    # The check compares a descriptor's place with the root's real path, which a deploy that
    # repoints the root's symlink changes: files of the new release must still be served.
    one = write_tree(tmp_path / "releases" / "one", {"a.txt": "one"})
    two = write_tree(tmp_path / "releases" / "two", {"a.txt": "two", "b.txt": "two"})
    current = tmp_path / "current"
    current.symlink_to(one)
    app = _app_with_helpers(current)
    with live_server(app) as url, httpx.Client(timeout=10) as client:
        assert client.get(url + "/a.txt").text == "one"
        if switched:
            swap = tmp_path / "swap"
            swap.symlink_to(two)
            os.replace(swap, current)
            assert client.get(url + "/b.txt").text == "two"


def test_over_http_a_rogue_helper_costs_one_503_and_runs_nothing(tmp_path: Path, live_server, monkeypatch) -> None:
    mark = tmp_path / "unpickled"
    monkeypatch.setenv("ROGUE_HELPER_MODE", "pickle")
    monkeypatch.setenv("ROGUE_HELPER_MARK", str(mark))
    root = write_tree(tmp_path / "site", {"a.txt": "a"})
    _two_503s_from_a_rogue_helper(root, live_server, "Traceback")
    assert not mark.exists()


def _two_503s_from_a_rogue_helper(root: Path, live_server, leak: str) -> None:  # type: ignore[no-untyped-def]
    """Over HTTP, with ROGUE_HELPER as the only helper: a 503 that shows nothing of ``leak``,
    and the next request is answered too."""
    app = _app_with_helpers(root, command=ROGUE_HELPER)
    with live_server(app) as url, httpx.Client(timeout=10) as client:
        response = client.get(url + "/a.txt")
        assert response.status_code == 503
        assert leak not in response.text
        assert client.get(url + "/a.txt").status_code == 503  # and the server goes on


def test_a_job_that_fails_oddly_is_a_503_not_a_500(tmp_path: Path, live_server, monkeypatch) -> None:
    monkeypatch.setenv("ROGUE_HELPER_MODE", "odd_error")
    root = write_tree(tmp_path / "site", {"a.txt": "a"})
    app = _app_with_helpers(root, command=ROGUE_HELPER)
    with live_server(app) as url, httpx.Client(timeout=10) as client:
        response = client.get(url + "/a.txt")
    assert response.status_code == 503 and "boom" in response.text and "Traceback" not in response.text


def test_once_the_roots_are_known_a_descriptor_is_placed_without_a_thread(tmp_path: Path) -> None:
    # Where a helper's descriptor lies is read from /proc on the loop; only the roots' real
    # paths (realpath may wait for the disk) are worked out in a thread, the first time.
    root = write_tree(tmp_path / "site", {f"f{i}.txt": str(i) for i in range(5)})
    rules = TranslationRules((Root(str(root), ""),))
    disk = AmpedDisk(16, ProcessPool(1, 1, 16), 512 * 1024)
    handed: list[object] = []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            handed.append(fn)
            return super().submit(fn, *args, **kwargs)

    async def scenario() -> None:
        asyncio.get_running_loop().set_default_executor(Counting(1))
        for i in range(5):
            found = await disk.translate(rules, f"/f{i}.txt")
            assert isinstance(found, FoundFile)
            file = await disk.open(found.facts, rules)
            assert os.pread(file.fd, 1, 0) == str(i).encode()
            disk.release(file)

    try:
        _run(scenario())
    finally:
        disk.close()
    assert len(handed) == 1
