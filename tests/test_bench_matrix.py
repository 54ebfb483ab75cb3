"""The targets matrix: each benchmark's results become table rows with the right ratios and
verdicts, without any server (the results here are made up)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compare, disk_bound, large_files, worker_scaling
from benchmarks.matrix import (
    Row,
    Settings,
    benchmarks_for,
    compare_rows,
    disk_argv,
    disk_rows,
    failed_rows,
    large_rows,
    measured_cell,
    parse_targets,
    rows_from_json,
    scaling_rows,
    selected,
    summary,
    table,
    threshold_cell,
    verdict,
    write_json,
)


def by_compared(rows: list[Row]) -> dict[str, Row]:
    return {row.compared: row for row in rows}


def test_a_floor_is_met_at_the_threshold_and_a_ceiling_too() -> None:
    assert verdict(Row(1, "x", 0.75, 0.75)) == "met"
    assert verdict(Row(1, "x", 0.7499, 0.75)) == "not met"
    assert verdict(Row(4, "p99", 1.0, 1.0, at_most=True)) == "met"
    assert verdict(Row(4, "p99", 1.01, 1.0, at_most=True)) == "not met"


def test_a_row_without_a_threshold_is_reported_and_one_without_a_figure_not_measured() -> None:
    assert verdict(Row(1, "x", 1.2)) == "reported"
    assert verdict(Row(1, "x", None, 0.9)) == "not measured"


def compare_results(rates: dict[str, dict[str, list[float]]]) -> compare.Rows:
    return {
        server: {load: [(rate, 10.0) for rate in values] for load, values in loads.items()}
        for server, loads in rates.items()
    }


def full_compare(**overrides: dict[str, list[float]]) -> compare.Rows:
    both = {compare.IDENTICAL: [1000.0], compare.UNIQUE_LOAD: [1000.0]}
    unique = {compare.UNIQUE_LOAD: [1000.0]}
    rates = {
        compare.NGINX: both,
        compare.NGINX_LOG: both,
        compare.SERVE: both,
        compare.SERVE_LOG: both,
        compare.RAW: both,
        compare.MIDDLEWARE: unique,
        compare.MISS: unique,
        compare.ALONE: unique,
    }
    return compare_results({**rates, **overrides})


def test_compare_ratios_are_medians_of_the_rounds_over_the_other_servers() -> None:
    rows = full_compare(
        **{
            compare.SERVE_LOG: {compare.IDENTICAL: [900.0, 100.0, 950.0], compare.UNIQUE_LOAD: [700.0, 800.0, 10.0]},
            compare.NGINX_LOG: {compare.IDENTICAL: [1000.0], compare.UNIQUE_LOAD: [1000.0]},
        }
    )
    found = by_compared(compare_rows(rows))
    on = found["serve / nginx, no two alike, access logs on"]
    assert on.target == 1 and on.measured == pytest.approx(0.7) and verdict(on) == "not met"
    assert found["serve / nginx, identical requests, access logs on"].measured == pytest.approx(0.9)
    assert verdict(found["serve / nginx, identical requests, access logs on"]) == "reported"
    assert on.detail == "700/s against 1,000/s"
    cost = found["serve, access log on / off, no two alike"]
    assert cost.target == 2 and cost.measured == pytest.approx(0.7) and verdict(cost) == "not met"


def test_requests_whose_log_lines_differ_set_the_logs_targets_too() -> None:
    lines = {compare.NEW_LINES: [1000.0]}
    rows = full_compare(
        **{
            compare.NGINX: lines,
            compare.NGINX_LOG: {compare.NEW_LINES: [900.0]},
            compare.SERVE: {compare.NEW_LINES: [1000.0]},
            compare.SERVE_LOG: {compare.NEW_LINES: [600.0]},
        }
    )
    found = by_compared(compare_rows(rows))
    on = found["serve / nginx, no two log lines alike, access logs on"]
    assert (on.target, on.measured, on.threshold, verdict(on)) == (1, pytest.approx(600 / 900), 0.75, "not met")
    cost = found["serve, access log on / off, no two log lines alike"]
    assert (cost.target, cost.measured, cost.threshold, verdict(cost)) == (2, pytest.approx(0.6), 0.95, "not met")
    assert verdict(found["nginx, access log on / off, no two log lines alike"]) == "reported"
    assert verdict(found["serve, access log on / off, no two alike"]) == "not measured"


def test_a_server_compare_did_not_measure_leaves_its_ratios_not_measured() -> None:
    rows = full_compare()
    del rows[compare.MISS]
    found = by_compared(compare_rows(rows))
    assert verdict(found["middleware, a miss / the app alone, no two alike"]) == "not measured"
    assert verdict(found["middleware, 1 KiB file / raw ASGI app, no two alike"]) == "met"


def test_compare_targets_and_thresholds() -> None:
    rows = full_compare(
        **{
            compare.MIDDLEWARE: {compare.UNIQUE_LOAD: [800.0]},
            compare.MISS: {compare.UNIQUE_LOAD: [949.0]},
            compare.SERVE: {compare.IDENTICAL: [1000.0], compare.UNIQUE_LOAD: [900.0]},
            compare.SERVE_LOG: {compare.IDENTICAL: [1000.0], compare.UNIQUE_LOAD: [855.0]},
        }
    )
    found = by_compared(compare_rows(rows))
    off = found["serve / nginx, no two alike, access logs off"]
    assert (off.measured, off.threshold, verdict(off)) == (pytest.approx(0.9), 0.9, "met")
    assert verdict(found["serve, access log on / off, no two alike"]) == "met"  # 855 / 900 = 0.95
    middleware = found["middleware, 1 KiB file / raw ASGI app, no two alike"]
    assert (middleware.target, middleware.threshold, verdict(middleware)) == (3, 0.8, "met")
    miss = found["middleware, a miss / the app alone, no two alike"]
    assert (miss.threshold, verdict(miss)) == (0.95, "not met")
    assert {row.target for row in compare_rows(rows)} == {1, 2, 3}


def disk_run(rps: float, p99: float) -> dict[str, Any]:
    return {"runs": {"disk-bound": {"static": {"rps": rps}, "dynamic": {"p99_ms": p99}}}, "idle": {"p99_ms": 1.0}}


def disk_results(**archs: dict[str, Any]) -> dict[str, Any]:
    return {"archs": archs}


def test_disk_rows_compare_amped_with_nginx_aio_sped_and_its_own_idle_p99() -> None:
    results = disk_results(
        amped=disk_run(1500.0, 2.5),
        sped=disk_run(150.0, 1500.0),
        nginx=disk_run(160.0, 750.0),
        **{"nginx-aio": disk_run(2000.0, 4.0)},
    )
    found = by_compared(disk_rows(results))
    throughput = found["AMPED / nginx aio threads, static req/s"]
    assert (throughput.measured, verdict(throughput)) == (pytest.approx(0.75), "not met")
    assert throughput.detail == "1,500/s against 2,000/s"
    p99 = found["AMPED / nginx aio threads, /dynamic p99"]
    assert (p99.measured, p99.at_most, verdict(p99)) == (pytest.approx(0.625), True, "met")
    assert verdict(found["AMPED / SPED, static req/s"]) == "met"
    idle = found["AMPED, /dynamic p99 / idle p99"]
    assert (idle.measured, verdict(idle)) == (pytest.approx(2.5), "met")
    assert found["AMPED / blocking nginx, static req/s"].measured == pytest.approx(1500 / 160)
    assert verdict(found["AMPED / blocking nginx, static req/s"]) == "reported"
    assert found["nginx aio threads, /dynamic p99 / idle p99"].measured == pytest.approx(4.0)


def test_an_arch_that_did_not_run_leaves_its_rows_not_measured() -> None:
    results = disk_results(
        amped=disk_run(1500.0, 2.5),
        sped={"status": "skipped", "runs": {}},
        **{"amped-protocol": {"runs": {"disk-bound": {"status": "failed"}}}, "nginx-aio": disk_run(2000.0, 4.0)},
    )
    found = by_compared(disk_rows(results))
    assert verdict(found["AMPED / SPED, static req/s"]) == "not measured"
    assert verdict(found["AMPED, flashstatic's protocol / nginx aio threads, static req/s"]) == "not measured"
    assert verdict(found["AMPED / nginx aio threads, static req/s"]) == "not met"
    assert measured_cell(found["AMPED / blocking nginx, /dynamic p99"]) == "n/a (2.5 ms against n/a)"


def test_disk_rows_read_what_disk_bound_reports_for_the_every_miss_command() -> None:
    args = disk_bound.parse_args(disk_argv(Settings(quick=False, workdir="/nonexistent/matrix")))
    assert args.arch_list == ["amped", "amped-protocol", "sped", "nginx", "nginx-aio"]
    assert (args.connections, args.miss_ratio, args.workload_list) == (16, 1.0, ["disk-bound"])
    assert (args.duration, args.rate_guess, args.workdir) == (10.0, 5000.0, "/nonexistent/matrix")
    quick = disk_bound.parse_args(disk_argv(Settings(quick=True, workdir="/nonexistent/matrix")))
    assert quick.quick and quick.duration <= 4 and quick.miss_ratio == 1.0


def large(serve: float, nginx: float) -> dict[str, dict[str, float]]:
    return {
        large_files.SERVE: {"MiB/s": serve},
        large_files.NGINX: {"MiB/s": nginx},
        large_files.STARLETTE: {"MiB/s": 1.0},
    }


def test_large_files_keep_the_figures_measured_so_far() -> None:
    rows = large_rows({100: large(1150.0, 1000.0), 1: large(1370.0, 1000.0), 10: large(900.0, 1000.0)})
    assert [row.compared for row in rows] == [
        "serve / nginx, 1 MiB file, MiB/s",
        "serve / nginx, 10 MiB file, MiB/s",
        "serve / nginx, 100 MiB file, MiB/s",
    ]
    assert [(row.threshold, verdict(row)) for row in rows] == [(1.38, "not met"), (None, "reported"), (1.15, "met")]
    assert rows[0].detail == "1,370 MiB/s against 1,000 MiB/s"


def test_workers_scale_like_nginx_when_the_gains_are_close() -> None:
    unique = "1 KiB, no two requests alike"
    serve, nginx = worker_scaling.SERVE, worker_scaling.NGINX
    rates = {
        (serve, "1 KiB", 1): 100.0,
        (serve, "1 KiB", 2): 180.0,
        (nginx, "1 KiB", 1): 100.0,
        (nginx, "1 KiB", 2): 200.0,
        (serve, unique, 1): 50.0,
        (serve, unique, 2): 80.0,
        (nginx, unique, 1): 100.0,
        (nginx, unique, 2): 190.0,
    }
    rows = scaling_rows(rates)
    assert [(row.compared, row.target) for row in rows] == [
        ("serve's gain 1 to 2 workers / nginx's, 1 KiB", 6),
        (f"serve's gain 1 to 2 workers / nginx's, {unique}", 6),
    ]
    assert rows[0].measured == pytest.approx(0.9) and verdict(rows[0]) == "met"
    assert rows[0].detail == "1.80x against 2.00x"
    assert rows[1].measured == pytest.approx(1.6 / 1.9) and verdict(rows[1]) == "not met"


def test_only_the_benchmarks_the_targets_need_run_once_each() -> None:
    assert benchmarks_for({1, 2, 3, 4, 5, 6}) == ["compare", "disk_bound", "large_files", "worker_scaling"]
    assert benchmarks_for({2, 3}) == ["compare"]
    assert benchmarks_for({6, 1}) == ["compare", "worker_scaling"]


def test_only_parses_target_numbers() -> None:
    assert parse_targets("1,4") == {1, 4}
    assert parse_targets("") == {1, 2, 3, 4, 5, 6}
    with pytest.raises(argparse.ArgumentTypeError, match="no target"):
        parse_targets("1,7")


def test_a_selected_target_keeps_only_its_rows() -> None:
    rows = [Row(1, "a", 1.0), Row(2, "b", 1.0), Row(3, "c", 1.0)]
    assert [row.compared for row in selected(rows, {1, 3})] == ["a", "c"]


def test_a_failed_benchmark_marks_its_targets_not_measured_with_the_reason() -> None:
    rows = failed_rows("compare", {2, 1}, "RuntimeError: wrk saw errors")
    assert [row.target for row in rows] == [1, 2]
    assert all(verdict(row) == "not measured" for row in rows)
    assert measured_cell(rows[0]) == "n/a (compare: RuntimeError: wrk saw errors)"


def test_the_table_has_one_line_per_row_with_threshold_and_verdict() -> None:
    rows = [
        Row(1, "serve / nginx", 0.8, 0.75, detail="800 against 1,000"),
        Row(4, "p99 / nginx's", 1.5, 1.0, at_most=True),
        Row(4, "blocking nginx", 9.4),
        Row(5, "large", None, 1.15),
    ]
    lines = table(rows).splitlines()
    assert lines[0] == "| target | compared | measured | threshold | verdict |"
    assert lines[2] == "| 1 | serve / nginx | 0.80 (800 against 1,000) | >= 0.75 | met |"
    assert lines[3] == "| 4 | p99 / nginx's | 1.50 | <= 1.00 | not met |"
    assert lines[4] == "| 4 | blocking nginx | 9.40 |  | reported |"
    assert lines[5] == "| 5 | large | n/a | >= 1.15 | not measured |"
    assert threshold_cell(rows[2]) == ""
    assert measured_cell(Row(4, "p99 / blocking nginx", 10.2 / 1120.6)) == "0.009"
    assert summary(rows) == "1 met, 1 not met, 1 not measured"


def test_a_saved_run_gives_back_its_rows(tmp_path: Path) -> None:
    rows = [
        Row(1, "serve / nginx", 0.87, 0.75, detail="58,740/s against 67,543/s"),
        Row(4, "p99", 13.1, 1.0, at_most=True),
        Row(6, "not run", None, detail="worker_scaling: no cgroup"),
    ]
    write_json(str(tmp_path / "run.json"), rows, {"compare": {}})
    assert rows_from_json(str(tmp_path / "run.json")) == rows
