"""A headless Debian chromium driven over the DevTools protocol, for the UI tests.

``--dump-dom`` only sees the page as it loads; the Prefect UI opens a run on its Logs
tab whatever the ``?tab=`` query says, so a test that must click a tab needs a driver.
Playwright's browser download does not work here, and ``websockets`` (a Prefect
dependency) is enough for the three calls used: evaluate, wait, screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1100", "--remote-debugging-port=0",
]


class Browser:
    """One chromium with one page: ``with Browser(tmp) as b: b.open(url); b.wait_for_text("x")``."""

    def __init__(self, profile: Path, executable: str | None = None) -> None:
        self.executable = executable or shutil.which("chromium")
        if self.executable is None:
            raise FileNotFoundError("Debian's chromium is not installed (.ci/run installs it)")
        self.profile = Path(profile)
        self._ids = itertools.count(1)

    def __enter__(self) -> Browser:
        self.profile.mkdir(parents=True, exist_ok=True)
        port_file = self.profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a reused profile keeps the last browser's port
        self.proc = subprocess.Popen([self.executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            self._connect(port_file)
        except BaseException:
            self._stop()
            raise
        return self

    def _connect(self, port_file: Path) -> None:
        from websockets.sync.client import connect

        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json", timeout=10).json() if t["type"] == "page"]
        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=30)

    def __exit__(self, *exc) -> None:
        self.ws.close()
        self._stop()

    def _stop(self) -> None:
        """Stop this browser's own process group (its zygote and renderers too)."""
        import os
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)

    def call(self, method: str, **params) -> dict:
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=120))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for {expression}")
            time.sleep(0.3)

    def wait_for_text(self, *texts: str, timeout: float = 60) -> None:
        cond = " && ".join(f"document.body && document.body.innerText.includes({json.dumps(t)})" for t in texts)
        self.wait_for(cond, timeout)

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)
