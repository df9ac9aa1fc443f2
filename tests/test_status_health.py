"""Health over time: the fetch-attempt history (migration, recording, pruning), the silence
rule, and ``aggregator status`` as an operator runs it against the loopback HTTP server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.clock import utcnow
from aggregator.models import SourceState
from aggregator.service.health import SILENT_FLOOR, human_age, source_health
from aggregator.store import Store
from aggregator.store.sources import KEPT_ATTEMPTS
from aggregator.store.sqlite import schema

try:
    from support.feedserver import FeedServer
except ImportError:  # pragma: no cover
    from support.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "aggregator" / "data" / "demo"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_an_older_store_gains_the_attempt_table_and_keeps_its_sources(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    for step in schema.MIGRATIONS[:-1]:  # the store as the previous version left it
        for ddl in step:
            for statement in schema.statements(ddl):
                db.execute(statement)
    db.execute("INSERT INTO sources(name, url, fetch_url) VALUES ('A', 'https://a/', 'https://a/')")
    db.execute(f"PRAGMA user_version={len(schema.MIGRATIONS) - 1}")
    db.close()
    with Store(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
        assert [s.name for s in store.source_states()] == ["A"]
        assert store.attempt_counts() == {}


def test_every_saved_fetch_is_one_attempt_and_only_the_last_30_are_kept(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.sync_sources([("A", "https://a.example/feed"), ("B", "https://b.example/feed")])
        a = store.source_state("A")
        for i in range(KEPT_ATTEMPTS + 12):
            failed = i % 4 == 0
            state = replace(
                a, last_fetch=T0 + timedelta(minutes=30 * i), http_status=500 if failed else 200,
                last_error="HTTP 500" if failed else None,
            )  # fmt: skip
            store.save_source_state(state)
            store.save_source_state(state)  # saved twice: still one attempt
        store.save_source_states([replace(store.source_state("B"), last_fetch=T0)])
        rows = store.db.execute(
            "SELECT at FROM fetch_attempts a JOIN sources s ON s.id = a.source_id"
            " WHERE s.name = 'A' ORDER BY at"
        ).fetchall()
        assert len(rows) == KEPT_ATTEMPTS
        # the newest 30 kept: attempts 12..41, of which 12, 16, ..., 40 failed (8)
        assert rows[0][0] == (T0 + timedelta(minutes=30 * 12)).timestamp()
        assert store.attempt_counts() == {"A": (30, 22), "B": (1, 1)}
        store.save_source_state(SourceState("A", "https://a.example/feed", "x"))  # never fetched
        assert store.attempt_counts()["A"] == (30, 22)


def _times(start: datetime, gap: timedelta, n: int) -> list[datetime]:
    return [start - i * gap for i in range(n)]


def test_silence_is_measured_against_the_sources_own_pace():
    now = T0
    hourly = _times(now - timedelta(hours=30), timedelta(hours=1), 20)
    h = source_health((30, 27), hourly, now)
    assert h.median_gap == timedelta(hours=1) and h.success_rate == 0.9
    assert not h.silent  # 30 h quiet is 30 gaps, but under the two-day floor
    h = source_health((30, 27), hourly, now + SILENT_FLOOR)
    assert h.silent
    weekly = _times(now - timedelta(days=40), timedelta(days=7), 10)
    assert not source_health(None, weekly, now).silent  # 40 days is under 10 x 7 days
    assert source_health(None, weekly, now + timedelta(days=31)).silent
    few = _times(now - timedelta(days=400), timedelta(days=1), 4)
    assert not source_health(None, few, now).silent  # too few items to know its pace
    empty = source_health(None, None, now)
    assert (empty.success_rate, empty.last_item, empty.silent) == (None, None, False)
    assert [human_age(timedelta(minutes=m)) for m in (5, 180, 60 * 24 * 12)] == [
        "5 min", "3 h", "12 d",
    ]  # fmt: skip


def _fresh_feed(n: int, gap: timedelta, newest: datetime) -> bytes:
    items = "".join(
        f"<item><title>Story {i}</title><link>https://fresh.example/{i}</link>"
        f"<guid>fresh-{i}</guid><pubDate>{format_datetime(newest - i * gap)}</pubDate></item>"
        for i in range(n)
    )
    return f'<rss version="2.0"><channel><title>Fresh</title>{items}</channel></rss>'.encode()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip


@pytest.fixture
def site(tmp_path):
    with FeedServer(root=DEMO) as srv:
        srv.put("/fresh.xml", _fresh_feed(12, timedelta(hours=2), utcnow() - timedelta(hours=1)))
        (tmp_path / "config.yaml").write_text(
            "sources:\n"
            f"  - name: Fresh\n    url: {srv.url('fresh.xml')}\n"
            f"  - name: TechCabal\n    url: {srv.url('techcabal-en.xml')}\n"  # items from 2025
            f"  - name: Broken\n    url: {srv.url('_status/503')}\n"
            "fetch:\n  allow_private: [127.0.0.0/8]\n",
            encoding="utf-8",
        )
        yield tmp_path


def test_status_shows_success_rate_last_item_and_silent_sources(site):
    for _ in range(3):
        _cli("fetch", "--force", cwd=site)
    rows = {r["name"]: r for r in json.loads(_cli("status", "--json", cwd=site).stdout)}

    assert (rows["Fresh"]["attempts"], rows["Fresh"]["successes"]) == (3, 3)
    assert rows["Fresh"]["success_rate"] == 1.0
    assert rows["Broken"]["success_rate"] == 0.0 and rows["Broken"]["last_item"] is None
    assert rows["Fresh"]["median_gap_seconds"] == 7200
    assert 3600 <= rows["Fresh"]["since_last_item_seconds"] < 3600 + 600
    assert rows["Fresh"]["silent"] is False
    assert rows["TechCabal"]["silent"] is True  # its newest story is from 2025
    assert rows["TechCabal"]["since_last_item_seconds"] > 30 * 86400

    table = _cli("status", cwd=site).stdout
    lines = {line.split()[0]: line for line in table.splitlines()[1:] if line.strip()}
    assert " 3/3 " in lines["Fresh"] and " 0/3 " in lines["Broken"]
    assert "SILENT: nothing new for" in lines["TechCabal"]
    assert "SILENT" not in lines["Fresh"]
    assert table.rstrip().endswith(
        "1 source silent for much longer than usual: TechCabal (check the site: a new feed URL, "
        "or a dead feed?)"
    )


def test_status_times_are_in_the_digest_time_zone_as_sources_list_says(site):
    config = site / "config.yaml"
    config.write_text(config.read_text() + "digest:\n  timezone: Asia/Tokyo\n", encoding="utf-8")
    _cli("fetch", "--force", cwd=site)
    row = {r["name"]: r for r in json.loads(_cli("status", "--json", cwd=site).stdout)}["Fresh"]
    tokyo = datetime.fromisoformat(row["last_fetch"]).astimezone(ZoneInfo("Asia/Tokyo"))
    table = _cli("status", cwd=site).stdout
    fresh = next(line for line in table.splitlines() if line.startswith("Fresh "))
    assert tokyo.strftime("%Y-%m-%d %H:%M") in fresh, table
    assert "(3 sources; times in Asia/Tokyo)" in table
    listed = _cli("sources", "list", cwd=site).stdout
    assert tokyo.strftime("%Y-%m-%d %H:%M") in listed and "times in Asia/Tokyo" in listed
