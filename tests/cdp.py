"""A headless Chromium driven over the Chrome DevTools Protocol, for the browser test.

The protocol runs over a pipe (--remote-debugging-pipe: commands on the child's fd 3, replies
and events on its fd 4, each message ended by a NUL), so no debugging port is opened and no
driver or client library is needed: only Debian's chromium package.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Seconds the browser has to start and open its first page.
STARTUP_TIMEOUT = 90

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    "--remote-debugging-pipe",
]


class CDPError(RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One Chromium process and one page in it, attached with a flat session."""

    def __init__(self, proc: subprocess.Popen[bytes], commands: int, replies: int) -> None:
        self._proc = proc
        self._commands = commands
        self._replies = replies
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    # -- the wire -----------------------------------------------------------------------------

    def _write(self, message: dict[str, Any]) -> None:
        os.write(self._commands, json.dumps(message).encode() + b"\0")

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise TimeoutError("no message from chromium in time")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise CDPError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, timeout: float = 15, session: bool = True, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events seen meanwhile are kept in order."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session and self.session is not None:
            message["sessionId"] = self.session
        self._write(message)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 15, since: int = 0, **match: Any) -> dict[str, Any]:
        """The first event named ``method`` from ``events[since:]`` on (seen or coming) whose
        params match."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for event in self.events[seen:]:
                if event["method"] == method and all(event["params"].get(k) == v for k, v in match.items()):
                    return event["params"]
            seen = len(self.events)
            message = self._read(deadline)
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str, timeout: float = 15) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate", timeout=timeout, expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open_page(self) -> None:
        # The first page waits for the browser's own start-up (a fresh profile, its GPU and
        # renderer processes), which takes far longer on a loaded machine than any later call.
        target = self.call("Target.createTarget", timeout=STARTUP_TIMEOUT, session=False, url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", session=False, targetId=target, flatten=True)["sessionId"]

    def close(self) -> None:
        try:
            self._write({"id": 0, "method": "Browser.close", "params": {}})
            self._proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self._proc.pid, signal.SIGKILL)  # the browser and every process it started
            self._proc.wait(10)
        finally:
            os.close(self._commands)
            os.close(self._replies)


@contextmanager
def chromium(executable: str, profile: Path) -> Iterator[Browser]:
    """A fresh headless Chromium (its own profile directory) with one attached page."""
    # The child reads commands on fd 3 and writes replies on fd 4. Our ends are not
    # inheritable (PEP 446), so only 3 and 4 reach chromium without close_fds.
    child_in, commands = os.pipe()
    replies, child_out = os.pipe()

    def onto_fds_3_and_4() -> None:
        high_in = fcntl.fcntl(child_in, fcntl.F_DUPFD, 5)  # out of the way of the dup2s below
        high_out = fcntl.fcntl(child_out, fcntl.F_DUPFD, 5)
        os.dup2(high_in, 3)
        os.dup2(high_out, 4)

    proc = subprocess.Popen(
        [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=False,
        preexec_fn=onto_fds_3_and_4,
        start_new_session=True,
    )
    os.close(child_in)
    os.close(child_out)
    browser = Browser(proc, commands, replies)
    try:
        browser.open_page()
        yield browser
    finally:
        browser.close()
