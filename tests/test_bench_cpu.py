"""The disk-bound benchmark's account of the CPU time the servers and the slow disk used."""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.disk_bound import CpuSnapshot, _load_notes, cpu_between

BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"


def test_percent_of_one_core_per_process_group_and_the_machine() -> None:
    before = CpuSnapshot({10: 1.0, 11: 2.0}, 5.0, (1_000, 4_000), 100.0)
    # Over 2 s: pid 10 used 1 s, 11 ended (left out), 12 started and used 0.5 s; slowfs 0.4 s.
    after = CpuSnapshot({10: 2.0, 12: 0.5}, 5.4, (1_300, 4_400), 102.0)
    assert cpu_between(before, after) == {
        "server_percent": 75.0,
        "busiest_percent": 50.0,
        "slowfs_percent": 20.0,
        "machine_busy_percent": 75.0,
    }


def test_a_snapshot_counts_every_process_of_the_group() -> None:
    # A group of two processes that each burn 0.4 s of CPU, and a slowfs stand-in that sleeps.
    leader = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys\n{BURN}subprocess.run([sys.executable, '-c', {BURN!r}])"],
        start_new_session=True,
    )
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.05)
        before = CpuSnapshot.take(leader.pid, idle.pid)
        deadline = time.monotonic() + 10
        after = before
        # Until the child is running and has burnt its share too, or the leader is done.
        while time.monotonic() < deadline and leader.poll() is None:
            after = CpuSnapshot.take(leader.pid, idle.pid)
            if sum(after.server.values()) - sum(before.server.values()) > 0.6:
                break
            time.sleep(0.05)
        used = cpu_between(before, after)
        assert len(after.server) == 2
        assert used["server_percent"] > 0 and used["slowfs_percent"] < 5
        assert 0 < used["busiest_percent"] <= used["server_percent"]
        assert 0 < used["machine_busy_percent"] <= 100
    finally:
        for proc in (leader, idle):
            proc.kill()
            proc.wait()


def test_the_progress_line_notes_what_was_measured_and_nothing_else() -> None:
    cpu = {"server_percent": 120.4, "busiest_percent": 93.6, "slowfs_percent": 37.0, "machine_busy_percent": 86.2}
    collections = {"count": 1, "max_ms": 46.2, "max_cpu_ms": 46.1, "tracked": 55528}
    assert _load_notes({"cpu": cpu}) == (
        "; CPU: server 120% (its busiest process 94%), slowfs 37% (of one core), machine 86% busy"
    )
    both = _load_notes({"cpu": cpu, "full_collections": collections})
    assert both.startswith("; full GCs 1, longest 46.2 ms (46.1 ms CPU), 55,528 objects tracked; CPU: server 120%")
    assert _load_notes({}) == ""
