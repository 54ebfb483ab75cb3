"""The Prometheus text format, checked with the reference parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from flashstatic.metrics import Family, LoopLagMonitor, plan_metrics, render


def test_render_families_with_escaping() -> None:
    text = render(
        [
            Family("x_total", "counter", "Help with \\ and\nnewline.").add(3, kind='a"b\\c\nd').add(4, kind="plain"),
            Family("y", "gauge", "A gauge.").add(0.25),
            Family("empty_total", "counter", "No samples, no lines."),
        ]
    )
    assert text.splitlines()[:2] == ["# HELP x_total Help with \\\\ and\\nnewline.", "# TYPE x_total counter"]
    assert "empty_total" not in text and text.endswith("\n")
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert parsed["x"].type == "counter" and parsed["x"].documentation == "Help with \\ and\nnewline."
    assert {s.labels["kind"]: s.value for s in parsed["x"].samples} == {'a"b\\c\nd': 3, "plain": 4}
    assert parsed["y"].type == "gauge" and parsed["y"].samples[0].value == 0.25


def test_lag_monitor_records() -> None:
    monitor = LoopLagMonitor(threshold=0.1)
    for lag in (0.0, 0.05, 0.2, 0.1, 0.5):
        monitor.record(lag)
    assert (monitor.checks, monitor.stalls, monitor.max_lag) == (5, 2, 0.5)


def test_method_not_allowed_and_head() -> None:
    assert plan_metrics("POST", {}).status == 405
    head = plan_metrics("HEAD", _metrics())
    get = plan_metrics("GET", _metrics())
    assert head.body == () and head.headers == get.headers


def _metrics() -> dict:
    counters = {"hits": 1, "misses": 2, "evictions": 0}
    return {
        "pathname": {**counters, "entries": 1, "revalidations": 0},
        "headers": dict(counters),
        "bodies": {**counters, "bytes": 10},
        "disk": {"architecture": "sped", "open_files": {"hits": 0, "misses": 1}},
        "transmissions": {},
        "traffic": {"responses": 0, "body_bytes": 0, "sendfile_bytes": 0},
        "loop": None,
    }
