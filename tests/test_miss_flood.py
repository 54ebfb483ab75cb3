"""A flood of requests for paths that do not exist must not refuse or evict the files that do.

Misses are kept apart from the files in the pathname cache, a name absent from a recent
directory listing is a 404 without a helper, and lookups that nothing suggests will find a
file wait in a lane of their own, so a cold file is still served while a flood fills the queue.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import httpx

from flashstatic import FlashStatic
from flashstatic.amped.pool import ProcessPool
from flashstatic.amped.strategy import AmpedDisk
from support import write_tree
from test_helper_channel import _get_all_at_once

REPO = Path(__file__).resolve().parents[1]
SLOW_HELPER = (sys.executable, str(REPO / "tests" / "slow_helper.py"))


def test_misses_never_push_files_out_of_the_pathname_cache(tmp_path: Path, live_server) -> None:
    root = write_tree(tmp_path / "site", {f"f{i}.txt": str(i) for i in range(10)})
    app = FlashStatic(directory=root, pathname_cache_size=20, revalidate_interval=60)
    files = [f"/f{i}.txt" for i in range(10)]
    with live_server(app) as url, httpx.Client(timeout=10) as client:
        for path in files:
            assert client.get(url + path).status_code == 200
        for i in range(200):
            assert client.get(url + f"/nothing-{i}.txt").status_code == 404
        jobs = app.disk.pool.stats()["dispatched"]
        for path in files:
            assert client.get(url + path).status_code == 200
        assert app.disk.pool.stats()["dispatched"] == jobs  # every file still cached


def test_under_a_backlog_distinct_misses_are_answered_from_directory_listings(
    tmp_path: Path, live_server, monkeypatch
) -> None:
    # One helper, each lookup 50 ms: 300 distinct misses at once would take 15 s and overflow
    # the queue one by one; from the listings they are 404s at once.
    monkeypatch.setenv("SLOW_HELPER_LOOKUP_DELAY", "0.05")
    monkeypatch.setenv("SLOW_HELPER_DELAY", "0")
    root = write_tree(tmp_path / "site", {"js/app.js": "app", "css/site.css": "css", "index.html": "home"})
    app = FlashStatic(directory=root, revalidate_interval=60)
    app.disk.close()
    app.disk = AmpedDisk(64, ProcessPool(1, 1, 256, command=SLOW_HELPER), 512 * 1024)
    misses = (
        [f"/js/random-{i}.js" for i in range(100)]
        + [f"/nodir-{i}/x.js" for i in range(100)]
        + [f"/css/deep/er-{i}/x.css" for i in range(100)]
    )
    with live_server(app) as url:
        assert set(_get_all_at_once(url, misses)) == {404}
        with httpx.Client(timeout=10) as client:
            assert client.get(url + "/js/app.js").text == "app"
        stats = app.stats()
    assert stats["pathname"]["misses_listed"] >= 250
    assert stats["disk"]["helpers"]["dispatched"] < 40


def test_without_a_backlog_a_new_file_is_found_at_once(tmp_path: Path, live_server) -> None:
    root = write_tree(tmp_path / "site", {"a.txt": "a"})
    app = FlashStatic(directory=root, revalidate_interval=60)
    with live_server(app) as url, httpx.Client(timeout=10) as client:
        assert client.get(url + "/other.txt").status_code == 404
        (root / "new.txt").write_text("new")
        assert client.get(url + "/new.txt").text == "new"


def test_a_cold_file_is_served_while_a_flood_of_misses_fills_the_queue(
    tmp_path: Path, live_server, monkeypatch
) -> None:
    # One helper, a queue of 8, each single lookup 0.2 s. The flood asks for names in a
    # directory too large to list (over LISTING_BYTES) and in directories that do not exist.
    monkeypatch.setenv("SLOW_HELPER_LOOKUP_DELAY", "0.2")
    monkeypatch.setenv("SLOW_HELPER_DELAY", "0")
    files = {f"big/{i:05d}.txt": "x" for i in range(10_000)}
    files["assets/app.js"] = "legit"
    root = write_tree(tmp_path / "site", files)
    app = FlashStatic(directory=root, revalidate_interval=60)
    app.disk.close()
    app.disk = AmpedDisk(64, ProcessPool(1, 1, 8, command=SLOW_HELPER), 512 * 1024)
    flood = [f"/big/missing-{i}.txt" for i in range(40)] + [f"/gone-{i}/x.txt" for i in range(40)]
    with live_server(app) as url:
        statuses: list[int] = []
        attacker = threading.Thread(target=lambda: statuses.extend(_get_all_at_once(url, flood)))
        attacker.start()
        time.sleep(0.1)
        with httpx.Client(timeout=20) as client:
            response = client.get(url + "/assets/app.js")
        attacker.join(60)
    assert response.status_code == 200 and response.text == "legit"
    assert set(statuses) <= {404, 503}
    assert app.disk.pool.stats()["rejected"] > 0  # the flood did fill the queue


def test_a_cold_file_asked_for_without_a_backlog_keeps_its_place_in_the_queue(
    tmp_path: Path, live_server, monkeypatch
) -> None:
    # One helper doing one job at a time, each lookup 0.3 s. /b.txt comes while the helper is busy but nothing waits:
    # no listing is fetched for it, so nothing says it is a guess, and it must not be passed
    # by /c.txt, which comes later (and, finding a backlog, has its directory listed first).
    monkeypatch.setenv("SLOW_HELPER_LOOKUP_DELAY", "0.3")
    monkeypatch.setenv("SLOW_HELPER_DELAY", "0")
    root = write_tree(tmp_path / "site", {"a.txt": "a", "b.txt": "b", "c.txt": "c", "w.txt": "w"})
    app = FlashStatic(directory=root, revalidate_interval=60)
    app.disk.close()
    app.disk = AmpedDisk(64, ProcessPool(1, 1, 256, command=SLOW_HELPER, helper_threads=1), 512 * 1024)
    done: dict[str, float] = {}

    def fetch(url: str, path: str) -> None:
        with httpx.Client(timeout=20) as client:
            assert client.get(url + path).text == path[1]
        done[path] = time.monotonic()

    with live_server(app) as url:
        fetch(url, "/w.txt")  # the helper is started and idle
        threads = [threading.Thread(target=fetch, args=(url, path)) for path in ("/a.txt", "/b.txt", "/c.txt")]
        for thread in threads:
            thread.start()
            time.sleep(0.1)
        for thread in threads:
            thread.join(20)
    # Passed, /b.txt would end with /c.txt, its lookup and its open behind c's.
    assert done["/b.txt"] < done["/c.txt"] - 0.15


def test_a_lookup_in_the_lesser_lane_is_not_starved_by_a_steady_main_lane(tmp_path: Path, monkeypatch) -> None:
    # One helper doing one job at a time, each lookup 0.05 s. A guess waits while the main lane
    # never empties; it still gets a helper within a few main-lane jobs, not only once they
    # stop coming.
    monkeypatch.setenv("SLOW_HELPER_LOOKUP_DELAY", "0.05")
    root = write_tree(tmp_path / "site", {f"f{i}.txt": "x" for i in range(40)})
    rules = FlashStatic(directory=root).options.rules
    pool = ProcessPool(1, 1, 256, command=SLOW_HELPER, helper_threads=1)
    order: list[str] = []

    async def lookup(path: str, speculative: bool = False) -> None:
        await pool.run("translate", (rules, path), speculative=speculative)
        order.append(path)

    async def scenario() -> None:
        await lookup("/f0.txt")  # the helper is started
        steady = [asyncio.ensure_future(lookup(f"/f{i}.txt")) for i in range(1, 20)]
        guess = asyncio.ensure_future(lookup("/guess.txt", speculative=True))
        await asyncio.sleep(0.2)
        steady += [asyncio.ensure_future(lookup(f"/f{i}.txt")) for i in range(20, 40)]
        await asyncio.gather(guess, *steady)

    try:
        asyncio.run(scenario())
    finally:
        pool.close()
    assert order.index("/guess.txt") < 12
