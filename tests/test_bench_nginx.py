"""The disk-bound benchmark's nginx servers answer what the benchmark's app answers, at the same
paths, and the aio variant really has a thread pool; the report's AMPED-over-nginx ratios."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from benchmarks.disk_bound import amped_vs_nginx, make_server
from benchmarks.serverproc import process_tree


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
@pytest.mark.parametrize("arch", ["nginx", "nginx-aio"])
def test_nginx_serves_static_and_dynamic_like_the_app(tmp_path: Path, arch: str) -> None:
    files = tmp_path / "files"
    (files / "dir00000").mkdir(parents=True)
    (files / "dir00000" / "class1_4").write_bytes(b"x" * 5000)
    server = make_server(arch, str(files), str(tmp_path), {})
    server.start(timeout=10)
    try:
        assert server.get("/static/dir00000/class1_4") == (200, b"x" * 5000)
        assert server.get("/static/dir00000/missing")[0] == 404
        status, body = server.get("/dynamic")
        assert status == 200
        assert set(json.loads(body)) == {"n", "t"}
        assert server.proc is not None
        (worker,) = [pid for pid in process_tree(server.proc.pid) if pid != server.proc.pid]
        # aio threads: the worker holds its thread pool; blocking reads: the worker alone.
        assert (_threads(worker) > 1) == (arch == "nginx-aio")
    finally:
        server.stop()
    assert not os.path.exists(server.conf_dir)


def test_amped_vs_nginx_divides_amped_by_each_nginx() -> None:
    def run(rps: float, p99: float) -> dict[str, object]:
        return {"runs": {"disk-bound": {"static": {"rps": rps}, "dynamic": {"p99_ms": p99}}}}

    archs = {
        "amped": run(3000, 10.0),
        "amped-protocol": run(6000, 5.0),
        "nginx": run(1500, 40.0),
        "nginx-aio": run(12000, 5.0),
    }
    assert amped_vs_nginx(archs, "disk-bound") == {
        "amped / nginx-aio": {"static_rps": 0.25, "dynamic_p99": 2.0},
        "amped / nginx": {"static_rps": 2.0, "dynamic_p99": 0.25},
        "amped-protocol / nginx-aio": {"static_rps": 0.5, "dynamic_p99": 1.0},
        "amped-protocol / nginx": {"static_rps": 4.0, "dynamic_p99": 0.125},
    }
    assert amped_vs_nginx(archs, "cached") == {}
    assert amped_vs_nginx({"amped": run(3000, 10.0)}, "disk-bound") == {}
