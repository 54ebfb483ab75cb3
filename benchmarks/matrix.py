"""Every target against nginx in one run: the benchmarks in turn, then one table of ratios and verdicts.

    python -m benchmarks.matrix [--quick] [--only 1,4] [--json PATH] [--workdir DIR] [--chart PNG]
    python -m benchmarks.matrix --from-json PATH --chart PNG   # the table and chart of a saved run

The targets, each a ratio measured within one benchmark's run (the servers compared run back
to back, on the same machine):

1. small files, no two requests alike (benchmarks/compare.py): `flashstatic serve` >= 0.75x
   nginx with both access logs on, >= 0.9x with both off; with logs on, also when no two log
   lines are alike either (every request with a Referer of its own);
2. the access log costs under 5 % (compare.py): serve with its log on / off >= 0.95, for
   requests no two alike and for requests whose log lines differ too;
3. middleware under stock uvicorn, no two alike (compare.py): >= 0.8x the raw 1 KiB ASGI app,
   and a miss handed to the wrapped app >= 0.95x the app alone;
4. slow disk, every request a miss (benchmarks/disk_bound.py): AMPED >= 1.0x nginx with
   `aio threads` and a /dynamic p99 no higher than its, >= 3x SPED, p99 within 3x of its idle
   p99; blocking nginx reported beside;
5. large files (benchmarks/large_files.py, every request different): 1 MiB >= 1.38x nginx,
   100 MiB >= 1.15x, the figures measured so far, to keep;
6. `--workers N` (benchmarks/worker_scaling.py, a CPU quota per worker): serve's gain from 1 to
   N workers >= 0.9x nginx's.

`--quick` runs each with tiny durations and one round: a smoke test of the whole chain, not
numbers to quote. `--only` picks targets (1-3 share one run of compare.py). A benchmark that
fails has its targets marked "not measured" with the reason; the others still run. The exit
status is 0 whatever the verdicts (130 if interrupted): the ratios move between runs on a
shared machine, so a verdict is read, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from . import compare, disk_bound, large_files, worker_scaling

TARGETS = {
    1: "small files, no two alike: serve against nginx",
    2: "the access log's cost",
    3: "middleware under stock uvicorn",
    4: "slow disk, every request a miss",
    5: "large files against nginx",
    6: "--workers N against nginx's workers",
}
# serve's MiB/s over nginx's measured so far, per file size in MiB: the figures to keep.
LARGE_FLOORS = {1: 1.38, 100: 1.15}
SCALING_FLOOR = 0.9
# The disk-bound command the slow-disk target is set on (docs/benchmarks.md, "Every request a miss").
DISK_ARCHS = {"amped": "AMPED", "amped-protocol": "AMPED, flashstatic's protocol"}
DISK_ARGV = [
    "--archs",
    "amped,amped-protocol,sped,nginx,nginx-aio",
    "--connections",
    "16",
    "--miss-ratio",
    "1",
    "--workloads",
    "disk-bound",
]


@dataclass(frozen=True)
class Row:
    """One line of the table: a ratio and what it must reach (no threshold: reported only)."""

    target: int
    compared: str
    measured: float | None
    threshold: float | None = None
    at_most: bool = False  # the threshold is a ceiling (latency), not a floor (throughput)
    detail: str = ""  # the figures the ratio is made of, or why nothing was measured


@dataclass(frozen=True)
class Settings:
    quick: bool
    workdir: str  # the disk-bound file set: its own, so no other run's cold copies are touched


def verdict(row: Row) -> str:
    if row.measured is None:
        return "not measured"
    if row.threshold is None:
        return "reported"
    met = row.measured <= row.threshold if row.at_most else row.measured >= row.threshold
    return "met" if met else "not met"


def quotient(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs, or None when either is missing or the divisor is zero."""
    if ours is None or theirs is None or not theirs:
        return None
    return ours / theirs


def ratio_row(
    target: int,
    compared: str,
    ours: float | None,
    theirs: float | None,
    form: str,
    threshold: float | None = None,
    *,
    at_most: bool = False,
) -> Row:
    """ours / theirs, with both figures (in ``form``) beside the ratio."""
    return Row(target, compared, quotient(ours, theirs), threshold, at_most, detail=_pair(ours, theirs, form))


# How the figures beside a ratio are shown.
MS, MIB_S, PER_S, TIMES = "{:,.1f} ms", "{:,.0f} MiB/s", "{:,.0f}/s", "{:.2f}x"


def _pair(ours: float | None, theirs: float | None, form: str) -> str:
    """The two figures a ratio is made of, "n/a" for a missing one."""
    return " against ".join("n/a" if value is None else form.format(value) for value in (ours, theirs))


# -- targets 1-3: compare.py -----------------------------------------------------------------------


def compare_rows(rows: compare.Rows) -> list[Row]:
    unique, identical, new_lines = compare.UNIQUE_LOAD, compare.IDENTICAL, compare.NEW_LINES
    logs_on, logs_off = "flashstatic serve / nginx, access logs on", "flashstatic serve / nginx, access logs off"
    log_cost = "flashstatic serve, access log on / off"

    def row(target: int, compared: str, label: str, load: str, threshold: float | None = None) -> Row:
        return ratio_row(target, compared, *_compared_rates(rows, label, load), PER_S, threshold)

    return [
        row(1, "serve / nginx, no two alike, access logs on", logs_on, unique, 0.75),
        row(1, "serve / nginx, no two alike, access logs off", logs_off, unique, 0.9),
        row(1, "serve / nginx, identical requests, access logs on", logs_on, identical),
        row(1, "serve / nginx, identical requests, access logs off", logs_off, identical),
        row(1, "serve / nginx, no two log lines alike, access logs on", logs_on, new_lines, 0.75),
        row(2, "serve, access log on / off, no two alike", log_cost, unique, 0.95),
        row(2, "serve, access log on / off, identical requests", log_cost, identical, 0.95),
        row(2, "serve, access log on / off, no two log lines alike", log_cost, new_lines, 0.95),
        row(2, "nginx, access log on / off, no two alike", "nginx, access log on / off", unique),
        row(2, "nginx, access log on / off, no two log lines alike", "nginx, access log on / off", new_lines),
        row(
            3,
            "middleware, 1 KiB file / raw ASGI app, no two alike",
            "middleware, 1 KiB file / raw ASGI app",
            unique,
            0.8,
        ),
        row(3, "middleware, a miss / the app alone, no two alike", "middleware, a miss / the app alone", unique, 0.95),
    ]


def _compared_rates(rows: compare.Rows, label: str, load: str) -> tuple[float | None, float | None]:
    """The two median requests/s behind one of compare.py's printed ratios (the same division)."""
    ours, theirs = next((ours, theirs) for name, ours, theirs, _ in compare.RATIOS if name == label)

    def rate(server: str) -> float | None:
        return compare.median_rate(rows, server, load) if rows.get(server, {}).get(load) else None

    return rate(ours), rate(theirs)


# -- target 4: disk_bound.py -----------------------------------------------------------------------


def disk_rows(results: dict[str, Any]) -> list[Row]:
    rps = {arch: _static_rps(results, arch) for arch in (*DISK_ARCHS, "sped", "nginx", "nginx-aio")}
    p99 = {arch: _dynamic_p99(results, arch) for arch in (*DISK_ARCHS, "nginx", "nginx-aio")}
    rows = []
    for arch, name in DISK_ARCHS.items():
        idle = _idle_p99(results, arch)
        rows += [
            ratio_row(4, f"{name} / nginx aio threads, static req/s", rps[arch], rps["nginx-aio"], PER_S, 1.0),
            ratio_row(
                4, f"{name} / nginx aio threads, /dynamic p99", p99[arch], p99["nginx-aio"], MS, 1.0, at_most=True
            ),
            ratio_row(4, f"{name} / SPED, static req/s", rps[arch], rps["sped"], PER_S, 3.0),
            ratio_row(4, f"{name}, /dynamic p99 / idle p99", p99[arch], idle, MS, 3.0, at_most=True),
            ratio_row(4, f"{name} / blocking nginx, static req/s", rps[arch], rps["nginx"], PER_S),
            ratio_row(4, f"{name} / blocking nginx, /dynamic p99", p99[arch], p99["nginx"], MS),
        ]
    aio_idle = _idle_p99(results, "nginx-aio")
    rows.append(ratio_row(4, "nginx aio threads, /dynamic p99 / idle p99", p99["nginx-aio"], aio_idle, MS))
    return rows


def _disk_run(results: dict[str, Any], arch: str) -> dict[str, Any]:
    return results.get("archs", {}).get(arch, {}).get("runs", {}).get("disk-bound", {})


def _static_rps(results: dict[str, Any], arch: str) -> float | None:
    return _disk_run(results, arch).get("static", {}).get("rps")


def _dynamic_p99(results: dict[str, Any], arch: str) -> float | None:
    return _disk_run(results, arch).get("dynamic", {}).get("p99_ms")


def _idle_p99(results: dict[str, Any], arch: str) -> float | None:
    return (results.get("archs", {}).get(arch, {}).get("idle") or {}).get("p99_ms")


# -- target 5: large_files.py ----------------------------------------------------------------------


def large_rows(results: dict[int, dict[str, dict[str, float]]]) -> list[Row]:
    return [
        ratio_row(
            5,
            f"serve / nginx, {size} MiB file, MiB/s",
            servers[large_files.SERVE]["MiB/s"],
            servers[large_files.NGINX]["MiB/s"],
            MIB_S,
            LARGE_FLOORS.get(size),
        )
        for size, servers in sorted(results.items())
    ]


# -- target 6: worker_scaling.py -------------------------------------------------------------------


def scaling_rows(rates: worker_scaling.Rates) -> list[Row]:
    """Per load and N > 1: serve's gain from 1 to N workers over nginx's (1: it scales as nginx does)."""
    rows = []
    for load in worker_scaling.LOADS:
        for workers in sorted({n for _, _, n in rates if n > 1}):
            ours = _gain(rates, worker_scaling.SERVE, load, workers)
            theirs = _gain(rates, worker_scaling.NGINX, load, workers)
            compared = f"serve's gain 1 to {workers} workers / nginx's, {load}"
            rows.append(ratio_row(6, compared, ours, theirs, TIMES, SCALING_FLOOR))
    return rows


def _gain(rates: worker_scaling.Rates, server: str, load: str, workers: int) -> float | None:
    return quotient(rates.get((server, load, workers)), rates.get((server, load, 1)))


# -- running the benchmarks ------------------------------------------------------------------------


def run_compare(settings: Settings) -> compare.Rows:
    if settings.quick:
        return compare.run(duration=1, connections=32, rounds=1, warmup=1)
    return compare.run(duration=5, connections=32, rounds=3)


def disk_argv(settings: Settings) -> list[str]:
    """disk_bound's command line: the every-miss load, in the matrix's own work directory."""
    sized = (
        ["--quick", "--duration", "2", "--rate-guess", "3000"]
        if settings.quick
        else ["--duration", "10", "--rate-guess", "5000"]
    )
    return [*DISK_ARGV, *sized, "--workdir", settings.workdir]


def run_disk(settings: Settings) -> dict[str, Any]:
    args = disk_bound.parse_args(disk_argv(settings))
    problems = disk_bound.check_prerequisites(args.arch_list)
    if problems:
        raise RuntimeError("; ".join(problems))
    results, interrupted = disk_bound.collect(args)
    if interrupted is not None:
        raise interrupted
    for arch in results["archs"].values():
        for run in arch.get("runs", {}).values():
            run.pop("dynamic_samples", None)  # thousands of numbers the table does not use
    return results


def run_large(settings: Settings) -> dict[int, dict[str, dict[str, float]]]:
    # Every request different: the figures the floors keep were measured so.
    if settings.quick:
        return dict(large_files.run([1, 100], connections=8, duration=1, vary_requests=True, warmup=1))
    return dict(large_files.run([1, 100], connections=8, duration=5, vary_requests=True))


def run_scaling(settings: Settings) -> worker_scaling.Rates:
    if settings.quick:
        return worker_scaling.run(share=0.35, duration=1, connections=32, rounds=1, warmup=1)
    return worker_scaling.run(share=0.35, duration=5, connections=32, rounds=3)


@dataclass(frozen=True)
class Benchmark:
    targets: tuple[int, ...]
    run: Callable[[Settings], Any]
    rows: Callable[[Any], list[Row]]


BENCHMARKS = {
    "compare": Benchmark((1, 2, 3), run_compare, compare_rows),
    "disk_bound": Benchmark((4,), run_disk, disk_rows),
    "large_files": Benchmark((5,), run_large, large_rows),
    "worker_scaling": Benchmark((6,), run_scaling, scaling_rows),
}


def benchmarks_for(targets: set[int]) -> list[str]:
    """The benchmarks that measure ``targets``, each once, in the matrix's order."""
    return [name for name, benchmark in BENCHMARKS.items() if targets & set(benchmark.targets)]


def failed_rows(name: str, targets: set[int], reason: str) -> list[Row]:
    """A benchmark that did not finish: its targets, not measured, with the reason."""
    return [Row(target, TARGETS[target], None, detail=f"{name}: {reason}") for target in sorted(targets)]


def selected(rows: list[Row], targets: set[int]) -> list[Row]:
    return [row for row in rows if row.target in targets]


# -- the table -------------------------------------------------------------------------------------


def ratio_text(ratio: float) -> str:
    # Two decimals, as the benchmarks print ratios; a third below 0.1, where two say little.
    return f"{ratio:.3f}" if ratio < 0.1 else f"{ratio:.2f}"


def threshold_cell(row: Row) -> str:
    if row.threshold is None:
        return ""
    return f"{'<=' if row.at_most else '>='} {row.threshold:.2f}"


def measured_cell(row: Row) -> str:
    value = "n/a" if row.measured is None else ratio_text(row.measured)
    return value + (f" ({row.detail})" if row.detail else "")


def table(rows: list[Row]) -> str:
    lines = ["| target | compared | measured | threshold | verdict |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row.target} | {row.compared} | {measured_cell(row)} | {threshold_cell(row)} | {verdict(row)} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    verdicts = [verdict(row) for row in rows]
    counts = {word: verdicts.count(word) for word in ("met", "not met", "not measured")}
    return ", ".join(f"{count} {word}" for word, count in counts.items())


# -- main ------------------------------------------------------------------------------------------


def parse_targets(text: str) -> set[int]:
    """The targets of a comma-separated list such as "1,4"; every target when empty."""
    if not text.strip():
        return set(TARGETS)
    targets = {int(part) for part in text.split(",") if part.strip()}
    unknown = targets - set(TARGETS)
    if unknown:
        raise argparse.ArgumentTypeError(f"no target {sorted(unknown)}: the targets are 1-{len(TARGETS)}")
    return targets


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny durations, one round: a smoke run")
    parser.add_argument("--only", type=parse_targets, default=set(TARGETS), help="comma-separated targets, e.g. 1,4")
    parser.add_argument("--json", default=None, help="also write the rows and every benchmark's results here")
    parser.add_argument("--chart", default=None, help="draw the ratios and their thresholds here (PNG, matplotlib)")
    parser.add_argument("--from-json", default=None, help="run nothing: the rows of a run saved with --json")
    parser.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "flashstatic-bench-matrix"),
        help="the slow-disk benchmark's file set (kept and reused) and mount",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        rows = rows_from_json(args.from_json)
        print(table(rows))
        print(f"\n{summary(rows)}")
        if args.chart:
            chart(rows, args.chart)
        return 0
    settings = Settings(quick=args.quick, workdir=args.workdir)
    disk_bound.catch_signals()  # SIGTERM unwinds too: servers stopped, slowfs unmounted
    rows: list[Row] = []
    results: dict[str, Any] = {}
    interrupted = False
    for name in benchmarks_for(args.only):
        benchmark = BENCHMARKS[name]
        targets = args.only & set(benchmark.targets)
        print(f"== {name}: target{'s' if len(targets) > 1 else ''} {', '.join(map(str, sorted(targets)))}", flush=True)
        try:
            results[name] = benchmark.run(settings)
            rows += selected(benchmark.rows(results[name]), targets)
        except (KeyboardInterrupt, disk_bound.Stop) as exc:
            rows += failed_rows(name, targets, f"interrupted ({type(exc).__name__})")
            interrupted = True
            break
        except Exception as exc:  # one benchmark's failure must not lose the others' figures
            reason = f"{type(exc).__name__}: {exc}"
            print(f"{name} failed: {reason}", file=sys.stderr, flush=True)
            rows += failed_rows(name, targets, reason.splitlines()[0][:200])
    print(f"\nTargets against nginx{', --quick (smoke run: not figures to quote)' if args.quick else ''}\n")
    print(table(rows))
    print(f"\n{summary(rows)}")
    if args.json:
        write_json(args.json, rows, results)
    if args.chart:
        chart(rows, args.chart)
    return 130 if interrupted else 0


def rows_from_json(path: str) -> list[Row]:
    """The rows ``write_json`` saved."""
    with open(path) as saved:
        document = json.load(saved)
    fields = Row.__dataclass_fields__
    return [Row(**{name: value for name, value in row.items() if name in fields}) for row in document["rows"]]


# Bar colours by verdict.
COLOURS = {"met": "tab:green", "not met": "tab:red", "reported": "tab:gray"}


def chart(rows: list[Row], path: str) -> None:
    """One horizontal bar per measured ratio, on a log scale (1 is parity), coloured by its
    verdict, with its threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = [row for row in rows if row.measured]
    figure, axes = plt.subplots(figsize=(10, 0.32 * len(drawn) + 1.2))
    positions = range(len(drawn))[::-1]  # the table's order, top to bottom
    colours = [COLOURS.get(verdict(row), "tab:gray") for row in drawn]
    axes.barh(list(positions), [row.measured for row in drawn], color=colours)
    for position, row in zip(positions, drawn, strict=True):
        if row.threshold is not None:
            axes.plot([row.threshold] * 2, [position - 0.4, position + 0.4], color="black", linewidth=2)
    axes.set_yticks(list(positions), [f"{row.target}: {row.compared}" for row in drawn], fontsize=7)
    axes.set_xscale("log")
    axes.axvline(1.0, color="black", linewidth=0.5, linestyle=":")
    axes.set_xlabel("ratio (black mark: the threshold; green met, red not met, grey reported)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_json(path: str, rows: list[Row], results: dict[str, Any]) -> None:
    document = {
        "rows": [{**asdict(row), "verdict": verdict(row)} for row in rows],
        "results": {name: json_safe(value) for name, value in results.items()},
    }
    with open(path, "w") as out:
        json.dump(document, out, indent=1)


def json_safe(value: Any) -> Any:
    """Tuple keys (worker_scaling's rates) joined into strings; everything else as it is."""
    if isinstance(value, dict):
        return {", ".join(map(str, k)) if isinstance(k, tuple) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
