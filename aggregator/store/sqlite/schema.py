"""The SQLite schema and its numbered migrations.

The schema version lives in ``PRAGMA user_version``; ``MIGRATIONS[i]`` takes a store from
version i to i + 1, each step in one transaction, so an old store opens as the current one.
A store newer than this code is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ...errors import StorageError

_CORE = """
CREATE TABLE sources (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    url           TEXT NOT NULL,
    fetch_url     TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'new',
    etag          TEXT,
    last_modified TEXT,
    http_status   INTEGER,
    error_count   INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    last_fetch    REAL,
    next_attempt  REAL,
    moved_to      TEXT,
    moved_count   INTEGER NOT NULL DEFAULT 0,
    gone          INTEGER NOT NULL DEFAULT 0,
    body_hash     TEXT,
    warning       TEXT
);
CREATE TABLE clusters (
    id            INTEGER PRIMARY KEY,
    rep_item_id   INTEGER,            -- representative item (see dedupe/cluster.py for the rule)
    first_seen    REAL NOT NULL,
    last_seen     REAL NOT NULL
);
CREATE INDEX clusters_first_seen ON clusters(first_seen);
CREATE TABLE items (
    id            INTEGER PRIMARY KEY,
    source_id     INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    guid          TEXT,
    link          TEXT,
    canonical_url TEXT,
    title         TEXT NOT NULL,
    summary       TEXT NOT NULL,
    content       TEXT NOT NULL,
    authors       TEXT NOT NULL,      -- JSON list
    categories    TEXT NOT NULL,      -- JSON list
    language      TEXT,
    published     REAL,
    updated       REAL,
    enclosures    TEXT NOT NULL,      -- JSON list of [url, type, length]
    first_seen    REAL NOT NULL,
    last_seen     REAL NOT NULL,
    content_hash  TEXT NOT NULL,
    cluster_id    INTEGER REFERENCES clusters(id),
    tags          TEXT NOT NULL DEFAULT '[]',
    countries     TEXT NOT NULL DEFAULT '[]',
    why           TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source_id, key)
);
CREATE INDEX items_first_seen ON items(first_seen);
CREATE INDEX items_cluster ON items(cluster_id);
CREATE INDEX items_canonical ON items(canonical_url);
CREATE TABLE item_tags (
    item_id       INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    tag           TEXT NOT NULL,
    PRIMARY KEY (tag, item_id)
) WITHOUT ROWID;
CREATE INDEX item_tags_item ON item_tags(item_id);
"""

# v1's dedupe key index (one row per text key, clustered by week of first seen); v3 replaces it
# with ``dedupe_text`` (below).
_DEDUPE_DDL = """
CREATE TABLE dedupe_keys (
    bucket        INTEGER NOT NULL,   -- floor(first_seen / 604800)
    key           INTEGER NOT NULL,   -- 63-bit key from dedupe/keys.py
    item_id       INTEGER NOT NULL,
    PRIMARY KEY (bucket, key, item_id)
) WITHOUT ROWID;
"""

# digest ledger: frozen issues, per-recipient deliveries, unsubscribes, and a key/value meta table
# (the unsubscribe secret lives there when no environment variable provides one).
_LEDGER_DDL = """
CREATE TABLE digest_issues (
    issue         TEXT PRIMARY KEY,   -- ISO week, e.g. 2026-W48
    payload       TEXT NOT NULL,      -- the frozen Digest as JSON
    created       REAL NOT NULL
);
CREATE TABLE deliveries (
    issue         TEXT NOT NULL,
    recipient     TEXT NOT NULL,      -- as configured; unique case-insensitively per issue
    status        TEXT NOT NULL,      -- pending | sent | failed | skipped
    message_id    TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    permanent     INTEGER NOT NULL DEFAULT 0,  -- failed with a 5xx: not retried
    committing    REAL,               -- when DATA began to be written (outcome unknown until sent)
    updated       REAL,
    PRIMARY KEY (issue, recipient)
);
CREATE TABLE unsubscribes (
    recipient     TEXT PRIMARY KEY,   -- lower-cased address
    at            REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key           TEXT PRIMARY KEY,
    value         TEXT NOT NULL
);
"""

# v2: URL identity moves from a text index on items (every insert a random seek into a tree as
# big as the store) to a table of 63-bit URL keys, any age: a third of the entry size, shared by
# canonical links and guid URLs. Keys are filled for existing items from their canonical link by
# ``_backfill_url_keys`` (guid URLs of old items are not: their window has passed).
_V2 = """
CREATE TABLE dedupe_urls (
    key           INTEGER NOT NULL,   -- dedupe.url_keys: a canonical link or guid URL
    item_id       INTEGER NOT NULL,
    PRIMARY KEY (key, item_id)
) WITHOUT ROWID;
DROP INDEX IF EXISTS items_canonical;
"""

# v3: text keys leave the (week, key, item) index (about 12 random index inserts per item, and
# lookups counted in SQL) for one row per item: its keys packed, and its fingerprint record so a
# candidate is verified without re-reading its text. dedupe.Deduper reads the window's rows once
# into memory and matches there. ``_backfill_text_records`` fills the rows of the items a
# window can still reach.
_V3 = """
DROP TABLE IF EXISTS dedupe_keys;
CREATE TABLE dedupe_text (
    item_id       INTEGER PRIMARY KEY,
    first_seen    REAL NOT NULL,
    keys          BLOB NOT NULL,      -- dedupe.pack_keys: the item's text keys
    record        TEXT NOT NULL       -- dedupe.record: the item's fingerprint
);
CREATE INDEX dedupe_text_seen ON dedupe_text(first_seen);
"""

# Subscribers (issue 18): the list moves from config.yaml into the store. A subscriber has a
# status (pending, confirmed, paused, unsubscribed, bounced), choices (topics, languages), a random
# public ``uid`` that signed links carry instead of the address, and a history of changes with
# their origin (form, import, config, one-click, bounce, operator, preferences). The rows of the
# old ``unsubscribes`` ledger become unsubscribed subscribers (origin one-click), and the table
# goes: ``Subscribers`` answers what it answered. ``forgotten`` keeps, for a person whose data was
# deleted on request, only a SHA-256 of the address, so config.yaml or an import does not add
# them back. Self-contained SQL (no Python step), so it can be renumbered freely.
_SUBSCRIBERS_DDL = """
CREATE TABLE subscribers (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,  -- random, in signed links (never the address)
    email         TEXT NOT NULL,         -- the bare address, domain in ASCII
    key           TEXT NOT NULL UNIQUE,  -- lower(email)
    name          TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,         -- pending | confirmed | paused | unsubscribed | bounced
    origin        TEXT NOT NULL,         -- of the last change of status
    reason        TEXT,                  -- why it stopped
    topics        TEXT NOT NULL DEFAULT '[]',   -- JSON list; empty: everything
    languages     TEXT NOT NULL DEFAULT '[]',   -- JSON list; empty: everything
    created       REAL NOT NULL,
    changed       REAL NOT NULL,         -- last change of status
    confirm_sent  REAL                   -- last confirmation message (one an hour at most)
);
CREATE INDEX subscribers_status ON subscribers(status);
CREATE TABLE subscriber_events (
    id            INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    at            REAL NOT NULL,
    status        TEXT NOT NULL,
    origin        TEXT NOT NULL,
    detail        TEXT
);
CREATE INDEX subscriber_events_who ON subscriber_events(subscriber_id);
CREATE TABLE forgotten (
    hash          TEXT PRIMARY KEY,      -- sha256 of the lower-cased address
    at            REAL NOT NULL
);
INSERT INTO subscribers(uid, email, key, status, origin, reason, created, changed)
    SELECT lower(hex(randomblob(12))), recipient, lower(recipient), 'unsubscribed', 'one-click',
           'one-click unsubscribe', at, at FROM unsubscribes;
INSERT INTO subscriber_events(subscriber_id, at, status, origin, detail)
    SELECT id, created, 'unsubscribed', 'one-click', 'from the unsubscribes ledger'
    FROM subscribers;
DROP TABLE unsubscribes;
"""

# Sources managed by the operator (issue 19): what each source was configured with when last
# synced (a change starts it fresh), the fetch settings it was last tried under (a change ends its
# back-off), when it last succeeded; and items left out by the source's include/exclude, stored
# so that they are not taken for new on the next fetch, but never published or mailed.
_SOURCES_MANAGED = """
ALTER TABLE sources ADD COLUMN settings_key TEXT;
ALTER TABLE sources ADD COLUMN fetch_key TEXT;
ALTER TABLE sources ADD COLUMN last_success REAL;
UPDATE sources SET last_success = last_fetch WHERE state IN ('ok', 'not-modified', 'moved');
ALTER TABLE items ADD COLUMN excluded INTEGER NOT NULL DEFAULT 0;
"""
# fetch-attempt history: one row per fetch of a source (success or failure), the last
# ``sources.KEPT_ATTEMPTS`` of each kept, for ``status``'s success rate. Written beside the
# source's state in ``Sources.save_source_state``; empty for the fetches before this version.
_FETCH_ATTEMPTS = """
CREATE TABLE fetch_attempts (
    source_id     INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    at            REAL NOT NULL,      -- the fetch's time (SourceState.last_fetch)
    ok            INTEGER NOT NULL,   -- 1: 2xx or 304 and parsed; 0: failed
    http_status   INTEGER,
    PRIMARY KEY (source_id, at)
) WITHOUT ROWID;
"""

# editions: the part of an issue one choice of topics and languages gets, frozen the first time
# it is sent (``digest.editions``); each delivery records the edition it got (NULL: before
# editions, the whole issue). ``updated`` of sent deliveries paces ``digest.smtp.rate_per_hour``.
_EDITIONS = """
CREATE TABLE digest_editions (
    issue         TEXT NOT NULL,
    edition       TEXT NOT NULL,      -- the choice's key: topics=ai+morocco;languages=fr
    payload       TEXT NOT NULL,      -- the frozen edition (a Digest) as JSON
    created       REAL NOT NULL,
    PRIMARY KEY (issue, edition)
);
ALTER TABLE deliveries ADD COLUMN edition TEXT;
CREATE INDEX deliveries_updated ON deliveries(updated) WHERE status = 'sent';
"""

# Bounces (issue 18): the permanent refusals (5xx, or a failed DSN) an address got since its last
# successful delivery, which one resets, so "3 in a row" marks it bounced; and the delivery
# status notifications ``bounces read`` already applied, by Message-ID (or a hash of the
# message), so reading the same mailbox twice counts each refusal once. Self-contained SQL.
_BOUNCES = """
CREATE TABLE bounce_counts (
    subscriber_id INTEGER PRIMARY KEY REFERENCES subscribers(id) ON DELETE CASCADE,
    count         INTEGER NOT NULL,      -- permanent refusals since the last delivery
    first         REAL NOT NULL,
    last          REAL NOT NULL,
    reason        TEXT                   -- the last refusal (code and text, truncated)
);
CREATE TABLE bounce_reports (
    key           TEXT PRIMARY KEY,      -- the DSN's Message-ID, or sha256:<hex> of its bytes
    at            REAL NOT NULL
);
"""

#: MIGRATIONS[i] takes the schema from version i to i + 1.
MIGRATIONS: list[Sequence[str]] = [
    [_CORE, _DEDUPE_DDL, _LEDGER_DDL],
    [_V2],
    [_V3],
    [_SUBSCRIBERS_DDL],
    [_SOURCES_MANAGED],
    [_FETCH_ATTEMPTS],
    [_EDITIONS],
    [_BOUNCES],
    [],  # PostgreSQL's delivery claims (one sender here: the lock file); the number stays shared
]


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the database of ``db`` (at ``path``, for messages) to the current version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StorageError(
            f"{path}: schema version {version} is newer than this aggregator "
            f"({len(MIGRATIONS)}); upgrade aggregator"
        )
    for step in range(version, len(MIGRATIONS)):
        db.execute("BEGIN IMMEDIATE")
        try:
            for ddl in MIGRATIONS[step]:
                for statement in statements(ddl):
                    db.execute(statement)
            if step == 1:
                _backfill_url_keys(db)
            if step == 2:
                _backfill_text_records(db)
            db.execute(f"PRAGMA user_version={step + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _backfill_url_keys(db: sqlite3.Connection) -> None:
    """v1 -> v2: URL keys of the stored items' canonical links (clustered items only)."""
    from ...dedupe import url_key  # the key function is dedupe's; only this migration needs it

    rows = db.execute(
        "SELECT id, canonical_url FROM items WHERE canonical_url IS NOT NULL"
        " AND cluster_id IS NOT NULL"
    )
    pairs = ((k, iid) for iid, url in rows if (k := url_key(url)) is not None)
    db.executemany("INSERT OR IGNORE INTO dedupe_urls(key, item_id) VALUES (?,?)", pairs)


def _backfill_text_records(db: sqlite3.Connection) -> None:
    """v2 -> v3: text keys and records of the clustered items a dedupe window can reach
    (the window and the margin its prune keeps), computed again from their text."""
    from ...dedupe import PRUNE_MARGIN, WINDOW, text_record  # only this migration needs them

    last = db.execute("SELECT max(first_seen) FROM items").fetchone()[0]
    if last is None:
        return
    rows = db.execute(
        "SELECT id, first_seen, title, summary, substr(content, 1, 6000) FROM items"
        " WHERE first_seen >= ? AND cluster_id IS NOT NULL",
        (last - (WINDOW + PRUNE_MARGIN).total_seconds(),),
    ).fetchall()
    db.executemany(
        "INSERT INTO dedupe_text(item_id, first_seen, keys, record) VALUES (?,?,?,?)",
        [(iid, seen, *text_record(t, s, c)) for iid, seen, t, s, c in rows],
    )


def statements(ddl: str) -> list[str]:
    """The complete SQL statements of a DDL script, in order."""
    parts, buf = [], ""
    for line in ddl.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            parts.append(buf.strip())
            buf = ""
    if buf.strip():
        parts.append(buf.strip())
    return parts
