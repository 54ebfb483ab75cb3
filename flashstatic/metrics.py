"""Observability: the counters the pieces already keep, a loop-lag monitor, and the Prometheus
text exposition format (version 0.0.4) to read them over HTTP.

Nothing here runs per request: the caches, the helper pool and the transmit paths count with
plain integer additions where they already did, and this module only reads them when asked.
The loop-lag monitor is the one addition that runs by itself, and only when metrics are on.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .http.respond import ResponsePlan, plan_method_not_allowed
from .server.accounting import TRAFFIC
from .transmit.body import Receive, Send, send_plan
from .version import __version__

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LoopLagMonitor:
    """A callback that asks to run every ``interval`` seconds and measures how late it runs.

    Lateness is time the loop spent on something else without yielding: a blocked loop, the
    thing AMPED exists to prevent. Lateness over ``threshold`` counts as a stall.
    """

    def __init__(self, interval: float = 0.05, threshold: float = 0.1) -> None:
        self.interval = interval
        self.threshold = threshold
        self.checks = 0
        self.stalls = 0
        self.max_lag = 0.0
        self.total_lag = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start on ``loop`` (the running one by default); a second start is a no-op."""
        loop = loop or asyncio.get_running_loop()
        if self._handle is not None and self._loop is loop and not loop.is_closed():
            return
        self.stop()
        self._loop = loop
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        lag = max(0.0, self._loop.time() - self._due)
        self.record(lag)
        self._schedule()

    def record(self, lag: float) -> None:
        self.checks += 1
        self.total_lag += lag
        self.max_lag = max(self.max_lag, lag)
        if lag > self.threshold:
            self.stalls += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "checks": self.checks,
            "stalls": self.stalls,
            "max_lag_seconds": self.max_lag,
            "lag_seconds_total": self.total_lag,
            "stall_threshold_seconds": self.threshold,
        }


# -- the exposition format -----------------------------------------------------------------------


@dataclass
class Family:
    """One metric family: a name, HELP and TYPE, and its samples (labels, value)."""

    name: str
    kind: str  # "counter" or "gauge"
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, value))
        return self


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """The Prometheus text format: HELP and TYPE once per family, then its samples."""
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            if labels:
                inner = ",".join(f'{key}="{_escape_label(str(val))}"' for key, val in labels.items())
                lines.append(f"{family.name}{{{inner}}} {_number(value)}")
            else:
                lines.append(f"{family.name} {_number(value)}")
    return "\n".join(lines) + "\n"


# -- from the stats to the families --------------------------------------------------------------


def _cache_families(stats: Mapping[str, Any]) -> list[Family]:
    hits = Family("flashstatic_cache_hits_total", "counter", "Lookups answered by a cache.")
    misses = Family("flashstatic_cache_misses_total", "counter", "Lookups a cache could not answer.")
    evictions = Family("flashstatic_cache_evictions_total", "counter", "Entries a cache dropped to stay in bounds.")
    caches = {
        "pathname": stats["pathname"],
        "headers": stats["headers"],
        "bodies": stats["bodies"],
        "open_files": stats["disk"].get("open_files", {}),
    }
    for cache, counters in caches.items():
        if "hits" in counters:
            hits.add(counters["hits"], cache=cache)
            misses.add(counters["misses"], cache=cache)
        if "evictions" in counters and cache != "headers":  # headers leave with their pathname entry
            evictions.add(counters["evictions"], cache=cache)
    return [
        hits,
        misses,
        evictions,
        Family("flashstatic_pathname_cache_entries", "gauge", "Paths in the pathname translation cache.").add(
            stats["pathname"]["entries"]
        ),
        Family(
            "flashstatic_pathname_revalidations_total",
            "counter",
            "Pathname cache entries checked again by stat after revalidate_interval.",
        ).add(stats["pathname"]["revalidations"]),
        Family("flashstatic_body_cache_bytes", "gauge", "Bytes of small files held in memory.").add(
            stats["bodies"]["bytes"]
        ),
    ]


_POOL_COUNTERS = {
    "dispatched": "Jobs handed to a helper.",
    "coalesced": "Jobs that joined an identical job already in flight instead of dispatching.",
    "rejected": "Jobs refused because the helper queue was full (answered 503).",
    "lost": "Helpers that died or broke their channel and were replaced.",
    "failed": "Jobs that failed even after a retry.",
}


def _disk_families(disk: Mapping[str, Any]) -> list[Family]:
    families = [
        Family("flashstatic_info", "gauge", "The running flashstatic: version and disk architecture.").add(
            1, version=__version__, architecture=str(disk.get("architecture", ""))
        )
    ]
    if "resident_reads" in disk:
        families.append(
            Family(
                "flashstatic_disk_reads_total",
                "counter",
                "File reads by who made them: the loop (pages known resident) or a helper.",
            )
            .add(disk["resident_reads"], by="loop")
            .add(disk["helper_reads"], by="helper")
        )
    probes = disk.get("probes")
    if probes:
        family = Family("flashstatic_residency_probes_total", "counter", "Files opened, by residency probe chosen.")
        for probe, count in probes.items():
            family.add(count, probe=probe)
        families.append(family)
    pool = disk.get("helpers")
    if pool:
        for name, help_text in _POOL_COUNTERS.items():
            families.append(
                Family(
                    f"flashstatic_helper_jobs_{name}_total" if name != "lost" else "flashstatic_helpers_lost_total",
                    "counter",
                    help_text,
                ).add(pool[name])
            )
        families.append(
            Family("flashstatic_helper_queue_depth", "gauge", "Helper jobs waiting now.").add(pool["queue_depth"])
        )
        families.append(
            Family("flashstatic_helper_queue_peak", "gauge", "Most helper jobs ever waiting at once.").add(
                pool["queue_peak"]
            )
        )
    return families


def _transmission_families(transmissions: Mapping[str, int], traffic: Mapping[str, int]) -> list[Family]:
    responses = Family(
        "flashstatic_file_responses_total",
        "counter",
        "File bodies flashstatic sent, by how: from memory, zerocopysend, pathsend or body "
        "messages, or direct (sendfile by flashstatic's protocol).",
    )
    for way in ("memory", "zerocopysend", "pathsend", "body", "direct"):
        responses.add(transmissions.get(way, 0), transmission=way)
    return [
        responses,
        Family(
            "flashstatic_server_responses_total",
            "counter",
            "Responses (any app's) finished or cut short on flashstatic's uvicorn protocols in this process.",
        ).add(traffic["responses"]),
        Family(
            "flashstatic_sent_bytes_total",
            "counter",
            "Body bytes sent on flashstatic's uvicorn protocols in this process: by sendfile (zero copy) "
            "or from body messages.",
        )
        .add(traffic["sendfile_bytes"], via="sendfile")
        .add(traffic["body_bytes"], via="body"),
    ]


def _loop_families(loop: Mapping[str, Any]) -> list[Family]:
    return [
        Family("flashstatic_loop_checks_total", "counter", "Loop-lag measurements taken.").add(loop["checks"]),
        Family(
            "flashstatic_loop_stalls_total",
            "counter",
            f"Measurements late by more than {loop['stall_threshold_seconds']:g} s: the loop did not yield.",
        ).add(loop["stalls"]),
        Family("flashstatic_loop_lag_seconds_total", "counter", "Summed lateness of the loop-lag callback.").add(
            loop["lag_seconds_total"]
        ),
        Family("flashstatic_loop_lag_max_seconds", "gauge", "Largest lateness of the loop-lag callback seen.").add(
            loop["max_lag_seconds"]
        ),
    ]


def snapshot(stats: Mapping[str, Any], loop: LoopLagMonitor | None) -> dict[str, Any]:
    """app.stats() with the per-process traffic and the loop's lag: what app.metrics() returns."""
    result = dict(stats)
    result["traffic"] = TRAFFIC.as_dict()
    result["loop"] = loop.as_dict() if loop is not None else None
    return result


def families(metrics: Mapping[str, Any]) -> list[Family]:
    result = _cache_families(metrics) + _disk_families(metrics["disk"])
    result += _transmission_families(metrics["transmissions"], metrics["traffic"])
    if metrics.get("loop"):
        result += _loop_families(metrics["loop"])
    return result


def prometheus_text(metrics: Mapping[str, Any]) -> str:
    return render(families(metrics))


def plan_metrics(method: str, metrics: Mapping[str, Any]) -> ResponsePlan:
    """The metrics endpoint's response: never cached, GET and HEAD only."""
    if method not in ("GET", "HEAD"):
        return plan_method_not_allowed()
    body = prometheus_text(metrics).encode("utf-8")
    headers = [
        (b"content-type", CONTENT_TYPE.encode("ascii")),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", b"no-store"),
    ]
    return ResponsePlan(200, headers, () if method == "HEAD" else (body,))


class MetricsApp:
    """The metrics endpoint as an ASGI app of its own (``FlashStatic.metrics_app``): the same
    text as ``metrics_path``, at whatever path it is mounted, so that it can sit behind the
    user's auth or on another listener. ``metrics_path`` is answered before the wrapped app,
    where no middleware inside FlashStatic can guard it."""

    def __init__(self, metrics: Callable[[], Mapping[str, Any]], monitor: LoopLagMonitor) -> None:
        self._metrics = metrics
        self._monitor = monitor

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            self._monitor.start()  # mounted apps get no lifespan: from the first scrape, then
            await send_plan(send, receive, plan_metrics(scope["method"], self._metrics()), None)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Run alone on a listener: the monitor starts with it. The helpers are the FlashStatic
        # app's, closed by its own lifespan or close().
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._monitor.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
