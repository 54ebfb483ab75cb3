"""The access log, the start-up summary and the metrics endpoint, over real HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from flashstatic import FlashStatic
from flashstatic.metrics import LoopLagMonitor
from flashstatic.server import H11Protocol, HttpToolsProtocol
from support import write_tree

REPO = Path(__file__).resolve().parents[1]
BIG = 300 * 1024 + 7  # over small_file_max: sent with sendfile where zero copy is on
LINE = re.compile(
    r'^(?P<host>\S+) - - \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$'
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "site",
        {
            "index.html": "<h1>home</h1>",
            "app.js": "console.log(1);\n" * 100,
            "big.bin": os.urandom(BIG),
            "sub/page.html": "<p>page</p>",
            ".secret": "not counted",
        },
    )


class CliServer:
    """`flashstatic serve` in a subprocess, its stdout and stderr collected line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flashstatic", "serve", *args, "--port", "0"],
            cwd=REPO,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        for stream, lines in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            threading.Thread(target=self._collect, args=(stream, lines), daemon=True).start()
        match = self.wait_for(self.stderr, lambda line: re.search(r"running on (https?://127\.0\.0\.1:\d+)", line))
        self.url = match.group(1)

    @staticmethod
    def _collect(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, lines: list[str], test: Callable[[str], object], timeout: float = 20):
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in lines[seen:]:
                result = test(line)
                if result:
                    return result
            seen = len(lines)
            if self.proc.poll() is not None and seen == len(lines):
                break
            time.sleep(0.02)
        raise AssertionError(f"not found; stdout={self.stdout} stderr={self.stderr}")

    def access_line(self, request: str) -> re.Match[str]:
        return self.wait_for(self.stdout, lambda line: (m := LINE.match(line)) and m["request"] == request and m)

    def stop(self) -> None:
        self.proc.terminate()
        assert self.proc.wait(20) in (0, -signal.SIGTERM)


@pytest.fixture
def cli() -> Iterator[Callable[..., CliServer]]:
    started: list[CliServer] = []

    def start(*args: str) -> CliServer:
        started.append(CliServer(*args))
        return started[-1]

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


def test_access_log_lines(tree: Path, cli, http: httpx.Client) -> None:
    server = cli(str(tree), "--http", "h11")
    url = server.url
    r = http.get(url + "/app.js?v=2", headers={"user-agent": 'agent "quoted"', "referer": "http://ref/x"})
    line = server.access_line("GET /app.js?v=2 HTTP/1.1")
    assert (line["host"], line["status"], line["size"]) == ("127.0.0.1", "200", str(len(r.content)))
    assert line["referer"] == "http://ref/x" and line["agent"] == r"agent \x22quoted\x22"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}", line["time"])
    # 304: no body.
    r = http.get(url + "/index.html")
    r = http.get(url + "/index.html", headers={"if-none-match": r.headers["etag"]})
    assert r.status_code == 304
    assert server.access_line("GET /index.html HTTP/1.1")["status"] == "200"
    assert server.wait_for(server.stdout, lambda line: '"GET /index.html HTTP/1.1" 304 -' in line)
    # 206: the range's bytes only.
    assert http.get(url + "/big.bin", headers={"range": "bytes=10-109"}).status_code == 206
    line = server.access_line("GET /big.bin HTTP/1.1")
    assert (line["status"], line["size"]) == ("206", "100")
    # Zero copy: the whole file left through sendfile, and it is counted all the same.
    assert len(http.get(url + "/big.bin").content) == BIG
    assert server.wait_for(server.stdout, lambda line: f'"GET /big.bin HTTP/1.1" 200 {BIG} ' in line)
    # HEAD sends no body; a miss is the 404 page; the request line is logged as sent.
    http.head(url + "/big.bin")
    assert server.access_line("HEAD /big.bin HTTP/1.1")["size"] == "-"
    http.get(url + "/no%20such")
    assert server.access_line("GET /no%20such HTTP/1.1")["status"] == "404"
    server.stop()
    # uvicorn's own access line (no size) is not printed beside ours.
    assert not [line for line in server.stdout + server.stderr if re.search(r'" 200$', line)]


def test_no_access_log(tree: Path, cli, http: httpx.Client) -> None:
    server = cli(str(tree), "--no-access-log")
    assert http.get(server.url + "/app.js").status_code == 200
    assert http.get(server.url + "/big.bin").status_code == 200
    server.stop()
    assert server.stdout == []
    assert any("access log: off" in line for line in server.stderr)


def test_serve_logs_every_response_in_order_and_loses_none_at_shutdown(tree: Path, cli) -> None:
    """More lines than one batch of the writer, cache answers and full-path answers mixed,
    on two connections taking turns; SIGTERM right after the last answer."""
    server = cli(str(tree))
    count = 300
    expected = []
    with httpx.Client(timeout=10) as first, httpx.Client(timeout=10) as second:
        for number in range(count):
            client = first if number % 2 else second
            path = "/app.js" if number % 3 else "/no-such-file"
            response = client.get(f"{server.url}{path}?n={number}", headers={"user-agent": f"agent {number}"})
            assert response.status_code == (200 if number % 3 else 404)
            expected.append((f"GET {path}?n={number} HTTP/1.1", str(response.status_code), f"agent {number}"))
        server.stop()
    lines = [LINE.match(line) for line in server.stdout]
    assert all(lines), server.stdout[:3]
    assert [(line["request"], line["status"], line["agent"]) for line in lines if line] == expected


def test_serve_writes_lines_soon_while_connections_stay_open(tree: Path, cli, http: httpx.Client) -> None:
    server = cli(str(tree))
    for number in range(3):  # far from a batch: the writer's timer writes them
        assert http.get(f"{server.url}/index.html?soon={number}").status_code == 200
    server.wait_for(server.stdout, lambda line: "GET /index.html?soon=2 HTTP/1.1" in line, timeout=2)
    assert [LINE.match(line)["request"] for line in server.stdout] == [
        f"GET /index.html?soon={number} HTTP/1.1" for number in range(3)
    ]
    server.stop()


def test_an_unwritable_access_log_does_not_stop_serving(tree: Path) -> None:
    """stdout closed by its reader: every write fails (EPIPE); answers go on, and the failure
    is one line on stderr, not a traceback per response."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flashstatic", "serve", str(tree), "--port", "0"],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        errors: list[str] = []
        threading.Thread(target=lambda: errors.extend(proc.stderr or ()), daemon=True).start()
        url = _wait(lambda: next((m[1] for line in errors if (m := re.search(r"running on (http://\S+)", line))), None))
        with httpx.Client(timeout=10) as client:
            for number in range(300):
                response = client.get(f"{url}/app.js?n={number}")
                assert response.status_code == 200 and response.text == "console.log(1);\n" * 100
        _wait(lambda: any("access log could not be written" in line for line in errors))
        time.sleep(0.3)  # a flush timer's worth more
        reports = [line for line in errors if "access log" in line and "could not" in line]
        assert len(reports) == 1
        assert not [line for line in errors if "Traceback" in line or "Logging error" in line]
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(10)


def test_start_up_summary(tree: Path, cli) -> None:
    server = cli(str(tree), "--http", "h11", "--max-helpers", "3", "--metrics-path", "/_m")
    server.stop()
    summary = "\n".join(server.stderr)
    assert f"serving {tree} at /" in summary
    assert any(line.endswith("files: 4") for line in server.stderr)  # .secret is not served
    assert "disk: amped, 1 to 3 helper processes of 4 threads, queue of 256" in summary
    assert re.search(r"http: h11 on (uvloop|asyncio); zero copy on \(sendfile", summary)
    assert "access log: on; metrics: /_m" in summary
    # Once per worker, each with its own pid.
    server = cli(str(tree), "--workers", "2", "--architecture", "mt", "--prefix", "/files")
    server.wait_for(
        server.stderr, lambda line: len([text for text in server.stderr if "worker" in text and "serving" in text]) == 2
    )
    server.stop()
    lines = [line for line in server.stderr if "serving" in line]
    assert len({re.search(r"worker (\d+)", line)[1] for line in lines}) == 2
    assert all(f"serving {tree} at /files" in line for line in lines)
    assert any("disk: mt" in line for line in server.stderr)


def test_tls_summary_says_why_zero_copy_is_off(tree: Path, cli, certificate) -> None:
    key, cert = certificate
    server = cli(str(tree), "--ssl-keyfile", str(key), "--ssl-certfile", str(cert), "--metrics-path", "/_m")
    assert server.url.startswith("https://")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    with httpx.Client(verify=context, timeout=30) as client:
        assert len(client.get(server.url + "/big.bin").content) == BIG
        metrics = parse(client.get(server.url + "/_m").text)
    # Counted and logged without zero copy: every byte went out as a body message.
    assert metrics["flashstatic_sent_bytes_total"][(("via", "sendfile"),)] == 0
    assert metrics["flashstatic_sent_bytes_total"][(("via", "body"),)] >= BIG
    assert server.wait_for(server.stdout, lambda line: f'"GET /big.bin HTTP/1.1" 200 {BIG} ' in line)
    server.stop()
    assert any(
        re.search(r"with TLS; zero copy off \(TLS is on and sendfile would bypass the encryption", line)
        for line in server.stderr
    )


def test_serve_refuses_half_a_certificate(tree: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flashstatic", "serve", str(tree), "--ssl-certfile", "x.pem"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "go together" in done.stderr


# -- the access log in-process, for any app on flashstatic's protocols ---------------------------


def _wait(test: Callable[[], object], timeout: float = 10) -> object:
    deadline = time.monotonic() + timeout
    while not (result := test()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return result


def _app(root: Path, **options) -> FlashStatic:
    async def dynamic(request):
        return PlainTextResponse("dynamic " * 10, status_code=201)

    return FlashStatic(Starlette(routes=[Route("/dyn", dynamic)]), directory=root, prefix="/s", **options)


@pytest.mark.parametrize("protocol", [HttpToolsProtocol, H11Protocol], ids=["httptools", "h11"])
def test_access_log_for_the_app_and_cut_responses(tree: Path, live_server, access_records: list[str], protocol) -> None:
    huge = 64 * 1024 * 1024  # more than the socket buffers hold: the client's leaving cuts it
    with open(tree / "huge.bin", "wb") as f:
        f.truncate(huge)
    with live_server(_app(tree), http=protocol) as url, httpx.Client(timeout=10) as client:
        client.get(url + "/dyn")
        _wait(lambda: any('"GET /dyn HTTP/1.1" 201 80 ' in r for r in access_records))
        # A client that leaves mid-body: the line still comes, with the bytes that went out.
        with client.stream("GET", url + "/s/huge.bin", headers={"connection": "close"}) as response:
            next(response.iter_raw(1024))
        line = _wait(lambda: next((LINE.match(r) for r in access_records if "/s/huge.bin" in r), None))
        assert line["status"] == "200" and 0 < int(line["size"]) < huge


# -- metrics --------------------------------------------------------------------------------------


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Prometheus text through the reference parser: sample name -> sorted labels -> value."""
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_endpoint(tree: Path, live_server) -> None:
    app = _app(tree, metrics_path="/_flashstatic/metrics")
    with live_server(app, http=HttpToolsProtocol) as url, httpx.Client(timeout=10) as client:
        time.sleep(0.3)
        r = client.get(url + "/_flashstatic/metrics")
        assert r.status_code == 200 and r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert r.headers["cache-control"] == "no-store"
        assert "# TYPE flashstatic_cache_hits_total counter" in r.text
        before = parse(r.text)
        assert before["flashstatic_loop_checks_total"][()] > 0  # running since lifespan startup
        pathname_hit = (("cache", "pathname"),)

        client.get(url + "/s/app.js")
        client.get(url + "/s/app.js")
        after = parse(client.get(url + "/_flashstatic/metrics").text)
        assert (
            after["flashstatic_cache_hits_total"][pathname_hit]
            == before["flashstatic_cache_hits_total"][pathname_hit] + 1
        )
        assert (
            after["flashstatic_cache_misses_total"][pathname_hit]
            == before["flashstatic_cache_misses_total"][pathname_hit] + 1
        )
        assert after["flashstatic_file_responses_total"][(("transmission", "memory"),)] == 2

        # A sendfile response adds exactly its bytes; body messages count apart.
        sendfile = (("via", "sendfile"),)
        assert len(client.get(url + "/s/big.bin").content) == BIG
        third = parse(client.get(url + "/_flashstatic/metrics").text)
        assert third["flashstatic_sent_bytes_total"][sendfile] == after["flashstatic_sent_bytes_total"][sendfile] + BIG
        assert third["flashstatic_file_responses_total"][(("transmission", "zerocopysend"),)] == 1
        assert (
            third["flashstatic_sent_bytes_total"][(("via", "body"),)]
            > after["flashstatic_sent_bytes_total"][(("via", "body"),)]
        )
        assert third["flashstatic_server_responses_total"][()] >= 5
        # The helper pool and the loop monitor are there; the monitor runs from lifespan start.
        assert third["flashstatic_helper_jobs_dispatched_total"][()] >= 1
        assert third["flashstatic_helper_queue_depth"][()] == 0
        assert third["flashstatic_loop_checks_total"][()] > 0
        assert third["flashstatic_info"][(("architecture", "amped"), ("version", "0.1.0"))] == 1

        assert client.head(url + "/_flashstatic/metrics").content == b""
        r = client.post(url + "/_flashstatic/metrics")
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
        assert app.metrics()["traffic"]["sendfile_bytes"] >= BIG
    assert app.loop_lag is not None and not app.loop_lag.running  # stopped at shutdown


def test_metrics_off_by_default(tree: Path, live_server) -> None:
    app = _app(tree)
    with live_server(app, http=HttpToolsProtocol) as url:
        assert httpx.get(url + "/_flashstatic/metrics").status_code == 404  # the app's business
    assert app.metrics()["loop"] is None and app.loop_lag is None
    assert FlashStatic(directory=tree, metrics_path="_m/x").metrics_path == "/_m/x"


def test_metrics_app_can_be_put_behind_auth(tree: Path, live_server) -> None:
    from starlette.routing import Mount

    from test_attacks import RequireToken

    token = {"authorization": "Bearer let-me-in"}
    # metrics_path is answered by FlashStatic before the app it wraps: an auth middleware inside
    # it cannot protect that path (docs/usage.md says so), hence metrics_app.
    inside = FlashStatic(RequireToken(PlainTextResponse("app")), directory=tree, prefix="/s", metrics_path="/_m")
    with live_server(inside, http=HttpToolsProtocol) as url:
        assert httpx.get(url + "/_m").status_code == 200 and httpx.get(url + "/app").status_code == 401

    static = FlashStatic(directory=tree)
    app = Starlette(routes=[Route("/metrics", RequireToken(static.metrics_app)), Mount("/s", app=static)])
    with live_server(app, http=HttpToolsProtocol) as url, httpx.Client(timeout=10) as client:
        assert client.get(url + "/s/app.js").status_code == 200
        refused = client.get(url + "/metrics")
        assert refused.status_code == 401 and "flashstatic" not in refused.text
        r = client.get(url + "/metrics", headers=token)
        assert r.status_code == 200 and r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert r.headers["cache-control"] == "no-store"
        assert parse(r.text)["flashstatic_file_responses_total"][(("transmission", "memory"),)] == 1
        time.sleep(0.2)  # Starlette runs no lifespan for a route: the first scrape started the monitor
        assert parse(client.get(url + "/metrics", headers=token).text)["flashstatic_loop_checks_total"][()] > 0
        assert client.head(url + "/metrics", headers=token).content == b""
        assert client.post(url + "/metrics", headers=token).status_code == 405
        # Or on a listener of its own, with its lifespan.
        with live_server(RequireToken(static.metrics_app), http=H11Protocol) as private:
            assert client.get(private + "/anything").status_code == 401
            again = parse(client.get(private + "/anything", headers=token).text)
            assert again["flashstatic_file_responses_total"][(("transmission", "memory"),)] == 1
    static.close()
    assert static.loop_lag is not None and not static.loop_lag.running


def test_loop_monitor_counts_a_stall() -> None:
    monitor = LoopLagMonitor(interval=0.01, threshold=0.1)

    async def main() -> None:
        monitor.start()
        await asyncio.sleep(0.1)
        time.sleep(0.3)  # noqa: ASYNC251 - the loop is blocked: the monitor's callback runs late
        await asyncio.sleep(0.05)
        monitor.stop()

    asyncio.run(main())
    assert monitor.stalls == 1 and monitor.max_lag >= 0.29 and monitor.checks >= 5
    assert not monitor.running
