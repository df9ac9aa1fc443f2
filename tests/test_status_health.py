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

from aggregator.cli.main import status_summary
from aggregator.clock import utcnow
from aggregator.models import SourceState
from aggregator.service.health import SILENT_FLOOR, Standing, human_age, source_health, standing
from aggregator.store import Store
from aggregator.store.sources import KEPT_ATTEMPTS
from aggregator.store.sqlite import schema

try:
    from support.feedserver import FeedServer
    from support.smtpserver import RefusingSink
except ImportError:  # pragma: no cover
    from support.feedserver import FeedServer
    from support.smtpserver import RefusingSink

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


def test_status_opens_with_what_needs_attention_and_how_the_last_digest_went(site):
    """An operator's morning: one line before the table says what to look at."""
    config = site / "config.yaml"
    with RefusingSink(temporary={"karim@example.org": 99}, permanent={"old@example.org": ""}) as mx:
        config.write_text(
            config.read_text() + "digest:\n  timezone: UTC\n"
            f"  smtp: {{host: 127.0.0.1, port: {mx.port}, security: none, retries: 0}}\n"
            "  recipients: [amina@example.org, karim@example.org, old@example.org]\n",
            encoding="utf-8",
        )
        _cli("fetch", cwd=site)
        assert _cli("status", cwd=site).stdout.splitlines()[0] == (
            "needs attention: 1 source failing, 1 silent (1 fine); no digest sent yet"
        )
        week = utcnow().strftime("%G-W%V")
        sent = subprocess.run(
            [sys.executable, "-m", "aggregator", "digest", "--send", "--week", week, "--grace", "3650d"],
            cwd=site, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert "1 of 3 sent" in sent.stdout, sent.stdout + sent.stderr
    lines = _cli("status", cwd=site).stdout.splitlines()
    assert lines[0] == (
        "needs attention: 1 source failing, 1 silent (1 fine); "
        f"digest {week} sent to 1 of 3 (1 deferred, 1 refused)"
    )
    assert lines[1].startswith("source ")  # then the table, as before


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


def _src(enabled: bool = True):
    from aggregator.models import Source

    return Source("S", "https://s.example/feed", enabled=enabled)


_STATE = SourceState("S", "https://s.example/feed", "https://s.example/feed")
_LATER = T0 + timedelta(hours=1)
_QUIET = source_health((3, 3), _times(T0 - timedelta(days=30), timedelta(hours=1), 10), T0)


@pytest.mark.parametrize(
    ("enabled", "stored", "health", "expected", "group", "due"),
    [
        # paused wins over everything the store says, and is never due
        (False, replace(_STATE, state="backing-off", next_attempt=T0), _QUIET,
         ("paused", None, None, False), "paused", False),
        (True, None, None, ("new", None, None, False), "fresh", True),  # not in the store yet
        (True, replace(_STATE, last_success=T0, next_attempt=_LATER), None,
         ("new", T0, _LATER, False), "fresh", False),
        (True, replace(_STATE, state="ok", last_success=T0, next_attempt=T0), None,
         ("ok", T0, T0, False), "fresh", True),
        (True, replace(_STATE, state="error", next_attempt=_LATER), None,
         ("error", None, _LATER, False), "failing", False),
        # a failing source's silence is its error: not silent
        (True, replace(_STATE, state="backing-off", last_success=T0, next_attempt=T0), _QUIET,
         ("backing-off", T0, T0, False), "failing", True),
        # gone (410) is never due, whatever next attempt was stored; never silent
        (True, replace(_STATE, state="gone", gone=True, next_attempt=T0), _QUIET,
         ("gone", None, None, False), "gone", False),
        # silent: since its last new item, and still fetched on schedule
        (True, replace(_STATE, state="not-modified", last_success=T0, next_attempt=_LATER),
         _QUIET, ("not-modified", T0 - timedelta(days=30), _LATER, True), "fresh", False),
        (True, replace(_STATE, state="moved", last_success=T0), None,
         ("moved", T0, None, False), "fresh", True),
    ],
)  # fmt: skip
def test_standing_is_the_one_answer_for_every_command(
    enabled, stored, health, expected, group, due
):
    view = standing(_src(enabled), stored, health)
    assert (view.state, view.since, view.next_due, view.silent) == expected
    assert (view.group, view.due(T0)) == (group, due)
    assert view.stopped == (view.state in ("paused", "gone"))


def test_the_summary_line_says_what_needs_attention_and_how_the_digest_went():
    def views(*pairs):
        return [Standing(state, silent=silent) for state, silent in pairs]

    n = {"sent": 41, "deferred": 1, "refused": 0, "pending": 0}
    assert status_summary(
        views(("backing-off", False), ("error", False), ("ok", True), ("paused", False),
              ("ok", False)), ("2026-W50", n),
    ) == (
        "needs attention: 2 sources failing, 1 silent (1 paused, 1 fine); "
        "digest 2026-W50 sent to 41 of 42 (1 deferred)"
    )  # fmt: skip
    assert status_summary(views(("gone", False), ("moved", False), ("new", False)), None) == (
        "needs attention: 1 source gone, 1 moved (1 not fetched yet); no digest sent yet"
    )
    n = {"sent": 3, "deferred": 0, "refused": 0, "pending": 0}
    assert status_summary(views(("ok", False), ("not-modified", False)), ("2026-W49", n)) == (
        "all 2 sources fine; digest 2026-W49 sent to 3 of 3"
    )
    assert status_summary(views(("paused", False), ("ok", False)), None).startswith(
        "2 sources: 1 paused, 1 fine; "
    )
