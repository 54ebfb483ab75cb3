"""AMPED: residency probes, the helper pool, and a loop that never waits for the disk."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from flashstatic import FlashStatic
from flashstatic.amped import jobs
from flashstatic.amped.pool import HelperFailed, ProcessPool, ThreadPool
from flashstatic.amped.residency import (
    NoWaitSupport,
    Probe,
    cachestat_resident,
    choose_probe,
    mincore_resident,
    read_if_resident,
)
from flashstatic.amped.strategy import AmpedDisk
from flashstatic.config import Root
from flashstatic.translate import FoundFile, TranslationRules
from support import body_of, call_asgi

REPO = Path(__file__).resolve().parents[1]
SLOW_HELPER = (sys.executable, str(REPO / "tests" / "slow_helper.py"))
MIB = 1024 * 1024


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache, as a cold disk would have them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.fixture
def cold(tmp_path: Path) -> Path:
    for name in ("a.bin", "b.bin", "c.bin", "d.bin"):
        (tmp_path / name).write_bytes(os.urandom(2 * MIB))
        evict(tmp_path / name)
    return tmp_path


def test_probes_see_eviction_and_reads(cold: Path) -> None:
    fd = os.open(cold / "a.bin", os.O_RDONLY)
    try:
        assert cachestat_resident(fd, 0, MIB) is False
        assert mincore_resident(fd, 0, MIB) is False
        # RWF_NOWAIT never waits, but the read it starts may finish at once on a fast virtual
        # disk, and then its pages come back: a prefix of the file, or nothing.
        early = read_if_resident(fd, 0, MIB)
        os.pread(fd, MIB, 0)
        assert early == (cold / "a.bin").read_bytes()[: len(early)]
        assert cachestat_resident(fd, 0, MIB) is True
        assert mincore_resident(fd, 0, MIB) is True
        assert len(read_if_resident(fd, 0, MIB)) == MIB
        assert choose_probe(fd, os.fstat(fd), NoWaitSupport()) is Probe.CACHESTAT  # we own it
    finally:
        os.close(fd)


# Everything is imported before dropping to nobody, who may not read the interpreter's files.
_AS_NOBODY = """
import json, os, sys
sys.path.insert(0, sys.argv[2])
from flashstatic.amped.residency import (NoWaitSupport, cachestat_resident, choose_probe,
                                         mincore_is_truthful, read_if_resident)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
fd = os.open(sys.argv[1], os.O_RDONLY)
st = os.fstat(fd)
nowait = NoWaitSupport()
# read first: a missed RWF_NOWAIT read starts readahead, so probing first would warm the file.
result = {"nowait_bytes": len(read_if_resident(fd, 0, 1 << 20)), "truthful": mincore_is_truthful(st),
          "cachestat": cachestat_resident(fd, 0, 1 << 20), "probe": choose_probe(fd, st, nowait).value}
nowait.refuse(st.st_dev)  # as on FUSE, where RWF_NOWAIT is not supported
result["probe_without_nowait"] = choose_probe(fd, st, nowait).value
print(json.dumps(result))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to uid nobody needs root")
def test_non_owner_never_trusts_mincore() -> None:
    # A root-owned file read by uid nobody: mincore would claim every page resident.
    directory = tempfile.mkdtemp(dir="/tmp")
    try:
        os.chmod(directory, 0o755)
        path = Path(directory) / "root-owned.bin"
        path.write_bytes(os.urandom(2 * MIB))
        os.chmod(path, 0o644)
        evict(path)
        out = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, str(path), str(REPO)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        result = json.loads(out.stdout)
        assert result["truthful"] is False
        assert result["cachestat"] is None  # the kernel refuses cachestat to a non-owner
        assert result["probe"] == "nowait" and result["nowait_bytes"] == 0  # truthfully cold
        assert result["probe_without_nowait"] == "heuristic"
    finally:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


def amped_app(root: Path, backend: str = "process", slow: bool = False, **pool: int) -> FlashStatic:
    app = FlashStatic(directory=root, architecture="amped", small_file_max=0)
    if backend == "process":
        command = SLOW_HELPER if slow else (sys.executable, "-m", "flashstatic.amped.helper")
        app.disk.close()
        app.disk = AmpedDisk(
            256,
            ProcessPool(
                pool.get("min", 1),
                pool.get("max", 4),
                pool.get("queue", 256),
                command=command,
                helper_threads=pool.get("threads", 4),
            ),
            512 * 1024,
        )
    else:
        app.disk.close()
        app.disk = AmpedDisk(256, ThreadPool(pool.get("max", 4), pool.get("queue", 256)), 512 * 1024)
    return app


@pytest.mark.parametrize("backend", ["process", "thread"])
def test_only_cold_chunks_go_to_helpers(cold: Path, backend: str) -> None:
    app = amped_app(cold, backend)

    async def scenario() -> None:
        first = await call_asgi(app, "/a.bin")
        assert body_of(first) == (cold / "a.bin").read_bytes()
        stats = app.disk.stats()
        assert stats["helper_reads"] > 0 and stats["probes"]["cachestat"] == 1
        before = dict(stats)
        again = await call_asgi(app, "/a.bin")
        assert body_of(again) == (cold / "a.bin").read_bytes()
        after = app.disk.stats()
        assert after["helper_reads"] == before["helper_reads"]  # warm now: no helper
        assert after["resident_reads"] > before["resident_reads"]

    asyncio.run(scenario())
    app.close()


@pytest.mark.parametrize("probe", [Probe.NOWAIT, Probe.MINCORE, Probe.HEURISTIC])
def test_every_probe_serves_cold_files_through_helpers(cold: Path, probe: Probe) -> None:
    app = amped_app(cold)

    async def scenario() -> None:
        file = await app.disk.open(
            app.core.store("/b.bin", await app.disk.translate(app.options.rules, "/b.bin"), 0).identity.facts,
            app.options.rules,
        )
        file.probe = probe  # as the strategy would pick for a filesystem without RWF_NOWAIT
        data = await app.disk.read(file, 0, MIB)
        assert data == (cold / "b.bin").read_bytes()[:MIB]
        # One page-in; none for RWF_NOWAIT when the read it started finished at once (above).
        helper_reads = app.disk.stats()["helper_reads"]
        assert helper_reads == 1 or (probe is Probe.NOWAIT and helper_reads == 0)
        assert await app.disk.read(file, 0, MIB) == data
        assert app.disk.stats()["helper_reads"] == helper_reads  # resident (or recently read) the second time
        app.disk.release(file)

    asyncio.run(scenario())
    app.close()


def dynamic_beside(static: FlashStatic) -> FlashStatic:
    async def dynamic(request):
        return PlainTextResponse("dynamic")

    static.app = Starlette(routes=[Route("/dynamic", dynamic)])
    return static


def _fetch_in_thread(url: str, results: dict[str, object]) -> threading.Thread:
    def fetch() -> None:
        try:
            with httpx.Client(timeout=30) as client:
                results["response"] = client.get(url)
        except Exception as exc:  # recorded for the assertion
            results["error"] = exc

    thread = threading.Thread(target=fetch)
    thread.start()
    return thread


@pytest.mark.parametrize("backend", ["process", "thread"])
def test_cold_read_never_stalls_the_loop(cold: Path, backend: str, live_server, monkeypatch) -> None:
    monkeypatch.setenv("SLOW_HELPER_DELAY", "1.5")
    real_page_in = jobs.page_in
    monkeypatch.setattr(jobs, "page_in", lambda *a: (time.sleep(1.5), real_page_in(*a)))
    app = dynamic_beside(amped_app(cold, backend, slow=True))
    with live_server(app) as url:
        results: dict[str, object] = {}
        started = time.monotonic()
        thread = _fetch_in_thread(url + "/a.bin", results)
        time.sleep(0.3)
        with httpx.Client(timeout=10) as client:
            for _ in range(5):
                t0 = time.monotonic()
                assert client.get(url + "/dynamic").text == "dynamic"
                assert time.monotonic() - t0 < 0.5  # answered while the cold read is in progress
        assert "response" not in results  # the static transfer really was still waiting
        thread.join(30)
        response = results["response"]
        assert isinstance(response, httpx.Response)
        assert response.content == (cold / "a.bin").read_bytes()
        assert time.monotonic() - started >= 1.5


def _busy_helper_pid(pool: ProcessPool, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for helper in list(pool._helpers):
            if any(job.kind == "page_in" for job in helper.jobs.values()):
                return helper.process.pid
        time.sleep(0.02)
    raise AssertionError("no helper became busy")


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_helper_killed_mid_job_is_replaced_and_the_job_retried(cold: Path, live_server, monkeypatch) -> None:
    monkeypatch.setenv("SLOW_HELPER_DELAY", "1")
    app = amped_app(cold, slow=True)
    pool = app.disk.pool
    with live_server(app) as url:
        results: dict[str, object] = {}
        thread = _fetch_in_thread(url + "/a.bin", results)
        victim = _busy_helper_pid(pool)
        os.kill(victim, signal.SIGKILL)
        thread.join(30)
        response = results["response"]
        assert isinstance(response, httpx.Response)
        assert response.status_code == 200 and response.content == (cold / "a.bin").read_bytes()
        assert pool.stats()["lost"] == 1 and pool.stats()["failed"] == 0
        time.sleep(0.1)
        assert not _alive(victim)  # reaped, not a zombie


def test_helper_killed_twice_fails_one_response_cleanly(cold: Path, live_server, monkeypatch) -> None:
    monkeypatch.setenv("SLOW_HELPER_DELAY", "1")
    app = amped_app(cold, slow=True)
    pool = app.disk.pool
    with live_server(app) as url:
        fds: list[int] = []
        for _ in range(4):
            evict(cold / "c.bin")
            results: dict[str, object] = {}
            thread = _fetch_in_thread(url + "/c.bin", results)
            first = _busy_helper_pid(pool)
            os.kill(first, signal.SIGKILL)
            while _busy_helper_pid(pool) == first:
                time.sleep(0.02)
            os.kill(_busy_helper_pid(pool), signal.SIGKILL)
            thread.join(30)
            # The headers had gone out, so the response is cut: the client sees an incomplete body.
            assert isinstance(results.get("error"), httpx.RemoteProtocolError), results
            time.sleep(0.1)
            fds.append(len(os.listdir("/proc/self/fd")))
        assert pool.stats()["failed"] == 4
        assert fds[-1] <= fds[0] + 1  # repeated faults leak no descriptors
        # The server goes on: the next request is served whole.
        with httpx.Client(timeout=30) as client:
            assert client.get(url + "/d.bin").content == (cold / "d.bin").read_bytes()
        assert len(pool.pids) <= pool.max_helpers


def test_full_queue_is_a_503_and_the_pool_recovers(cold: Path, live_server, monkeypatch) -> None:
    # Every job holds the one helper for a second, translations too: whether a page-in is
    # needed at all depends on readahead, which a fast disk may finish before the probe.
    for delay in ("SLOW_HELPER_DELAY", "SLOW_HELPER_LOOKUP_DELAY", "SLOW_HELPER_TRANSLATE_DELAY"):
        monkeypatch.setenv(delay, "1")
    app = amped_app(cold, slow=True, min=1, max=1, queue=1, threads=1)  # one job at a time
    with live_server(app) as url:
        with httpx.Client(timeout=10) as client:
            client.get(url + "/a.bin", headers={"range": "bytes=0-0"})  # translated and opened
            evict(cold / "a.bin")
        outcomes: list[dict[str, object]] = [{} for _ in range(4)]
        threads = [_fetch_in_thread(url + f"/{name}.bin", outcomes[i]) for i, name in enumerate("abcd")]
        for thread in threads:
            thread.join(30)
        statuses = sorted(o["response"].status_code for o in outcomes if "response" in o)  # type: ignore[union-attr]
        assert 503 in statuses and 200 in statuses
        busy = [o["response"] for o in outcomes if "response" in o and o["response"].status_code == 503]  # type: ignore[union-attr]
        assert busy[0].headers["retry-after"] == "1"  # type: ignore[union-attr]
        assert app.disk.pool.stats()["rejected"] >= 1
        with httpx.Client(timeout=30) as client:
            for name in "abcd":
                assert client.get(url + f"/{name}.bin").content == (cold / f"{name}.bin").read_bytes()


def test_shutdown_leaves_no_helpers(cold: Path, live_server) -> None:
    app = amped_app(cold, min=2, max=2)
    with live_server(app) as url:
        with httpx.Client(timeout=30) as client:
            assert client.get(url + "/a.bin").status_code == 200
        pids = app.disk.pool.pids
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    time.sleep(0.3)
    assert not any(_alive(pid) for pid in pids)  # stopped and reaped at lifespan shutdown


@pytest.mark.blocking_allowed  # the forked child runs its own loop outside the detector's care
def test_after_fork_the_child_starts_its_own_helpers(cold: Path) -> None:
    app = amped_app(cold)
    asyncio.run(call_asgi(app, "/a.bin"))
    parent_helpers = set(app.disk.pool.pids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        try:
            body = body_of(asyncio.run(call_asgi(app, "/b.bin")))
            ok = body == (cold / "b.bin").read_bytes() and not set(app.disk.pool.pids) & parent_helpers
            os.write(write, b"ok" if ok else b"bad")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 10)
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"ok"
    assert all(_alive(p) for p in parent_helpers)
    assert body_of(asyncio.run(call_asgi(app, "/c.bin"))) == (cold / "c.bin").read_bytes()
    app.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_each_uvicorn_worker_has_its_own_pool(cold: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "worker_app:app",
            "--app-dir",
            str(REPO / "tests"),
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "FLASHSTATIC_TEST_ROOT": str(cold)},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/a.bin", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for _ in range(20):
            httpx.get(f"http://127.0.0.1:{port}/b.bin", headers={"connection": "close"}, timeout=10)
        workers = _children(server.pid)
        assert len(workers) >= 2
        ours = set(workers) | {server.pid}
        helpers = [pid for pid in _all_pids() if b"flashstatic.amped.helper" in _cmdline(pid) and _parent(pid) in ours]
        assert helpers
        assert server.pid not in {_parent(pid) for pid in helpers}  # workers own them, not the supervisor
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
    time.sleep(0.5)
    assert not any(_alive(pid) for pid in helpers)


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _children(pid: int) -> list[int]:
    return [child for child in _all_pids() if _parent(child) == pid]


@pytest.mark.blocking_allowed
def test_the_detector_catches_sped(cold: Path) -> None:
    # The blocking-call detector is what the rest of the suite relies on; show that it bites.
    from blockbuster import BlockingError, blockbuster_ctx

    app = FlashStatic(directory=cold, architecture="sped", small_file_max=0)
    with blockbuster_ctx(scanned_modules=["flashstatic"]), pytest.raises(BlockingError):
        asyncio.run(call_asgi(app, "/a.bin"))


def test_a_helper_stuck_past_the_deadline_is_replaced(cold: Path, monkeypatch) -> None:
    """A page-in that never answers (a disk hung in the kernel) fails its job at the deadline;
    the helper is killed and reaped, and the pool goes on with a new one."""
    monkeypatch.setenv("SLOW_HELPER_DELAY", "30")
    pool = ProcessPool(1, 1, command=SLOW_HELPER, job_timeout=0.5)

    async def scenario() -> tuple[float, int, object]:
        fd = os.open(cold / "a.bin", os.O_RDONLY)
        try:
            started = time.monotonic()
            with pytest.raises(HelperFailed, match=r"no answer from a helper in 0\.5 s"):
                await pool.run("page_in", (0, MIB), fd=fd, bounded=False)
            waited = time.monotonic() - started
            counters = pool.stats()
            rules = FlashStatic(directory=cold, architecture="sped").options.rules
            answer = await pool.run("translate", (rules, "/b.bin"))
            return waited, counters["stuck"], answer
        finally:
            os.close(fd)

    victims: list[int] = []
    original = pool._overdue

    def watching(helper, job):  # type: ignore[no-untyped-def]
        victims.append(helper.process.pid)
        original(helper, job)

    pool._overdue = watching  # type: ignore[method-assign]
    try:
        waited, stuck, answer = asyncio.run(scenario())
    finally:
        pool.close()
    assert 0.5 <= waited < 5
    assert stuck == 1 and len(victims) == 1
    assert answer.facts.size == 2 * MIB
    assert not _alive(victims[0])


def test_a_cold_small_file_is_found_opened_and_read_in_by_one_helper_job(tmp_path: Path) -> None:
    (tmp_path / "small.css").write_bytes(os.urandom(40_000))
    evict(tmp_path / "small.css")
    app = FlashStatic(directory=tmp_path, architecture="amped")  # small bodies read whole

    async def scenario() -> None:
        first = await call_asgi(app, "/small.css")
        assert body_of(first) == (tmp_path / "small.css").read_bytes()

    asyncio.run(scenario())
    stats = app.disk.stats()
    # The lookup opened the file and brought the body in: no open or page-in of its own.
    assert stats["helpers"]["dispatched"] == 1 and stats["resident_reads"] == 1
    assert stats["open_files"]["hits"] == 1
    app.close()


def test_a_file_a_lookup_opened_is_kept_when_its_requester_has_gone(tmp_path: Path, monkeypatch) -> None:
    # The descriptor arrives after the request was given up: it goes to the open-file cache,
    # where the next request finds it, rather than being lost or leaked.
    monkeypatch.setenv("SLOW_HELPER_LOOKUP_DELAY", "0.3")
    (tmp_path / "a.css").write_bytes(b"a" * 1000)
    rules = TranslationRules((Root(str(tmp_path), ""),))
    disk = AmpedDisk(16, ProcessPool(1, 1, 16, command=SLOW_HELPER), 512 * 1024)

    async def scenario() -> None:
        asking = asyncio.ensure_future(disk.translate(rules, "/a.css", opening=4096))
        await asyncio.sleep(0.1)
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        found = await disk.translate(rules, "/a.css", opening=4096)  # the same job, still under way
        assert isinstance(found, FoundFile)
        kept = disk.kept_open(found.facts)
        assert kept is not None and os.pread(kept.fd, 1000, 0) == b"a" * 1000
        disk.release(kept)

    try:
        asyncio.run(scenario())
    finally:
        disk.close()
    assert disk.stats()["helpers"]["dispatched"] == 1


@pytest.mark.parametrize(
    ("method", "headers"),
    [("HEAD", {}), ("GET", {"if-none-match": "*"}), ("GET", {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"})],
)
def test_a_request_that_will_not_read_the_file_has_it_looked_up_only(
    tmp_path: Path, method: str, headers: dict[str, str]
) -> None:
    (tmp_path / "small.css").write_bytes(os.urandom(40_000))
    evict(tmp_path / "small.css")
    app = FlashStatic(directory=tmp_path, architecture="amped")

    async def scenario() -> int:
        return int((await call_asgi(app, "/small.css", method=method, headers=headers))[0]["status"])

    status = asyncio.run(scenario())
    stats = app.disk.stats()
    assert status == (200 if method == "HEAD" else 304)
    # One lookup, and nothing brought in for a body that is not sent.
    assert stats["helpers"]["dispatched"] == 1 and stats["helper_reads"] == 0
    app.close()


def test_one_helper_process_serves_several_cold_files_at_once(
    cold: Path, tmp_path_factory: pytest.TempPathFactory, live_server, monkeypatch
) -> None:
    # Each page-in takes half a second. One helper of four threads reads for the four files
    # together: no second process is started, and page-ins overlap inside the one there is.
    overlap = tmp_path_factory.mktemp("overlap") / "running"
    monkeypatch.setenv("SLOW_HELPER_DELAY", "0.5")
    monkeypatch.setenv("SLOW_HELPER_OVERLAP_FILE", str(overlap))
    app = amped_app(cold, slow=True, min=1, max=1, threads=4)
    with live_server(app) as url:
        outcomes: list[dict[str, object]] = [{} for _ in range(4)]
        threads = [_fetch_in_thread(url + f"/{name}.bin", outcomes[i]) for i, name in enumerate("abcd")]
        for thread in threads:
            thread.join(60)
        assert len(app.disk.pool.pids) == 1
    for name, outcome in zip("abcd", outcomes, strict=True):
        response = outcome["response"]
        assert isinstance(response, httpx.Response) and response.status_code == 200
        assert response.content == (cold / f"{name}.bin").read_bytes()
    assert max(int(line) for line in overlap.read_text().split()) >= 3


def test_a_quick_job_is_answered_while_a_slow_one_holds_the_same_helper(cold: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLOW_HELPER_DELAY", "1")
    pool = ProcessPool(1, 1, command=SLOW_HELPER, helper_threads=2)
    rules = FlashStatic(directory=cold, architecture="sped").options.rules
    order: list[str] = []

    async def scenario() -> None:
        await pool.run("translate", (rules, "/a.bin"))  # the helper is started
        fd = os.open(cold / "a.bin", os.O_RDONLY)
        try:

            async def page_in() -> None:
                await pool.run("page_in", (0, MIB), fd=fd, bounded=False)
                order.append("page_in")

            async def lookup() -> None:
                assert (await pool.run("translate", (rules, "/b.bin"))).facts.size == 2 * MIB
                order.append("translate")

            slow = asyncio.ensure_future(page_in())
            await asyncio.sleep(0.1)
            await asyncio.gather(slow, lookup())
        finally:
            os.close(fd)

    try:
        asyncio.run(scenario())
    finally:
        pool.close()
    assert order == ["translate", "page_in"]


def test_a_helper_killed_for_a_stuck_job_hands_its_other_jobs_to_another(cold: Path, monkeypatch) -> None:
    # The page-in hangs; the lookup beside it in the same helper would take 0.8 s. At the
    # page-in's deadline the helper is killed: the page-in fails, the lookup is done again by
    # a new helper and succeeds.
    monkeypatch.setenv("SLOW_HELPER_DELAY", "30")
    monkeypatch.setenv("SLOW_HELPER_LOOKUP_DELAY", "0.8")
    pool = ProcessPool(1, 1, command=SLOW_HELPER, job_timeout=1.0, helper_threads=2)
    rules = FlashStatic(directory=cold, architecture="sped").options.rules

    async def scenario() -> tuple[BaseException | None, object, list[int]]:
        await pool.run("translate_many", (rules, ["/a.bin"]))  # the helper is started
        first = pool.pids
        fd = os.open(cold / "a.bin", os.O_RDONLY)
        try:
            stuck = asyncio.ensure_future(pool.run("page_in", (0, MIB), fd=fd, bounded=False))
            await asyncio.sleep(0.3)
            answer = await pool.run("translate", (rules, "/b.bin"))
            error = await asyncio.gather(stuck, return_exceptions=True)
        finally:
            os.close(fd)
        return error[0], answer, first

    try:
        error, answer, first = asyncio.run(scenario())
        counters = pool.stats()
    finally:
        pool.close()
    assert isinstance(error, HelperFailed) and "no answer from a helper" in str(error)
    assert answer.facts.size == 2 * MIB  # type: ignore[attr-defined]
    assert counters["stuck"] == 1 and counters["failed"] == 1
    assert not _alive(first[0])


def test_helpers_run_below_the_server_s_priority(cold: Path) -> None:
    pool = ProcessPool(1, 1)
    rules = FlashStatic(directory=cold, architecture="sped").options.rules

    async def scenario() -> int:
        await pool.run("translate", (rules, "/a.bin"))
        return pool.pids[0]

    try:
        pid = asyncio.run(scenario())
        helper_nice = os.getpriority(os.PRIO_PROCESS, pid)
    finally:
        pool.close()
    assert helper_nice == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
