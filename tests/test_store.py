"""The store against a real SQLite file and a real PostgreSQL database (the ``database``
fixture runs each test on both): schema, identity, in-place updates, transactions. The tests of
SQLite's own constructs (PRAGMAs, WAL, old file versions) use a SQLite file only."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from aggregator.errors import StorageError
from aggregator.models import Enclosure, ParsedItem, Tagging
from aggregator.normalize import content_hash, item_key
from aggregator.store import MIGRATIONS, Store
from aggregator.store.sqlite.schema import statements

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
#: A broken constraint, as each backend's driver says it.
INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)


def parsed(n: int, **kw) -> ParsedItem:
    base = dict(
        guid=f"https://example.org/{n}",
        link=f"https://example.org/{n}",
        title=f"Title {n} — l’IA au Maroc",
        summary="<p>Résumé</p>",
        published=T0,
        enclosures=(Enclosure("https://example.org/a.mp3", "audio/mpeg", 123),),
    )
    base.update(kw)
    return ParsedItem(**base)


@pytest.fixture
def store(database):
    s = Store(database)
    s.sync_sources(
        [("Hespress", "https://fr.hespress.com/feed"), ("Le360", "https://le360.ma/rss")]
    )
    yield s
    s.close()


def test_schema_version_and_pragmas(tmp_path):
    store = Store(tmp_path / "agg.db")
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.integrity_check() == "ok"
    store.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    con.close()
    with pytest.raises(StorageError, match="newer than this aggregator"):
        Store(path)


def test_not_a_database_is_a_storage_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError):
        Store(path)


def test_item_roundtrip_and_identity(store):
    p = parsed(1)
    tags = Tagging(("africa", "morocco"), ("MA",), {"morocco": ("title:Maroc",)})
    with store.transaction():
        iid = store.insert_item("Hespress", item_key(p), p.link, p, content_hash(p), tags, T0)
        store.new_cluster(iid, T0)
    item = store.item(iid)
    assert item.title == p.title and item.summary == p.summary
    assert item.published == T0 and item.first_seen == T0
    assert item.enclosures == p.enclosures
    assert item.tags == ("africa", "morocco") and item.countries == ("MA",)
    assert item.why == {"morocco": ("title:Maroc",)}
    assert store.known_items("Hespress", [item_key(p), "guid:nope"]) == {
        item_key(p): (iid, content_hash(p))
    }
    # The same key twice in one source violates the UNIQUE constraint.
    with pytest.raises(INTEGRITY), store.transaction():
        store.insert_item("Hespress", item_key(p), p.link, p, content_hash(p), tags, T0)
    # ... but another source may hold the same guid.
    with store.transaction():
        store.insert_item("Le360", item_key(p), p.link, p, content_hash(p), tags, T0)
    assert store.count_items() == 2


def test_update_in_place_keeps_id_first_seen_and_cluster(store):
    p = parsed(2)
    with store.transaction():
        iid = store.insert_item("Hespress", item_key(p), p.link, p, content_hash(p), Tagging(), T0)
        cid = store.new_cluster(iid, T0)
    changed = parsed(2, title="Corrected title")
    later = T0 + timedelta(hours=3)
    with store.transaction():
        store.update_item(
            iid, changed.link, changed, content_hash(changed), Tagging(("ai",)), later
        )
    item = store.item(iid)
    assert (item.id, item.first_seen, item.cluster_id) == (iid, T0, cid)
    assert item.title == "Corrected title" and item.last_seen == later and item.tags == ("ai",)


def test_transaction_rolls_back_everything(store):
    p = parsed(3)
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_item("Hespress", item_key(p), p.link, p, content_hash(p), Tagging(), T0)
        state = store.source_state("Hespress")
        from dataclasses import replace

        store.save_source_state(replace(state, state="ok", etag='"x"'))
        raise RuntimeError("crash mid-source")
    assert store.count_items() == 0
    assert store.source_state("Hespress").etag is None


def test_stories_group_clusters_with_also_in(store):
    a, b, c = parsed(10), parsed(11), parsed(12, title="Other story")
    with store.transaction():
        ia = store.insert_item("Hespress", item_key(a), a.link, a, "h1", Tagging(("ai",)), T0)
        cid = store.new_cluster(ia, T0)
        ib = store.insert_item(
            "Le360", item_key(b), b.link, b, "h2", Tagging(("africa",)), T0 + timedelta(minutes=5)
        )
        store.join_cluster(ib, cid, T0 + timedelta(minutes=5))
        ic = store.insert_item(
            "Le360", item_key(c), c.link, c, "h3", Tagging(), T0 + timedelta(hours=1)
        )
        cid2 = store.new_cluster(ic, T0 + timedelta(hours=1))
    stories = store.latest_stories(10)
    assert [s.cluster_id for s in stories] == [cid2, cid]
    merged = stories[1]
    assert merged.item.id == ia and merged.sources == ("Hespress", "Le360")
    assert [o.source for o in merged.also_in] == ["Le360"]
    assert set(merged.tags) == {"ai", "africa"}
    assert [s.cluster_id for s in store.latest_stories(10, tag="africa")] == [cid]
    week = store.stories_between(T0, T0 + timedelta(minutes=30))
    assert [s.cluster_id for s in week] == [cid]


def test_sync_sources_revives_gone_source_on_url_change(store):
    from dataclasses import replace

    st = store.source_state("Le360")
    store.save_source_state(replace(st, state="gone", gone=True, http_status=410))
    store.sync_sources([("Le360", "https://le360.ma/rss")])
    assert store.source_state("Le360").gone
    store.sync_sources([("Le360", "https://le360.ma/fr/rss")])
    revived = store.source_state("Le360")
    assert not revived.gone and revived.state == "new" and revived.fetch_url.endswith("/fr/rss")


def test_pausing_keeps_the_validators_and_a_settings_change_starts_fresh(store):
    """Both backends: pausing or resuming a source (its settings key's ":paused") ends its
    back-off and keeps its cache validators; changed settings start it fresh."""
    from dataclasses import replace

    store.sync_sources([("Le360", "https://le360.ma/rss", "k1")])
    backing_off = replace(store.source_state("Le360"), state="backing-off", etag='"v1"',
                          error_count=3, next_attempt=T0 + timedelta(hours=2))  # fmt: skip
    store.save_source_state(backing_off)
    assert store.sync_sources([("Le360", "https://le360.ma/rss", "k1:paused")]) == []
    paused = store.source_state("Le360")
    assert (paused.etag, paused.error_count, paused.next_attempt) == ('"v1"', 0, None)
    assert store.sync_sources([("Le360", "https://le360.ma/rss", "k2")]) == ["Le360"]
    fresh = store.source_state("Le360")
    assert (fresh.etag, fresh.state) == (None, "new")


def test_bulk_groups_units_but_a_failed_unit_rolls_back_alone(store):
    """A refresh commits several sources at once (fewer fsyncs); each source is a SAVEPOINT, so a
    failing one leaves the others whole."""
    a, b, c = parsed(20), parsed(21), parsed(22)
    with store.bulk():
        with store.transaction():
            store.insert_item("Hespress", item_key(a), a.link, a, "h", Tagging(), T0)
        with pytest.raises(RuntimeError), store.transaction():
            store.insert_item("Hespress", item_key(b), b.link, b, "h", Tagging(), T0)
            raise RuntimeError("this source failed")
        with store.transaction():
            store.insert_item("Le360", item_key(c), c.link, c, "h", Tagging(), T0)
    assert sorted(i.key for i in store.items()) == sorted([item_key(a), item_key(c)])


def test_v1_store_migrates_url_identity_to_the_key_table(tmp_path):
    """A store written by schema v1 (text index on items.canonical_url) opens as v2: the index
    is gone, the URL keys of its clustered items are filled in, and a new item with the same
    canonical URL still joins the old cluster (rule 1 has no age limit)."""
    from aggregator.dedupe import Deduper
    from aggregator.normalize import canonical_url

    path = tmp_path / "v1.db"
    db = sqlite3.connect(path, isolation_level=None)
    for ddl in MIGRATIONS[0]:
        for statement in statements(ddl):
            db.execute(statement)
    db.execute("PRAGMA user_version=1")
    db.execute("INSERT INTO sources(id, name, url, fetch_url) VALUES (1, 'Hespress', 'u', 'u')")
    db.execute("INSERT INTO clusters(id, rep_item_id, first_seen, last_seen) VALUES (7, 70, 0, 0)")
    old_url = "https://fr.hespress.com/404-maroc-ia.html"
    db.execute(
        "INSERT INTO items(id, source_id, key, link, canonical_url, title, summary, content,"
        " authors, categories, enclosures, first_seen, last_seen, content_hash, cluster_id)"
        " VALUES (70, 1, 'guid:a', ?, ?, 'Old story', '', '', '[]', '[]', '[]', 0, 0, 'h', 7)",
        (old_url, canonical_url(old_url)),
    )
    db.close()

    with Store(path) as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        indexes = {r[0] for r in s.db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "items_canonical" not in indexes
        assert s.db.execute("SELECT item_id FROM dedupe_urls").fetchall() == [(70,)]
        s.sync_sources([("Hespress", "u"), ("Le360", "https://le360.ma/rss")])
        p = parsed(1, guid=None, link=old_url + "?utm_source=x", title="Another headline")
        with s.transaction():
            iid = s.insert_item("Le360", item_key(p), canonical_url(p.link), p, "h2", Tagging(), T0)
            cid = Deduper(s).assign(iid, "Le360", p, canonical_url(p.link), T0)
        assert cid == 7 and s.item(iid).cluster_id == 7


def test_v2_store_migrates_text_keys_to_one_row_per_item(tmp_path):
    """A v2 store (one index row per text key) opens as v3: the key index is dropped, the items
    a dedupe window can reach get their keys and record again from their text, and a copy of a
    recent story arriving afterwards joins its cluster."""
    from aggregator.dedupe import Deduper
    from aggregator.normalize import canonical_url

    path = tmp_path / "v2.db"
    db = sqlite3.connect(path, isolation_level=None)
    for step in (0, 1):
        for ddl in MIGRATIONS[step]:
            for statement in statements(ddl):
                db.execute(statement)
    db.execute("PRAGMA user_version=2")
    db.execute("INSERT INTO sources(id, name, url, fetch_url) VALUES (1, 'Reuters', 'u', 'u')")
    title = "Gunmen abduct worshippers from Nigeria mosque, police say"
    body = (
        "Armed men abducted several worshippers from a mosque in Nigeria's north-central Niger"
        " state during dawn prayers on Sunday, police said, the latest in a wave of kidnappings."
    )
    recent, old = T0.timestamp(), (T0 - timedelta(days=60)).timestamp()
    for iid, seen in ((1, old), (2, recent)):
        db.execute("INSERT INTO clusters(id, rep_item_id, first_seen, last_seen) VALUES (?,?,?,?)",
                   (iid, iid, seen, seen))  # fmt: skip
        db.execute(
            "INSERT INTO items(id, source_id, key, link, title, summary, content, authors,"
            " categories, enclosures, first_seen, last_seen, content_hash, cluster_id)"
            " VALUES (?, 1, ?, ?, ?, ?, '', '[]', '[]', '[]', ?, ?, 'h', ?)",
            (iid, f"k{iid}", f"https://r.example/{iid}", title, body, seen, seen, iid),
        )
    db.execute("INSERT INTO dedupe_keys(bucket, key, item_id) VALUES (1, 2, 2)")
    db.close()

    with Store(path) as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in s.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "dedupe_keys" not in tables
        assert [r[0] for r in s.db.execute("SELECT item_id FROM dedupe_text")] == [2]
        s.sync_sources([("Reuters", "u"), ("Yahoo", "https://y.example/rss")])
        p = parsed(1, guid=None, link="https://y.example/copy", title=title + " - Yahoo News")
        p = dataclasses.replace(p, summary="(Reuters) - " + body)
        at = T0 + timedelta(hours=3)
        with s.transaction():
            iid = s.insert_item("Yahoo", item_key(p), canonical_url(p.link), p, "h2", Tagging(), at)
            cid = Deduper(s).assign(iid, "Yahoo", p, canonical_url(p.link), at)
        assert cid == 2


def test_bulk_checkpoints_committed_frames_in_the_background(tmp_path):
    """While a bulk refresh goes on (no auto-checkpoint, the store's own checkpoint comes at the
    end), a second connection copies committed WAL frames into the database file: it grows
    before the bulk ends."""
    import time

    path = tmp_path / "agg.db"
    store = Store(path)
    store.conn.checkpoint_every = 0.05
    store.sync_sources([("s", "https://s.example/feed")])
    with store.bulk(commit_every=1e-6):
        before = path.stat().st_size
        for n in range(300):
            with store.transaction():
                store.insert_items(
                    "s", [(f"k{n}", None, parsed(n), "h", Tagging())], T0 + timedelta(seconds=n)
                )
        deadline = time.monotonic() + 10
        while path.stat().st_size <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        grown = path.stat().st_size - before
    assert grown > 0
    assert store.count_items() == 300 and store.integrity_check() == "ok"
    store.close()


def test_each_table_family_round_trips_through_its_own_object(store):
    """The store is one object per table family over one connection: each family works alone
    (a caller may hold only the part it needs) and sees what the others wrote."""
    from aggregator.dedupe import Deduper
    from aggregator.models import Digest, DigestSection
    from aggregator.normalize import canonical_url
    from aggregator.store import postgres, sqlite

    backend = postgres if store.backend == "postgresql" else sqlite
    assert isinstance(store.sources, backend.Sources)
    assert isinstance(store.catalog, backend.Catalog)
    assert isinstance(store.dedupe, backend.DedupeIndex)
    assert isinstance(store.ledger, backend.Ledger) and isinstance(store.meta, backend.Meta)

    # sources
    store.sources.save_source_state(
        dataclasses.replace(store.sources.source_state("Le360"), etag='"e"')
    )
    assert store.source_state("Le360").etag == '"e"'

    # items and stories, clustered by the deduper over the dedupe family alone
    a, b = parsed(30), parsed(31, link="https://example.org/30?utm_source=x", title="Other words")
    with store.transaction():
        ia = store.catalog.insert_item(
            "Hespress", item_key(a), canonical_url(a.link), a, "h", Tagging(("ai",)), T0
        )
        ca = Deduper(store.dedupe).assign(ia, "Hespress", a, canonical_url(a.link), T0)
        ib = store.catalog.insert_item(
            "Le360", item_key(b), canonical_url(b.link), b, "h", Tagging(), T0
        )
        cb = Deduper(store.dedupe).assign(ib, "Le360", b, canonical_url(b.link), T0)
    assert ca == cb and store.catalog.unclustered_items() == []
    [story] = store.catalog.latest_stories(5)
    assert story.item.id == ia and story.sources == ("Hespress", "Le360") and story.tags == ("ai",)
    assert store.dedupe.next_cluster_id() == ca + 1
    assert store.dedupe.dedupe_prune(T0 + timedelta(days=1)) == 2

    # the digest ledger
    digest = Digest(
        "2026-W48", T0, T0 + timedelta(days=7), "Issue", (DigestSection("ai", "AI", (story,)),)
    )
    assert store.ledger.freeze_digest(digest, T0) == digest
    assert store.frozen_digest("2026-W48") == digest
    store.ledger.begin_delivery("2026-W48", "A@example.org", "<m@x>", T0)
    store.ledger.delivery_committing("2026-W48", "A@example.org", T0)
    assert store.ledger.delivery_flags("2026-W48") == {"a@example.org": (False, True)}
    store.ledger.finish_delivery("2026-W48", "A@example.org", "sent", T0)
    assert store.deliveries("2026-W48")["a@example.org"].status == "sent"
    assert store.subscriptions.unsubscribe(" A@Example.org ", T0) and not store.unsubscribe(
        "a@example.org", T0
    )
    assert store.subscriptions.unsubscribed() == {"a@example.org"}

    # meta
    assert store.meta.meta_get("k") is None
    assert (
        store.meta.meta_setdefault("k", "v1") == "v1" and store.meta_setdefault("k", "v2") == "v1"
    )
