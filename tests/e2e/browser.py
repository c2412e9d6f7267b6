"""Debian's headless Chromium driven over the DevTools protocol: no browser download, no driver.

Enough to open a page, wait for its images, and read them inside cross-origin iframes (the MLflow
UI shows HTML artifacts in a sandboxed one).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

from websockets.sync.client import connect

from tests.core.tracking.process_helpers import free_port

CHROMIUM = shutil.which("chromium")
IMAGES = "JSON.stringify(Array.from(document.images).map(i => [i.complete, i.naturalWidth]))"


class Browser:
    """One headless Chromium process with one page; `close` stops it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        flags = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            [CHROMIUM, *flags, f"--user-data-dir={self.profile}",
             f"--remote-debugging-port={self.port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.socket = connect(self._page_socket(), max_size=None)
        self.calls = 0

    def _page_socket(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json", timeout=2) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError("chromium's DevTools endpoint did not answer in 30 s")

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """One DevTools command (in an attached frame's `session` when given); its result."""
        self.calls += 1
        message: dict[str, Any] = {"id": self.calls, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == self.calls:
                return reply.get("result", {})

    def evaluate(self, expression: str, session: str | None = None) -> Any:
        result = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for_images(
        self, count: int, session: str | None = None, timeout: float = 60
    ) -> list[list]:
        """The page's images once at least `count` have finished loading (or what there is)."""
        deadline = time.monotonic() + timeout
        images: list[list] = []
        while time.monotonic() < deadline:
            images = json.loads(self.evaluate(IMAGES, session) or "[]")
            if len(images) >= count and all(done for done, _ in images):
                break
            time.sleep(0.5)
        return images

    def attach_frame(self, timeout: float = 60) -> str:
        """A session inside the page's first iframe, once it exists."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames = [
                t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "iframe"
            ]
            if frames:
                attached = self.call(
                    "Target.attachToTarget", targetId=frames[0]["targetId"], flatten=True
                )
                return attached["sessionId"]
            time.sleep(0.5)
        raise TimeoutError("the page opened no iframe")

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
