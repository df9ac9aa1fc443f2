"""``aggregator demo`` end to end: bundled feeds on loopback, whole pipeline, files to look at."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

from aggregator import config
from aggregator.cli import demo

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "aggregator" / "data" / "demo"


def test_bundled_sample_is_small_real_and_multilingual():
    files = sorted(DEMO_DATA.glob("*.xml"))
    assert [f.name for f in files] == sorted(f for f, *_ in demo.DEMO_FEEDS)
    assert sum(f.stat().st_size for f in DEMO_DATA.iterdir()) < 1_000_000
    assert {lang for _, _, lang, *_ in demo.DEMO_FEEDS} == {"ar", "fr", "en"}
    assert (DEMO_DATA / "SOURCES.md").is_file()  # provenance of each file


def test_demo_runs_the_whole_pipeline_offline(tmp_path):
    out = io.StringIO()
    assert demo.run_demo(tmp_path, out) == 0
    text = out.getvalue()

    public = tmp_path / "public"
    for name in ("feed.xml", "atom.xml", "feed.json", "index.html"):
        assert (public / name).stat().st_size > 0, name
    items = json.loads((public / "feed.json").read_text(encoding="utf-8"))["items"]
    assert len(items) >= 50  # 70 items in the sample, merged into stories
    assert any(re.search("[\u0600-\u06ff]", i.get("title", "")) for i in items)  # Arabic kept
    assert list((public / "tags").glob("*.xml"))  # tagging ran: per-tag feeds exist

    (eml,) = (tmp_path / "outbox").rglob("*.eml")
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["To"] == "reader@example.org"
    assert msg.get_body(("html",)) is not None and msg.get_body(("plain",)) is not None

    # it tells the reader where to look
    assert str(public / "feed.xml") in text and str(public / "index.html") in text
    assert str(eml) in text
    assert "6 sources: 70 items" in text
    # the config it wrote is a valid one the reader can reuse
    assert len(config.load(tmp_path / "config.yaml").sources) == 6


def test_cli_demo_exits_0_in_a_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    env.pop("AGGREGATOR_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "aggregator", "demo"],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (workdir,) = tmp_path.glob("aggregator-demo-*")
    assert (workdir / "public" / "index.html").stat().st_size > 0
    assert f"page:   {workdir / 'public' / 'index.html'}" in proc.stdout
