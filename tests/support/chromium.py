"""Headless Chromium for the page tests, over the DevTools protocol on a pipe (no TCP port, no
extra dependency): open a local file at a given viewport width and evaluate an expression.

``--window-size`` cannot go below 500 px in headless Chromium, so the width is set with
``Emulation.setDeviceMetricsOverride`` (as a phone: ``mobile`` honours the viewport meta tag).
Host names do not resolve: only the local file loads.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio", "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]  # fmt: skip


def find_chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """One Chromium process; ``evaluate(path, width, expression)`` per page."""

    def __init__(self, executable: str, timeout: float = 30.0):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="agg-chromium-")
        to_r, to_w = os.pipe()  # we write -> Chromium reads on fd 3
        from_r, from_w = os.pipe()  # Chromium writes on fd 4 -> we read

        def child() -> None:
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile.name}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child, close_fds=False,
        )  # fmt: skip
        os.close(to_r)
        os.close(from_w)
        self._w, self._r = to_w, from_r
        self._buf = b""
        self._id = 0
        self._events: list[dict] = []

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already gone: fall through to kill
            self._send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _send(
        self, method: str, params: dict | None = None, session: str | None = None, timeout=None
    ) -> dict:
        self._id += 1
        mid = self._id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = self._read(deadline)
            if m.get("id") == mid:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self._events.append(m)

    def _wait_event(self, method: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, m in enumerate(self._events):
                if m.get("method") == method and m.get("sessionId") == session:
                    del self._events[i]
                    return
            self._events.append(self._read(deadline))

    def evaluate(self, path: Path, width: int, expression: str, height: int = 800) -> Any:
        """Load ``path`` in a fresh tab ``width`` CSS pixels wide and return the value of
        ``expression`` (JSON-serialisable)."""
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        try:
            self._send("Page.enable", session=session)
            self._send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
                session=session,
            )
            self._send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session)
            self._wait_event("Page.loadEventFired", session)
            result = self._send(
                "Runtime.evaluate",
                {"expression": expression, "returnByValue": True, "awaitPromise": True},
                session=session,
            )
            if "exceptionDetails" in result:
                raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
            return result["result"].get("value")
        finally:
            self._send("Target.closeTarget", {"targetId": target})


#: What the overflow check evaluates: the viewport, the document's scroll width, and the
#: elements reaching past the right edge (to say which one overflows).
OVERFLOW_JS = """(() => {
  const root = document.documentElement;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > root.clientWidth + 0.5 || r.left < -0.5) {
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                (el.className ? '.' + String(el.className).split(' ')[0] : '') +
                ' ' + Math.round(r.left) + '..' + Math.round(r.right));
    }
  }
  return {inner: window.innerWidth, client: root.clientWidth, scroll: root.scrollWidth,
          body: document.body.scrollWidth, wide: wide.slice(0, 10)};
})()"""
