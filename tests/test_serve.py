"""`aggregator serve` as an operator runs it: a subprocess serving the outputs and answering the
one-click unsubscribe (RFC 8058) that the digest's List-Unsubscribe header points at."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from aggregator.config import load
from aggregator.store import Store
from aggregator.unsubscribe import make_token, secret_for

from support.corpus import write_config

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_serve_outputs_and_one_click_unsubscribe(tmp_path):
    config = write_config(tmp_path, [("x", "http://127.0.0.1:9/feed.xml")])
    settings = load(config)
    settings.output.dir.mkdir(parents=True)
    (settings.output.dir / "feed.xml").write_text("<rss version='2.0'/>", encoding="utf-8")
    with Store(settings.database) as store:
        secret = secret_for(settings.secret_env, store, environ={})
        reader = store.set_subscriber_status("Reader@Example.org", "confirmed", "config", T0)
    assert reader is not None
    token = make_token(secret, reader.uid)  # opaque: no address inside
    assert "reader" not in token.lower()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != settings.secret_env}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # Ctrl-C as a terminal sends it: a suite started in the background (nohup, `&` in a
        # script) ignores SIGINT, the child would inherit that and never see the SIGINT below.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/feed.xml")
        with urllib.request.urlopen(f"{base}/feed.xml", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("application/rss+xml")
        # GET shows a confirmation page and changes nothing (mail scanners follow links).
        with urllib.request.urlopen(f"{base}/unsubscribe?token={token}", timeout=5) as resp:
            assert resp.status == 200 and b"<form" in resp.read()
        with Store(settings.database) as store:
            assert store.unsubscribed() == set()
        # A forged token is refused.
        bad = urllib.request.Request(
            f"{base}/unsubscribe?token={token[:-2]}xx", data=b"List-Unsubscribe=One-Click"
        )
        try:
            urllib.request.urlopen(bad, timeout=5)
            raise AssertionError("a forged token was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
        # The RFC 8058 one-click POST records it.
        req = urllib.request.Request(
            f"{base}/unsubscribe?token={token}",
            data=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
        with Store(settings.database) as store:
            assert store.unsubscribed() == {"reader@example.org"}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
