"""Per-source settings (enabled, interval, per_host, include/exclude) and a changed source that
starts fresh: real config files, the loopback feed server, a real SQLite store."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.config import load, problems
from aggregator.files import write_atomic
from aggregator.service.pipeline import Pipeline, publish
from aggregator.service.scheduler import ConfigWatch, shortest_interval
from aggregator.store import Store

DEMO = Path(__file__).resolve().parents[1] / "aggregator" / "data" / "demo"
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def config(tmp_path: Path, sources: str, fetch: str = "") -> Path:
    """A config.yaml whose ``sources:`` block is ``sources`` (YAML text, indented by 2)."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "database: agg.db\n"
        "output: {dir: public, base_url: 'https://news.example.org/'}\n"
        f"fetch: {{timeout: 10s, allow_private: ['127.0.0.0/8'], workers: 8{fetch}}}\n"
        "sources:\n" + sources,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def demo(feed_server_factory):
    return feed_server_factory(DEMO)


def test_the_new_keys_are_read_and_bad_ones_named_with_line_and_key(tmp_path):
    path = config(
        tmp_path,
        "  - name: A\n    url: https://a.example/feed\n    enabled: false\n    interval: 2h\n"
        "    per_host: 1\n    include: ['\\bAI\\b']\n    exclude: [sponsored, 'partner content']\n",
    )
    (a,) = load(path).sources
    assert (a.enabled, a.interval, a.per_host) == (False, 7200.0, 1)
    assert a.include == ("\\bAI\\b",) and a.exclude == ("sponsored", "partner content")

    path = config(
        tmp_path,
        "  - name: A\n    url: https://a.example/feed\n    exclude: ['(sponsored', \"\\bx\"]\n"
        "    interval: never\n    per_host: 0\n    enabled: maybe\n",
    )
    found = problems(path)
    assert any(
        p.startswith(f"{path}:7: sources[0].exclude[0]: bad regular expression '(sponsored'")
        for p in found
    ), found
    assert any("sources[0].exclude[1]: control character" in p and "single quotes" in p
               for p in found)  # fmt: skip
    assert any(p.startswith(f"{path}:8: sources[0].interval: bad duration") for p in found)
    assert any(p.startswith(f"{path}:9: sources[0].per_host: must be between 1") for p in found)
    assert any(
        p.startswith(f"{path}:10: sources[0].enabled: expected true or false") for p in found
    )


def test_excluded_items_are_stored_counted_and_never_published(tmp_path, demo):
    path = config(
        tmp_path,
        f"  - name: TechCabal\n    url: {demo.url('techcabal-en.xml')}\n"
        "    exclude: ['iphone', '^👨']\n",
    )
    settings = load(path)
    with Store(settings.database) as store, Pipeline(settings, store) as pipe:
        report = pipe.refresh()
        (state,) = store.source_states()
        assert state.items == 10 and state.excluded == 3  # 2 iPhone titles, 1 newsletter
        assert report.new_items == 7
        titles = [s.item.title for s in store.latest_stories(100)]
        assert len(titles) == 7 and not any("iPhone" in t for t in titles)
        week = store.stories_between(T0 - timedelta(days=3650), T0 + timedelta(days=3650))
        assert len(week) == 7
        publish(settings, store)
    feed = (tmp_path / "public" / "feed.xml").read_text(encoding="utf-8")
    assert "Ampersand opens battery network" in feed and "iPhone" not in feed


def test_a_changed_include_exclude_judges_the_stored_items_again(tmp_path, demo):
    url = demo.url("techcabal-en.xml")
    path = config(tmp_path, f"  - name: TechCabal\n    url: {url}\n")
    settings = load(path)
    with Store(settings.database) as store:
        with Pipeline(settings, store) as pipe:
            pipe.refresh()
        assert store.source_states()[0].excluded == 0
        path = config(tmp_path, f"  - name: TechCabal\n    url: {url}\n    include: [safaricom]\n")
        with Pipeline(load(path), store):
            pass
        assert store.source_states()[0].excluded == 7  # three mention Safaricom: kept
        assert len(store.latest_stories(100)) == 3


def test_a_paused_source_is_never_fetched(tmp_path, demo):
    path = config(
        tmp_path,
        f"  - name: TechCabal\n    url: {demo.url('techcabal-en.xml')}\n    enabled: false\n"
        f"  - name: Hespress\n    url: {demo.url('hespress-ar.xml')}\n",
    )
    settings = load(path)
    with Store(settings.database) as store, Pipeline(settings, store) as pipe:
        assert [s.name for s in pipe.due_sources(force=True)] == ["Hespress"]
        report = pipe.refresh(force=True)
    assert [o.name for o in report.outcomes] == ["Hespress"]
    assert not demo.requests_for("/techcabal-en.xml")


def test_a_source_interval_overrides_fetch_interval(tmp_path, demo):
    path = config(
        tmp_path,
        f"  - name: Slow\n    url: {demo.url('techcabal-en.xml')}\n    interval: 6h\n"
        f"  - name: Default\n    url: {demo.url('hespress-ar.xml')}\n",
        fetch=", interval: 20m",
    )
    settings = load(path)
    clock = Clock(T0)
    with Store(settings.database) as store, Pipeline(settings, store, clock=clock) as pipe:
        pipe.refresh()
        states = {s.name: s for s in store.source_states()}
    assert states["Slow"].next_attempt == T0 + timedelta(hours=6)
    assert states["Default"].next_attempt == T0 + timedelta(minutes=20)
    assert states["Slow"].last_success == T0
    assert shortest_interval(settings) == 1200.0
    fast = config(tmp_path, f"  - name: Fast\n    url: {demo.url('a.xml')}\n    interval: 5m\n")
    assert shortest_interval(load(fast)) == 300.0


def test_a_source_per_host_limits_its_host(tmp_path, demo):
    for i in range(4):
        demo.put(f"f{i}.xml", (DEMO / "techcabal-en.xml").read_bytes())
    entries = "".join(
        f"  - name: S{i}\n    url: {demo.url(f'_slow?delay=0.4&doc=f{i}.xml')}\n    per_host: 1\n"
        for i in range(4)
    )
    settings = load(config(tmp_path, entries, fetch=", per_host: 4"))
    with Store(settings.database) as store, Pipeline(settings, store) as pipe:
        report = pipe.refresh()
    assert report.count("ok") == 4
    assert demo.max_concurrent("/") == 1  # fetch.per_host 4 would have run them at once


def test_a_changed_source_starts_fresh(tmp_path, demo):
    url = demo.url("techcabal-en.xml")
    path = config(tmp_path, f"  - name: TechCabal\n    url: {url}\n")
    clock = Clock(T0)
    with Store(tmp_path / "agg.db") as store:
        with Pipeline(load(path), store, clock=clock) as pipe:
            pipe.refresh()
            assert pipe.due_sources() == []  # fetched: not due for 30 minutes
        state = store.source_state("TechCabal")
        assert state.etag and state.body_hash
        # Same settings: still not due.
        with Pipeline(load(path), store, clock=clock) as pipe:
            assert pipe.due_sources() == []
        # Another setting (a tag): due at once, without its validators.
        config(tmp_path, f"  - name: TechCabal\n    url: {url}\n    tags: [ai]\n")
        with Pipeline(load(path), store, clock=clock) as pipe:
            (due,) = pipe.due_sources()
            assert due.etag is None and due.body_hash is None and due.state == "new"
            demo.reset()
            pipe.refresh()
        (req,) = demo.requests_for("/techcabal-en.xml")
        assert "if-none-match" not in req.headers


def test_pause_then_resume_keeps_the_validators(tmp_path, demo, capsys):
    """Issue 19's leftover: 'sources resume' changed the settings key and the next fetch was a
    full one. Pausing is not a change of settings: the next GET after resume is conditional."""
    from aggregator.cli.main import main

    url = demo.url("techcabal-en.xml")
    path = config(tmp_path, f"  - name: TechCabal\n    url: {url}\n    tags: [ai]\n")
    clock = Clock(T0)
    with Store(tmp_path / "agg.db") as store:
        with Pipeline(load(path), store, clock=clock) as pipe:
            assert pipe.refresh().count("ok") == 1
        etag = store.source_state("TechCabal").etag
        assert etag
        assert main(["--config", str(path), "sources", "pause", "TechCabal"]) == 0
        assert "enabled: false" in path.read_text(encoding="utf-8")
        with Pipeline(load(path), store, clock=clock) as pipe:
            assert pipe.due_sources(force=True) == []
        assert store.source_state("TechCabal").etag == etag
        assert main(["--config", str(path), "sources", "resume", "TechCabal"]) == 0
        demo.reset()
        with Pipeline(load(path), store, clock=clock) as pipe:  # 'at the next refresh'
            (due,) = pipe.due_sources()
            assert due.etag == etag and due.body_hash
            report = pipe.refresh()
        assert report.count("not-modified") == 1
        (req,) = demo.requests_for("/techcabal-en.xml")
        assert req.headers.get("if-none-match") == etag
        # a real change of settings still starts the source fresh
        config(tmp_path, f"  - name: TechCabal\n    url: {url}\n    tags: [ai, africa]\n")
        with Pipeline(load(path), store, clock=clock) as pipe:
            (due,) = pipe.due_sources()
            assert due.etag is None and due.state == "new"
    capsys.readouterr()


def test_the_settings_key_ignores_pausing_and_keeps_its_old_value():
    from aggregator.models import Source

    active = Source("A", "https://a/", tags=("ai",))
    paused = Source("A", "https://a/", tags=("ai",), enabled=False)
    assert paused.settings_key() == active.settings_key() + ":paused"
    assert Source("B", "https://a/", tags=("ai",)).settings_key() == active.settings_key()
    assert Source("A", "https://a/", tags=("africa",)).settings_key() != active.settings_key()
    # the key of an active source is the one stores already hold (no refetch on upgrade)
    assert Source("A", "https://a/").settings_key() == "8e0dca722ca4955f"


def test_fixing_a_fetch_setting_ends_the_back_off(tmp_path, demo):
    """The issue's first complaint: allow_private fixed, and yet 'fetch' did nothing."""
    url = demo.url("techcabal-en.xml")
    path = tmp_path / "config.yaml"
    path.write_text(f"database: agg.db\nsources:\n  - name: T\n    url: {url}\n", encoding="utf-8")
    clock = Clock(T0)
    with Store(tmp_path / "agg.db") as store:
        with Pipeline(load(path), store, clock=clock) as pipe:
            report = pipe.refresh()
        assert "refused private address" in (report.outcomes[0].error or "")
        config(tmp_path, f"  - name: T\n    url: {url}\n")  # allow_private: 127.0.0.0/8
        with Pipeline(load(path), store, clock=clock) as pipe:
            assert [s.name for s in pipe.due_sources()] == ["T"]
            assert pipe.refresh().count("ok") == 1


def test_a_renamed_source_keeps_its_items(tmp_path, demo):
    url = demo.url("techcabal-en.xml")
    path = config(tmp_path, f"  - name: TechCabal\n    url: {url}\n")
    with Store(tmp_path / "agg.db") as store:
        with Pipeline(load(path), store) as pipe:
            pipe.refresh()
        config(tmp_path, f"  - name: TechCabal (EN)\n    url: {url}\n")
        with Pipeline(load(path), store) as pipe:
            assert pipe.due_sources() == []  # the same source: not due again
        (state,) = store.source_states()
        assert state.name == "TechCabal (EN)" and state.items == 10
        assert {s.item.source for s in store.latest_stories(100)} == {"TechCabal (EN)"}


def test_the_config_watch_sees_an_atomic_replace(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    watch = ConfigWatch(path)
    assert not watch.changed()
    stat = path.stat()
    write_atomic(path, b"a: 2\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time, same size
    assert watch.changed() and not watch.changed()
    path.unlink()
    assert not watch.changed()  # no file: nothing to reload


def test_a_v3_store_migrates_and_keeps_its_sources_state(tmp_path):
    """Schema v4: last_success from the last fetch of sources that were fine, items not
    excluded, and the first sync records each source's settings without resetting it."""
    import sqlite3

    from aggregator.models import Source
    from aggregator.store.sqlite.schema import MIGRATIONS, statements

    path = tmp_path / "v3.db"
    db = sqlite3.connect(path, isolation_level=None)
    for step in range(3):
        for ddl in MIGRATIONS[step]:
            for statement in statements(ddl):
                db.execute(statement)
    db.execute("PRAGMA user_version=3")
    at = T0.timestamp()
    db.execute(
        "INSERT INTO sources(id, name, url, fetch_url, state, etag, last_fetch, next_attempt)"
        " VALUES (1, 'A', 'https://a/', 'https://a/', 'ok', '\"e1\"', ?, ?),"
        " (2, 'B', 'https://b/', 'https://b/', 'backing-off', NULL, ?, ?)",
        (at, at + 1800, at, at + 600),
    )
    db.execute(
        "INSERT INTO items(id, source_id, key, title, summary, content, authors, categories,"
        " enclosures, first_seen, last_seen, content_hash) VALUES"
        " (1, 1, 'k', 't', '', '', '[]', '[]', '[]', ?, ?, 'h')",
        (at, at),
    )
    db.close()
    with Store(path) as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 5
        a, b = s.source_states()
        assert a.last_success == T0 and b.last_success is None
        assert a.items == 1 and a.excluded == 0
        sources = [Source("A", "https://a/"), Source("B", "https://b/")]
        assert s.sync_sources([(x.name, x.url, x.settings_key()) for x in sources]) == []
        assert s.source_state("A").etag == '"e1"'  # recorded, not reset
        assert s.source_state("B").next_attempt == T0 + timedelta(seconds=600)
        changed = Source("A", "https://a/", interval=3600.0)
        assert s.sync_sources([("A", "https://a/", changed.settings_key())]) == ["A"]
        assert s.source_state("A").etag is None
