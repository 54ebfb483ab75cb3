"""Flash's caches: pathname translation (with revalidation), response headers, small bodies."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashstatic import FlashStatic
from flashstatic.cache.pathname import PathnameCache
from flashstatic.config import Options, Root
from flashstatic.translate import MISSING, RedirectTo, translate
from support import body_of, call_asgi, write_tree


def get(app: FlashStatic, path: str, **headers: str) -> tuple[int, bytes, dict[bytes, bytes]]:
    messages = asyncio.run(call_asgi(app, path, headers))
    return messages[0]["status"], body_of(messages), dict(messages[0]["headers"])


def bump_mtime(path: Path, seconds: int = 10) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def test_revalidation_interval_is_honoured(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"a.txt": "one"})
    options = Options(roots=(Root(str(root), ""),), revalidate_interval=1.0)
    cache = PathnameCache(options)
    first = cache.store("/a.txt", translate(options.rules, "/a.txt"), now=100.0)
    assert cache.lookup("/a.txt", now=100.9) == (first, False)
    assert cache.lookup("/a.txt", now=101.0) == (first, True)  # stale: the caller must stat again
    # Same file on revalidation: the same entry object, so its encoded headers are reused.
    assert cache.store("/a.txt", translate(options.rules, "/a.txt"), now=101.0) is first
    (root / "a.txt").write_text("two!")
    second = cache.store("/a.txt", translate(options.rules, "/a.txt"), now=102.0)
    assert second is not first and second.identity.size == 4
    assert cache.header_counters.misses == 2


def test_revalidation_keeps_the_entry_only_while_the_siblings_are_the_same(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"app.js": "x" * 100, "app.js.gz": "gz"})
    options = Options(roots=(Root(str(root), ""),), revalidate_interval=1.0)
    cache = PathnameCache(options)
    first = cache.store("/app.js", translate(options.rules, "/app.js"), now=100.0)
    assert [rep.encoding for rep in first.encoded] == ["gzip"]
    assert cache.store("/app.js", translate(options.rules, "/app.js"), now=101.0) is first
    (root / "app.js.br").write_bytes(b"br")
    second = cache.store("/app.js", translate(options.rules, "/app.js"), now=102.0)
    assert second is not first and sorted(rep.encoding for rep in second.encoded) == ["br", "gzip"]
    (root / "app.js.gz").unlink()
    third = cache.store("/app.js", translate(options.rules, "/app.js"), now=103.0)
    assert third is not second and [rep.encoding for rep in third.encoded] == ["br"]


def test_negative_entries_expire(tmp_path: Path) -> None:
    options = Options(roots=(Root(str(tmp_path), ""),), revalidate_interval=1.0)
    cache = PathnameCache(options)
    assert cache.store("/late.txt", translate(options.rules, "/late.txt"), now=0.0) is MISSING
    (tmp_path / "late.txt").write_text("here now")
    assert cache.lookup("/late.txt", now=0.5) == (MISSING, False)
    assert cache.lookup("/late.txt", now=1.0) == (MISSING, True)
    assert cache.lookup("/never-seen.txt", now=1.0) == (None, True)


def test_lru_is_bounded(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {f"f{i}.txt": str(i) for i in range(10)})
    app = FlashStatic(directory=root, pathname_cache_size=4)
    for i in range(10):
        assert get(app, f"/f{i}.txt")[1] == str(i).encode()
    stats = app.stats()["pathname"]
    assert stats["entries"] == 4 and stats["evictions"] == 6


def test_changed_file_is_served_fresh(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"a.txt": "version one"})
    app = FlashStatic(directory=root, revalidate_interval=0)
    _, body, headers = get(app, "/a.txt")
    assert body == b"version one"
    (root / "a.txt").write_text("version two, longer")
    bump_mtime(root / "a.txt")
    _, body, new_headers = get(app, "/a.txt")
    assert body == b"version two, longer" and new_headers[b"etag"] != headers[b"etag"]
    # Replaced by rename, as deploy tools do.
    (tmp_path / "a.tmp").write_text("version three")
    os.replace(tmp_path / "a.tmp", root / "a.txt")
    assert get(app, "/a.txt")[1] == b"version three"
    (root / "a.txt").unlink()
    assert get(app, "/a.txt")[0] == 404


def test_change_within_the_interval_never_mixes_headers_and_bytes(tmp_path: Path) -> None:
    # The entry is trusted for an hour, as an nginx open_file_cache entry would be.
    root = write_tree(tmp_path, {"big.bin": b"a" * 100_000})
    app = FlashStatic(directory=root, revalidate_interval=3600)
    assert get(app, "/big.bin")[1] == b"a" * 100_000
    # Replaced by rename: the directory's watch forgets the entry, and the new file is served
    # whole with its own headers (without a watch, the old open file would be, with its own).
    (tmp_path / "new.bin").write_bytes(b"b" * 50_000)
    os.replace(tmp_path / "new.bin", root / "big.bin")
    status, body, headers = get(app, "/big.bin")
    assert body == b"b" * 50_000 and headers[b"content-length"] == b"50000"
    # Rewritten in place: the cached descriptor's fstat shows it, and the path is translated again.
    (root / "other.bin").write_bytes(b"x" * 100_000)
    assert get(app, "/other.bin")[1] == b"x" * 100_000
    with open(root / "other.bin", "r+b") as f:
        f.truncate(0)
        f.write(b"c" * 70_000)
    status, body, headers = get(app, "/other.bin")
    assert status == 200 and body == b"c" * 70_000 and headers[b"content-length"] == b"70000"


def test_scan_once_mode(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"a.txt": "A", "d/index.html": "D"})
    # small_file_max=0: every body comes from disk, where the open checks the file is unchanged.
    app = FlashStatic(directory=root, autorefresh=False, index_file=True, small_file_max=0)
    (root / "late.txt").write_text("added after start")
    assert get(app, "/a.txt")[1] == b"A"
    assert get(app, "/d/")[1] == b"D"
    assert get(app, "/d")[0] == 307
    assert get(app, "//a.txt")[1] == b"A"  # other spellings find the scanned entry
    assert get(app, "/late.txt")[0] == 404  # fixed deployments: the scan is the truth
    # A file that changes anyway is noticed at open and served right, not with stale headers.
    (root / "a.txt").write_text("AAAA")
    _, body, headers = get(app, "/a.txt")
    assert body == b"AAAA" and headers[b"content-length"] == b"4"


def test_scan_survives_broken_links_and_loops(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"ok.txt": "ok", "d/x.txt": "x"})
    os.symlink(tmp_path / "nowhere", root / "broken.txt")
    os.symlink(root, root / "d" / "loop")
    os.symlink(root / "d", root / "alias")
    app = FlashStatic(directory=root, autorefresh=False)
    assert get(app, "/ok.txt")[1] == b"ok"
    assert get(app, "/broken.txt")[0] == 404
    assert get(app, "/alias/x.txt")[1] == b"x"  # a linked directory inside the root is scanned
    # A loop is entered once, not forever; spellings through it are not in the scan.
    assert get(app, "/d/loop/ok.txt")[0] == 404


def test_autorefresh_true_checks_every_request(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"a.txt": "A"})
    app = FlashStatic(directory=root, autorefresh=True)
    assert get(app, "/b.txt")[0] == 404
    (root / "b.txt").write_text("B")
    assert get(app, "/b.txt")[1] == b"B"


def test_small_file_cache(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"small.txt": "s" * 100, "large.bin": b"L" * 200_000})
    app = FlashStatic(directory=root, small_file_max=1000, small_file_cache_bytes=150)
    for _ in range(3):
        assert get(app, "/small.txt")[1] == b"s" * 100
        assert get(app, "/large.bin")[1] == b"L" * 200_000
    assert get(app, "/small.txt", range="bytes=10-19")[1] == b"s" * 10
    bodies = app.stats()["bodies"]
    assert bodies["misses"] == 1 and bodies["hits"] == 3 and bodies["bytes"] == 100
    headers = app.stats()["headers"]
    assert headers["misses"] == 2 and headers["hits"] == 5  # every request after each file's first


def test_small_file_cache_budget_evicts(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {f"{i}.txt": str(i) * 100 for i in range(5)})
    app = FlashStatic(directory=root, small_file_cache_bytes=250)
    for i in range(5):
        get(app, f"/{i}.txt")
    bodies = app.stats()["bodies"]
    assert bodies["bytes"] == 200 and bodies["evictions"] == 3


def test_revalidation_over_real_http(tmp_path: Path, live_server, http: httpx.Client) -> None:
    # A deploy that switches the root's symlink to a new release: no watched directory changes
    # (the watch is on the old release), so only revalidation can see it.
    write_tree(tmp_path / "v1", {"a.txt": "old"})
    write_tree(tmp_path / "v2", {"a.txt": "new content"})
    root = tmp_path / "current"
    root.symlink_to("v1")
    with live_server(FlashStatic(directory=root, revalidate_interval=0.2)) as url:
        assert http.get(url + "/a.txt").text == "old"
        (tmp_path / "next").symlink_to("v2")
        os.replace(tmp_path / "next", root)
        time.sleep(0.25)
        # The request that finds the entry stale is served from it and starts the revalidation.
        assert http.get(url + "/a.txt").text == "old"
        deadline = time.monotonic() + 5
        while (r := http.get(url + "/a.txt")).text == "old" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert r.text == "new content" and r.headers["content-length"] == "11"
        assert http.get(url + "/a.txt").text == "new content"


def test_unreadable_file_is_403(tmp_path: Path) -> None:
    # As root every file is readable, so the refusal is injected where the open happens.
    root = write_tree(tmp_path, {"locked.txt": "no"})
    app = FlashStatic(directory=root)

    async def refuse(facts, rules, warm=0):
        raise PermissionError(13, "Permission denied", facts.path)

    app.disk.open = refuse  # type: ignore[method-assign]
    status, body, _ = get(app, "/locked.txt")
    assert status == 403 and body == b"Forbidden"


def test_revalidation_is_batched_into_few_helper_jobs(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {f"f{i}.txt": str(i) for i in range(60)})
    # An interval long enough that no entry falls due again while the 60 requests run, even on
    # a loaded machine.
    app = FlashStatic(directory=root, revalidate_interval=0.5)

    async def scenario() -> int:
        for i in range(60):
            await call_asgi(app, f"/f{i}.txt")
        await asyncio.sleep(0.55)  # every entry is now due for revalidation
        before = app.stats()["disk"]["helpers"]["dispatched"]
        for i in range(60):
            assert body_of(await call_asgi(app, f"/f{i}.txt")) == str(i).encode()
        for _ in range(100):
            if app.stats()["pathname"]["revalidations"] >= 60:
                break
            await asyncio.sleep(0.02)
        assert app.stats()["pathname"]["revalidations"] >= 60
        return app.stats()["disk"]["helpers"]["dispatched"] - before

    # 60 stale paths, a handful of helper jobs (one each would be 60). How many depends on how
    # many requests arrive while a batch is out: on a loaded machine they trickle in, and each
    # batch holds fewer (up to 12 seen while another process kept both cores busy).
    assert asyncio.run(scenario()) <= 20
    app.close()


def test_a_cached_file_costs_the_garbage_collector_few_objects(tmp_path: Path) -> None:
    # A full collection walks every tracked object, pausing the loop for all of them: a cache
    # of many files must not keep more than it needs: the file's facts, its entry and its
    # representation (which is its own header set). What translation found is not kept, and
    # when each path was checked is a float in a dict, which the collector does not walk.
    root = write_tree(tmp_path, {f"f{i}.js": "x" for i in range(500)})
    options = Options(roots=(Root(str(root), ""),))
    cache = PathnameCache(options)
    gc.collect()
    before = len(gc.get_objects())
    for i in range(500):
        cache.store(f"/f{i}.js", translate(options.rules, f"/f{i}.js"), now=0.0)
    gc.collect()
    assert (len(gc.get_objects()) - before) / 500 < 3.5


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("sfrmxa"), st.integers(0, 5)), max_size=40))
def test_when_each_path_was_checked_is_kept_for_the_paths_held_and_no_others(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]
) -> None:
    # Kept beside the LRU rather than in it, so every way a path leaves (evicted, replaced by
    # a redirect or a miss, forgotten, its directory changed) must take its check time too, and
    # the directory index holds the files held and nothing else.
    root = write_tree(tmp_path_factory.mktemp("tree"), {f"d{i % 2}/f{i}.js": "x" for i in range(6)})
    options = Options(roots=(Root(str(root), ""),), pathname_cache_size=3)
    cache = PathnameCache(options)
    for now, (step, number) in enumerate(steps):
        key = f"/d{number % 2}/f{number}.js"
        if step == "s":
            cache.store(key, translate(options.rules, key), now=float(now))
        elif step == "r":
            cache.store(key, RedirectTo("slash"), now=float(now))
        elif step == "m":
            cache.store(key, MISSING, now=float(now))
        elif step == "f":
            cache.forget(key)
        elif step == "x":
            cache.forget_changed(str(root / f"d{number % 2}"), subtree=number > 2)
        else:
            cache.forget_all()
        answers = {name: cache.lookup(name, float(now))[0] for name in (f"/d{n % 2}/f{n}.js" for n in range(6))}
        held = {name for name, answer in answers.items() if answer is not None and answer is not MISSING}
        assert set(cache._checked_at) == held and len(held) <= 3
        indexed = set().union(*cache._by_directory.values())
        assert indexed == {name for name in held if not isinstance(answers[name], RedirectTo)}
