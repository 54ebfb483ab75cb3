"""The example site in a real browser: headless Chromium against `flashstatic serve`.

Chromium comes from Debian (`.ci/run` installs it); without it the test is skipped. The page,
its stylesheet, script and image must load with no failed request, the video must seek with a
Range request answered 206, and a reload must revalidate every asset with a 304. A screenshot is
kept in $FLASHSTATIC_ARTIFACTS (default: the test's tmp_path).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from cdp import Browser, chromium, find_chromium
from support import ServerProcess

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "examples" / "site"
ASSETS = ["/", "/css/style.css", "/js/app.js", "/img/logo.png"]
CLIP = "/media/clip.webm"
# Slow enough that the clip is still arriving when the test seeks near its end, so the
# browser must ask for the end with a new Range request rather than wait for the first one
# (it waits when the part it needs is within a few 32 KiB blocks of the download).
THROTTLE_BYTES_PER_SECOND = 32_000


class NetworkLog:
    """The Network events of the page, per request: url, request headers, raw status."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.requests: dict[str, dict[str, Any]] = defaultdict(dict)
        for event in events:
            params = event["params"]
            request = self.requests[params.get("requestId", "")]
            match event["method"]:
                case "Network.requestWillBeSent":
                    request["url"] = params["request"]["url"]
                    request["type"] = params.get("type")
                    request.setdefault("headers", {}).update(_lower(params["request"]["headers"]))
                case "Network.requestWillBeSentExtraInfo":
                    request.setdefault("headers", {}).update(_lower(params["headers"]))
                case "Network.responseReceivedExtraInfo":
                    request["wire_status"] = params["statusCode"]  # what the server sent: 304, not 200
                case "Network.responseReceived":
                    request["status"] = params["response"]["status"]
                    request["response_headers"] = _lower(params["response"]["headers"])
                    request["type"] = params.get("type")
                case "Network.loadingFailed":
                    request["failed"] = params

    def to(self, base: str) -> dict[str, dict[str, Any]]:
        """Requests to our server, by request id."""
        return {rid: r for rid, r in self.requests.items() if r.get("url", "").startswith(base)}


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("no chromium on this machine: .ci/run installs Debian's (apt-get install chromium)")
    return path


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("FLASHSTATIC_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def load(browser: Browser, url: str) -> None:
    since = len(browser.events)
    browser.call("Page.navigate", url=url)
    browser.wait_for("Page.loadEventFired", since=since, timeout=30)


def reload(browser: Browser) -> None:
    """A normal reload: stale cached resources are revalidated with If-None-Match."""
    since = len(browser.events)
    browser.call("Page.reload", ignoreCache=False)
    browser.wait_for("Page.loadEventFired", since=since, timeout=30)


def seek(browser: Browser, seconds: float) -> dict[str, Any]:
    return browser.evaluate(
        f"""new Promise(resolve => {{
        const video = document.getElementById("clip");
        const report = () => resolve({{time: video.currentTime, ready: video.readyState,
                                       error: video.error && video.error.message}});
        const go = () => {{
            video.addEventListener("seeked", report, {{once: true}});
            video.addEventListener("error", report, {{once: true}});
            video.currentTime = {seconds};
        }};
        if (video.readyState >= 1) {{ go(); return; }}
        // preload="none": nothing is fetched until asked for.
        video.addEventListener("loadedmetadata", go, {{once: true}});
        video.preload = "metadata";
        video.load();
    }})""",
        timeout=30,
    )


def test_example_site_in_chromium(
    chromium_path: str, artifacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # max-age=0, so that a reload revalidates every asset instead of using the memory cache.
    server = ServerProcess(
        [sys.executable, "-m", "flashstatic", "serve", str(SITE), "--port", "0", "--max-age", "0"], cwd=REPO
    )
    try:
        with chromium(chromium_path, tmp_path / "profile") as browser:
            browser.call("Network.enable")
            browser.call("Page.enable")
            load(browser, server.url + "/")
            check_page_rendered(browser)
            # The clip (preload="none") is fetched from here on, slowly.
            browser.call(
                "Network.emulateNetworkConditions",
                offline=False,
                latency=0,
                downloadThroughput=THROTTLE_BYTES_PER_SECOND,
                uploadThroughput=-1,
            )
            position = seek(browser, 9.5)
            # At the new position with its frame decoded (HAVE_CURRENT_DATA or better).
            assert position["time"] == 9.5 and position["ready"] >= 2 and position["error"] is None, position

            screenshot = artifacts / "example-site.png"
            screenshot.write_bytes(base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"]))
            with capsys.disabled():
                print(f"\nbrowser test screenshot: {screenshot}")

            first_visit = NetworkLog(browser.events).to(server.url)
            check_no_failed_request(first_visit)
            check_assets_loaded(first_visit, server.url)
            check_seek_used_a_range(first_visit, server.url)

            browser.call(
                "Network.emulateNetworkConditions", offline=False, latency=0, downloadThroughput=-1, uploadThroughput=-1
            )
            mark = len(browser.events)
            reload(browser)
            check_page_rendered(browser)
            revisit = NetworkLog(browser.events[mark:]).to(server.url)
            check_no_failed_request(revisit)
            check_revalidated(revisit, server.url)
    finally:
        server.stop()
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 5000


def check_page_rendered(browser: Browser) -> None:
    """The script ran, the stylesheet applied and the image decoded."""
    state = browser.evaluate("""({
        status: document.getElementById("status").textContent,
        accent: getComputedStyle(document.querySelector("h1")).color,
        logo: (img => img.complete && img.naturalWidth)(document.querySelector("header img")),
    })""")
    assert state == {"status": "Script loaded: served by flashstatic.", "accent": "rgb(217, 72, 15)", "logo": 64}


def check_no_failed_request(requests: dict[str, dict[str, Any]]) -> None:
    for request in requests.values():
        failed = request.get("failed")
        # The browser drops its first download of the clip when a seek needs another part.
        if failed is not None and not (failed.get("canceled") and request.get("type") == "Media"):
            raise AssertionError(f"{request['url']} failed: {failed}")
        if "status" in request:
            assert request["status"] < 400, (request["url"], request["status"])


def by_path(requests: dict[str, dict[str, Any]], base: str) -> dict[str, list[dict[str, Any]]]:
    """Requests per path (the logo is asked for twice: as an image and as the favicon)."""
    paths: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for request in requests.values():
        paths[request["url"][len(base) :]].append(request)
    return paths


def check_assets_loaded(requests: dict[str, dict[str, Any]], base: str) -> None:
    paths = by_path(requests, base)
    for path in ASSETS:
        assert any(r.get("status") == 200 for r in paths[path]), (path, paths[path])


def check_seek_used_a_range(requests: dict[str, dict[str, Any]], base: str) -> None:
    """A request for the clip starting past its first byte, answered with exactly that part."""
    size = (SITE / CLIP.lstrip("/")).stat().st_size
    seeks = []
    for request in requests.values():
        if request["url"] != base + CLIP:
            continue
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", request["headers"].get("range", ""))
        assert wanted is not None, f"a request for the clip without Range: {request['headers']}"
        if int(wanted.group(1)) > 0 and "status" in request:
            seeks.append(request)
            start = int(wanted.group(1))
            assert request["status"] == 206
            assert request["response_headers"]["content-range"].startswith(f"bytes {start}-")
            assert request["response_headers"]["content-range"].endswith(f"/{size}")
    assert seeks, "seeking near the end of the clip sent no Range request for a later part"


def check_revalidated(requests: dict[str, dict[str, Any]], base: str) -> None:
    paths = by_path(requests, base)
    for path in ASSETS:
        answered = [r for r in paths[path] if "wire_status" in r]
        assert answered, f"the reload did not ask the server for {path}: {paths[path]}"
        for request in answered:
            assert "if-none-match" in request["headers"], (path, request["headers"])
            assert request["wire_status"] == 304, (path, request["wire_status"])


def test_directory_listing_in_chromium(
    chromium_path: str, artifacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--listing: a directory without an index file as a page in Chromium, its style applied
    and a link followed to the file it names; a screenshot is kept beside the site's."""
    served = tmp_path / "served"
    shutil.copytree(SITE / "media", served / "media")
    shutil.copytree(SITE / "css", served / "css")
    shutil.copy(SITE / "img" / "logo.png", served / "logo.png")
    (served / "notes & drafts").mkdir()
    (served / "caf\u00e9 menu.txt").write_text("espresso\n")
    (served / "report <2024>.csv").write_bytes(b"year,total\n" * 3000)
    (served / ".env").write_text("SECRET=1\n")
    server = ServerProcess(
        [sys.executable, "-m", "flashstatic", "serve", str(served), "--port", "0", "--listing"], cwd=REPO
    )
    try:
        with chromium(chromium_path, tmp_path / "profile") as browser:
            browser.call("Network.enable")
            browser.call("Page.enable")
            load(browser, server.url + "/")
            page = browser.evaluate("""({
                title: document.title,
                names: [...document.querySelectorAll("tbody a")].map(a => a.textContent),
                font: getComputedStyle(document.body).fontFamily,
            })""")
            assert page["title"] == "Index of /", page
            assert page["names"] == [
                "css/",
                "media/",
                "notes & drafts/",
                "caf\u00e9 menu.txt",
                "logo.png",
                "report <2024>.csv",
            ], page
            assert "system-ui" in page["font"]  # the page's own style applied (its CSP allows it)

            screenshot = artifacts / "directory-listing.png"
            screenshot.write_bytes(base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"]))
            with capsys.disabled():
                print(f"\nbrowser test screenshot: {screenshot}")
            check_no_failed_request(NetworkLog(browser.events).to(server.url))

            # The links lead where they say: into a directory, and to a file with an odd name.
            since = len(browser.events)
            browser.evaluate('document.querySelector("a[href^=notes]").click()')
            browser.wait_for("Page.loadEventFired", since=since, timeout=30)
            assert browser.evaluate("location.pathname") == "/notes%20%26%20drafts/"
            assert browser.evaluate('[...document.querySelectorAll("tbody a")].map(a => a.textContent)') == ["../"]
            load(browser, server.url + "/")
            since = len(browser.events)
            browser.evaluate('document.querySelector("a[href^=caf]").click()')
            browser.wait_for("Page.loadEventFired", since=since, timeout=30)
            assert browser.evaluate("document.body.innerText").strip() == "espresso"
    finally:
        server.stop()
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 3000


def test_single_page_app_in_chromium(
    chromium_path: str, artifacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The FastAPI SPA example (fallback="index.html") as a browser sees it: a deep route loaded
    directly gets the app's shell, whose hashed script renders the route and reaches the API;
    a missing asset stays a 404 rather than becoming the shell."""
    server = ServerProcess(
        [sys.executable, "-m", "uvicorn", "examples.fastapi_spa.app:app", "--port", "0", "--log-level", "info"],
        cwd=REPO,
    )
    try:
        with chromium(chromium_path, tmp_path / "profile") as browser:
            browser.call("Network.enable")
            browser.call("Page.enable")
            load(browser, server.url + "/users/42")
            text = browser.evaluate(
                """new Promise(resolve => {
                    const root = document.getElementById("root");
                    const done = () => root.textContent.includes("/") && root.textContent.includes("API");
                    if (done()) { resolve(root.textContent); return; }
                    new MutationObserver(() => done() && resolve(root.textContent))
                        .observe(root, {childList: true, characterData: true, subtree: true});
                })""",
                timeout=30,
            )
            assert text == "route /users/42 / Hello from the API", text

            screenshot = artifacts / "single-page-app.png"
            screenshot.write_bytes(base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"]))
            with capsys.disabled():
                print(f"\nbrowser test screenshot: {screenshot}")

            requests = NetworkLog(browser.events).to(server.url)
            paths = by_path(requests, server.url)
            # The browser asks for a favicon the example has none of: a name with an extension
            # is a file, so a 404, not the shell.
            assert all(r["status"] == 404 for r in paths.pop("/favicon.ico", []) if "status" in r)
            check_no_failed_request({rid: r for rid, r in requests.items() if not r["url"].endswith("/favicon.ico")})
            shell = paths["/users/42"][0]
            assert shell["status"] == 200 and shell["response_headers"]["cache-control"] == "no-cache"
            script = paths["/assets/app-BZ2F3x9a.js"][0]
            assert script["status"] == 200 and "immutable" in script["response_headers"]["cache-control"]

            missing = browser.evaluate('fetch("/assets/app-00000000.js").then(response => response.status)')
            assert missing == 404
    finally:
        server.stop()
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 2000
