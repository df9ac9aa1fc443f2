"""The only module that speaks SQL.

SQLite in WAL mode with foreign keys on. The schema version lives in ``PRAGMA user_version`` and
migrations run step by step. Callers get models back, never rows. One transaction per source
update (``with store.transaction():``) so a crash leaves a source fully updated or untouched.

Sections below: core (sources, items, tags, clusters), the dedupe index, the digest ledger.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .errors import StorageError
from .models import (
    DELIVERY_STATES,
    Delivery,
    Digest,
    DigestSection,
    Enclosure,
    Item,
    Outlet,
    ParsedItem,
    SourceState,
    Story,
    Tagging,
)


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


# --------------------------------------------------------------------------------------------
# schema

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
    rep_item_id   INTEGER,            -- representative item (see dedupe.py for the rule)
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

#: Extra v1 DDL registered by the sections below (dedupe index, digest ledger).
_V1_PARTS: list[str] = [_CORE]

# v1's dedupe key index (one row per text key, clustered by week of first seen); v3 replaces it
# with ``dedupe_text`` (below).
_DEDUPE_DDL = """
CREATE TABLE dedupe_keys (
    bucket        INTEGER NOT NULL,   -- floor(first_seen / 604800)
    key           INTEGER NOT NULL,   -- 63-bit key from dedupe.py
    item_id       INTEGER NOT NULL,
    PRIMARY KEY (bucket, key, item_id)
) WITHOUT ROWID;
"""
_V1_PARTS.append(_DEDUPE_DDL)


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
_V1_PARTS.append(_LEDGER_DDL)

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
#: MIGRATIONS[i] takes the schema from version i to i + 1.
MIGRATIONS: list[Sequence[str]] = [_V1_PARTS, [_V2], [_V3]]

_ITEM_COLS = (
    "items.id, sources.name, key, guid, link, canonical_url, title, summary, content, authors,"
    " categories, language, published, updated, enclosures, items.first_seen, items.last_seen,"
    " content_hash, cluster_id, tags, countries, why"
)
_SOURCE_COLS = (
    "name, url, fetch_url, state, etag, last_modified, http_status, error_count, last_error,"
    " last_fetch, next_attempt, moved_to, moved_count, gone, body_hash, warning"
)


class Store:
    """A SQLite store. Thread-safe for the pipeline's use: one connection, serialised by a lock."""

    #: seconds between the background WAL checkpoints of ``bulk()``
    checkpoint_every = 1.0

    def __init__(self, path: str | Path, *, timeout: float = 30.0):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot open database: {exc}") from exc
        self._lock = threading.RLock()
        self._timeout = timeout
        self._depth = 0
        self._grouping = 0.0  # inside bulk(): seconds between group commits (0: no grouping)
        self._group_began: float | None = None  # monotonic start of the open group transaction

    # ---- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StorageError(
                f"{self.path}: schema version {version} is newer than this aggregator "
                f"({len(MIGRATIONS)}); upgrade aggregator"
            )
        for step in range(version, len(MIGRATIONS)):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for ddl in MIGRATIONS[step]:
                    for statement in _statements(ddl):
                        self.db.execute(statement)
                if step == 1:
                    self._backfill_url_keys()
                if step == 2:
                    self._backfill_text_records()
                self.db.execute(f"PRAGMA user_version={step + 1}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _backfill_url_keys(self) -> None:
        """v1 -> v2: URL keys of the stored items' canonical links (clustered items only)."""
        from .dedupe import url_key  # the key function is dedupe's; only this migration needs it

        rows = self.db.execute(
            "SELECT id, canonical_url FROM items WHERE canonical_url IS NOT NULL"
            " AND cluster_id IS NOT NULL"
        )
        pairs = ((k, iid) for iid, url in rows if (k := url_key(url)) is not None)
        self.db.executemany("INSERT OR IGNORE INTO dedupe_urls(key, item_id) VALUES (?,?)", pairs)

    def _backfill_text_records(self) -> None:
        """v2 -> v3: text keys and records of the clustered items a dedupe window can reach
        (the window and the margin its prune keeps), computed again from their text."""
        from .dedupe import PRUNE_MARGIN, WINDOW, text_record  # only this migration needs them

        last = self.db.execute("SELECT max(first_seen) FROM items").fetchone()[0]
        if last is None:
            return
        rows = self.db.execute(
            "SELECT id, first_seen, title, summary, substr(content, 1, 6000) FROM items"
            " WHERE first_seen >= ? AND cluster_id IS NOT NULL",
            (last - (WINDOW + PRUNE_MARGIN).total_seconds(),),
        ).fetchall()
        self.db.executemany(
            "INSERT INTO dedupe_text(item_id, first_seen, keys, record) VALUES (?,?,?,?)",
            [(iid, seen, *text_record(t, s, c)) for iid, seen, t, s, c in rows],
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; nested uses join the outer one. Inside ``bulk()`` a unit is
        a SAVEPOINT of the group's transaction: it rolls back alone and commits with the group,
        so a crash loses whole units (sources), never part of one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            grouped = bool(self._grouping)
            if grouped and self._group_began is None:
                self._begin()
                self._group_began = time.monotonic()
            if grouped:
                self.db.execute("SAVEPOINT unit")
            else:
                self._begin()
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._rollback(grouped)
                raise
            self._depth = 0
            if not grouped:
                self.db.execute("COMMIT")
                return
            self.db.execute("RELEASE unit")
            if time.monotonic() - (self._group_began or 0.0) >= self._grouping:
                self.commit_group()

    def _begin(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StorageError(f"{self.path}: database is busy: {exc}") from exc

    def _rollback(self, unit: bool) -> None:
        """Undo the failed unit (or transaction). SQLite may already have rolled the whole
        transaction back (an I/O error, a full disk): then the group is gone too."""
        try:
            if unit and self.db.in_transaction:
                self.db.execute("ROLLBACK TO unit")
                self.db.execute("RELEASE unit")
            elif self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            if not self.db.in_transaction:
                self._group_began = None

    def commit_group(self) -> None:
        """Commit the units of the open group (a no-op outside ``bulk()`` or between groups)."""
        with self._lock:
            if self._group_began is not None and not self._depth:
                self._group_began = None
                if self.db.in_transaction:
                    self.db.execute("COMMIT")

    def integrity_check(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    # ---- sources -------------------------------------------------------------------------

    def sync_sources(self, sources: Iterable[tuple[str, str]]) -> None:
        """Make the sources table follow config.yaml: add new ones; a changed configured URL
        resets the source (a config change revives a gone or moved source)."""
        with self.transaction():
            for name, url in sources:
                row = self.db.execute("SELECT url FROM sources WHERE name=?", (name,)).fetchone()
                if row is None:
                    self.db.execute(
                        "INSERT INTO sources(name, url, fetch_url) VALUES (?,?,?)", (name, url, url)
                    )
                elif row[0] != url:
                    self.db.execute(
                        "UPDATE sources SET url=?, fetch_url=?, state='new', gone=0, error_count=0,"
                        " moved_to=NULL, moved_count=0, etag=NULL, last_modified=NULL,"
                        " next_attempt=NULL, body_hash=NULL, last_error=NULL WHERE name=?",
                        (url, url, name),
                    )

    def source_states(self, names: Iterable[str] | None = None) -> list[SourceState]:
        counts = dict(
            self.db.execute("SELECT source_id, count(*) FROM items GROUP BY source_id").fetchall()
        )
        rows = self.db.execute(f"SELECT id, {_SOURCE_COLS} FROM sources ORDER BY id").fetchall()
        wanted = None if names is None else set(names)
        out = []
        for row in rows:
            if wanted is not None and row[1] not in wanted:
                continue
            out.append(_source_state(row[1:], counts.get(row[0], 0)))
        return out

    def source_state(self, name: str) -> SourceState:
        states = self.source_states([name])
        if not states:
            raise StorageError(f"unknown source {name!r}")
        return states[0]

    def save_source_state(self, state: SourceState) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE sources SET fetch_url=?, state=?, etag=?, last_modified=?, http_status=?,"
                " error_count=?, last_error=?, last_fetch=?, next_attempt=?, moved_to=?,"
                " moved_count=?, gone=?, body_hash=?, warning=? WHERE name=?",
                (
                    state.fetch_url, state.state, state.etag, state.last_modified,
                    state.http_status, state.error_count, state.last_error,
                    _ts(state.last_fetch), _ts(state.next_attempt), state.moved_to,
                    state.moved_count, int(state.gone), state.body_hash, state.warning, state.name,
                ),
            )  # fmt: skip

    def _source_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM sources WHERE name=?", (name,)).fetchone()
        if row is None:
            raise StorageError(f"unknown source {name!r}")
        return row[0]

    # ---- items ---------------------------------------------------------------------------

    def known_items(self, source: str, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """key -> (item id, content hash) for the keys of ``source`` already stored."""
        sid = self._source_id(source)
        out: dict[str, tuple[int, str]] = {}
        for chunk in _chunks(list(keys), 500):
            marks = ",".join("?" * len(chunk))
            for key, iid, h in self.db.execute(
                f"SELECT key, id, content_hash FROM items WHERE source_id=? AND key IN ({marks})",
                (sid, *chunk),
            ):
                out[key] = (iid, h)
        return out

    def touch_items(self, ids: Sequence[int], now: datetime) -> None:
        self.db.executemany(
            "UPDATE items SET last_seen=? WHERE id=?", [(_ts(now), i) for i in ids]
        )

    def item_hashes(self, source: str) -> dict[str, str]:
        """key -> content hash of every stored item of ``source`` (lets a worker skip the
        items it would only find unchanged)."""
        sid = self._source_id(source)
        return dict(self.db.execute("SELECT key, content_hash FROM items WHERE source_id=?", (sid,)))

    def insert_items(
        self,
        source: str,
        rows: Sequence[tuple[str, str | None, ParsedItem, str, Tagging]],
        now: datetime,
        *,
        ids: Sequence[int] | None = None,
        clusters: Sequence[int | None] | None = None,
    ) -> list[int]:
        """Store new items ``(key, canonical_url, parsed, content_hash, tagging)`` of one source
        with two executemany; returns their ids in order. ``ids`` (from ``next_item_id``) and
        ``clusters`` (from ``Deduper.assign_many``) let items be written once, clustered;
        without ``ids`` they are max(id) + 1... Call inside ``transaction()`` (which holds the
        write lock, so the ids are free)."""
        if not rows:
            return []
        sid = self._source_id(source)
        if ids is None:
            first = self.next_item_id()
            ids = range(first, first + len(rows))
        ids = list(ids)
        cids = list(clusters) if clusters is not None else [None] * len(rows)
        if not len(ids) == len(cids) == len(rows):
            raise ValueError("insert_items: rows, ids and clusters differ in length")
        t = _ts(now)
        self.db.executemany(
            "INSERT INTO items(id, source_id, key, guid, link, canonical_url, title, summary,"
            " content, authors, categories, language, published, updated, enclosures, first_seen,"
            " last_seen, content_hash, cluster_id, tags, countries, why)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    iid, sid, key, p.guid, p.link, canon, p.title, p.summary, p.content,
                    _jlist(p.authors), _jlist(p.categories), p.language,
                    _ts(p.published), _ts(p.updated), _enclosures_json(p.enclosures), t, t,
                    chash, cid, *_tagging_json(tagging),
                )
                for iid, cid, (key, canon, p, chash, tagging) in zip(ids, cids, rows)
            ],
        )  # fmt: skip
        self.db.executemany(
            "INSERT OR IGNORE INTO item_tags(item_id, tag) VALUES (?,?)",
            [(iid, tag) for iid, row in zip(ids, rows) for tag in row[4].tags],
        )
        return ids

    @contextmanager
    def bulk(self, commit_every: float = 0.5) -> Iterator[None]:
        """Many small transactions in a row (a refresh), grouped: each ``transaction()`` becomes
        a SAVEPOINT and one COMMIT covers the units of ``commit_every`` seconds (a page written
        by several sources goes to the WAL once, not once per source). No WAL checkpoint per
        commit: a second connection checkpoints committed frames in the background (see
        ``_Checkpointer``), and one more at the end. The store's lock is held throughout: no
        other thread may slip a statement into the open group."""
        with self._lock:
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            # The dedupe keys and items indexes are written at random places: with the default
            # 2 MB page cache most of those pages are re-read from the OS on every transaction.
            self.db.execute("PRAGMA cache_size=-65536")
            self._grouping = max(commit_every, 1e-9)
            checkpointer = _Checkpointer(self.path, self._timeout, self.checkpoint_every)
            try:
                yield
            finally:
                checkpointer.stop()
                # Units are whole once released: commit them even when leaving on an error.
                self._grouping = 0.0
                try:
                    self.commit_group()
                finally:
                    self._group_began = None
                    if self.db.in_transaction and not self._depth:
                        self.db.execute("ROLLBACK")
                    self.db.execute("PRAGMA cache_size=-2000")
                    self.db.execute("PRAGMA wal_autocheckpoint=1000")
                    self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def save_source_states(self, states: Sequence[SourceState]) -> None:
        """``save_source_state`` for many sources in one transaction (304s, errors: a state
        change that touches no item, so batching keeps every source consistent)."""
        with self.transaction():
            for state in states:
                self.save_source_state(state)

    def insert_item(
        self,
        source: str,
        key: str,
        canonical_url: str | None,
        parsed: ParsedItem,
        content_hash: str,
        tagging: Tagging,
        now: datetime,
    ) -> int:
        """Store a new item (no cluster yet) and return its id."""
        sid = self._source_id(source)
        cur = self.db.execute(
            "INSERT INTO items(source_id, key, guid, link, canonical_url, title, summary, content,"
            " authors, categories, language, published, updated, enclosures, first_seen, last_seen,"
            " content_hash, tags, countries, why) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                sid, key, parsed.guid, parsed.link, canonical_url, parsed.title, parsed.summary,
                parsed.content, _jlist(parsed.authors),
                _jlist(parsed.categories), parsed.language, _ts(parsed.published),
                _ts(parsed.updated), _enclosures_json(parsed.enclosures), _ts(now), _ts(now),
                content_hash, *_tagging_json(tagging),
            ),
        )  # fmt: skip
        item_id = int(cur.lastrowid or 0)
        self._set_item_tags(item_id, tagging.tags)
        return item_id

    def update_item(
        self,
        item_id: int,
        canonical_url: str | None,
        parsed: ParsedItem,
        content_hash: str,
        tagging: Tagging,
        now: datetime,
    ) -> None:
        """A changed item is updated in place: same id, same first_seen, same cluster."""
        self.db.execute(
            "UPDATE items SET guid=?, link=?, canonical_url=?, title=?, summary=?, content=?,"
            " authors=?, categories=?, language=?, published=?, updated=?, enclosures=?,"
            " last_seen=?, content_hash=?, tags=?, countries=?, why=? WHERE id=?",
            (
                parsed.guid, parsed.link, canonical_url, parsed.title, parsed.summary,
                parsed.content, _jlist(parsed.authors),
                _jlist(parsed.categories), parsed.language, _ts(parsed.published),
                _ts(parsed.updated), _enclosures_json(parsed.enclosures), _ts(now), content_hash,
                *_tagging_json(tagging), item_id,
            ),
        )  # fmt: skip
        self.db.execute("DELETE FROM item_tags WHERE item_id=?", (item_id,))
        self._set_item_tags(item_id, tagging.tags)

    def _set_item_tags(self, item_id: int, tags: Sequence[str]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO item_tags(item_id, tag) VALUES (?,?)",
            [(item_id, t) for t in tags],
        )

    def item(self, item_id: int) -> Item:
        row = self.db.execute(
            f"SELECT {_ITEM_COLS} FROM items JOIN sources ON sources.id=items.source_id"
            " WHERE items.id=?",
            (item_id,),
        ).fetchone()
        if row is None:
            raise StorageError(f"no item {item_id}")
        return _item(row)

    def items(self, source: str | None = None) -> list[Item]:
        sql = f"SELECT {_ITEM_COLS} FROM items JOIN sources ON sources.id=items.source_id"
        args: tuple = ()
        if source is not None:
            sql += " WHERE sources.name=?"
            args = (source,)
        return [_item(r) for r in self.db.execute(sql + " ORDER BY items.id", args)]

    def count_items(self) -> int:
        return self.db.execute("SELECT count(*) FROM items").fetchone()[0]

    # ---- clusters and stories ------------------------------------------------------------

    def new_cluster(self, item_id: int, first_seen: datetime) -> int:
        cur = self.db.execute(
            "INSERT INTO clusters(rep_item_id, first_seen, last_seen) VALUES (?,?,?)",
            (item_id, _ts(first_seen), _ts(first_seen)),
        )
        cid = int(cur.lastrowid or 0)
        self.db.execute("UPDATE items SET cluster_id=? WHERE id=?", (cid, item_id))
        return cid

    def join_cluster(self, item_id: int, cluster_id: int, now: datetime) -> None:
        self.db.execute("UPDATE items SET cluster_id=? WHERE id=?", (cluster_id, item_id))
        self.db.execute(
            "UPDATE clusters SET last_seen=max(last_seen, ?) WHERE id=?", (_ts(now), cluster_id)
        )

    def set_representative(self, cluster_id: int, item_id: int) -> None:
        self.db.execute("UPDATE clusters SET rep_item_id=? WHERE id=?", (item_id, cluster_id))

    def cluster_members(self, cluster_id: int) -> list[Item]:
        return [
            _item(r)
            for r in self.db.execute(
                f"SELECT {_ITEM_COLS} FROM items JOIN sources ON sources.id=items.source_id"
                " WHERE cluster_id=? ORDER BY items.first_seen, items.id",
                (cluster_id,),
            )
        ]

    def latest_stories(self, limit: int, tag: str | None = None) -> list[Story]:
        """The newest ``limit`` stories (by cluster first-seen), optionally those carrying ``tag``
        on any member."""
        if tag is None:
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM clusters ORDER BY first_seen DESC, id DESC LIMIT ?", (limit,)
                )
            ]
        else:
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT DISTINCT clusters.id, clusters.first_seen FROM item_tags"
                    " JOIN items ON items.id=item_tags.item_id"
                    " JOIN clusters ON clusters.id=items.cluster_id WHERE item_tags.tag=?"
                    " ORDER BY clusters.first_seen DESC, clusters.id DESC LIMIT ?",
                    (tag, limit),
                )
            ]
        return self.stories(ids)

    def stories_between(self, start: datetime, end: datetime) -> list[Story]:
        """Stories whose cluster was first seen in [start, end), newest first."""
        ids = [
            r[0]
            for r in self.db.execute(
                "SELECT id FROM clusters WHERE first_seen>=? AND first_seen<?"
                " ORDER BY first_seen DESC, id DESC",
                (_ts(start), _ts(end)),
            )
        ]
        return self.stories(ids)

    def stories(self, cluster_ids: Sequence[int]) -> list[Story]:
        """Assemble stories in the order of ``cluster_ids``."""
        if not cluster_ids:
            return []
        members: dict[int, list[Item]] = {c: [] for c in cluster_ids}
        reps: dict[int, int | None] = {}
        for chunk in _chunks(list(cluster_ids), 500):
            marks = ",".join("?" * len(chunk))
            for cid, rep in self.db.execute(
                f"SELECT id, rep_item_id FROM clusters WHERE id IN ({marks})", chunk
            ):
                reps[cid] = rep
            for row in self.db.execute(
                f"SELECT {_ITEM_COLS} FROM items JOIN sources ON sources.id=items.source_id"
                f" WHERE cluster_id IN ({marks}) ORDER BY items.first_seen, items.id",
                chunk,
            ):
                it = _item(row)
                members[it.cluster_id or 0].append(it)
        out = []
        for cid in cluster_ids:
            items = members.get(cid) or []
            if not items:
                continue
            rep = next((i for i in items if i.id == reps.get(cid)), items[0])
            out.append(_story(cid, rep, items))
        return out

    def tags_in_use(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT tag FROM item_tags ORDER BY tag")]

    def unclustered_items(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM items WHERE cluster_id IS NULL")]

    # ---- dedupe index (dedupe.py's ClusterIndex protocol) --------------------------------

    def dedupe_guid_cluster(self, source: str, guid: str, exclude_item: int) -> int | None:
        """Cluster of another item of ``source`` with the same guid (its key is ``guid:...``)."""
        row = self.db.execute(
            "SELECT items.cluster_id FROM sources CROSS JOIN items ON items.source_id=sources.id"
            " AND items.key=? WHERE sources.name=? AND items.id<>?"
            " AND items.cluster_id IS NOT NULL LIMIT 1",
            ("guid:" + guid, source, exclude_item),
        ).fetchone()
        return None if row is None else int(row[0])

    def _select_in(self, sql: str, values: Sequence, *after: object) -> Iterator[tuple]:
        """Rows of ``sql`` whose ``{in}`` is the list ``values``, 500 at a time (``after``: the
        parameters that follow the list)."""
        for chunk in _chunks(list(values), 500):
            yield from self.db.execute(
                sql.replace("{in}", ",".join("?" * len(chunk))), (*chunk, *after)
            )

    def next_item_id(self) -> int:
        """The next item id: callers inside ``transaction()`` (which holds the write lock) give
        new rows explicit ids, so items can be written with their cluster."""
        return (self.db.execute("SELECT max(id) FROM items").fetchone()[0] or 0) + 1

    def next_cluster_id(self) -> int:
        return (self.db.execute("SELECT max(id) FROM clusters").fetchone()[0] or 0) + 1

    def dedupe_url_matches(self, keys: Sequence[int]) -> dict[int, list[tuple[int, int, float]]]:
        """URL key -> ``(item id, cluster id, first seen)`` of the clustered items that have it
        (any source, any age)."""
        out: dict[int, list[tuple[int, int, float]]] = {}
        for key, iid, cid, seen in self._select_in(
            "SELECT u.key, items.id, items.cluster_id, items.first_seen FROM dedupe_urls u"
            " CROSS JOIN items ON items.id=u.item_id"
            " WHERE u.key IN ({in}) AND items.cluster_id IS NOT NULL",
            keys,
        ):
            out.setdefault(key, []).append((iid, cid, float(seen)))
        return out

    def dedupe_window(self, since: datetime) -> Iterator[tuple[int, str, int, float, bytes]]:
        """``(item id, source, cluster id, first seen, packed text keys)`` of the clustered items
        first seen from ``since`` on: one range scan, read once per refresh into memory."""
        yield from self.db.execute(
            "SELECT d.item_id, sources.name, items.cluster_id, d.first_seen, d.keys"
            " FROM dedupe_text d CROSS JOIN items ON items.id=d.item_id"
            " CROSS JOIN sources ON sources.id=items.source_id"
            " WHERE d.first_seen >= ? AND items.cluster_id IS NOT NULL",
            (_ts(since),),
        )

    def dedupe_records(self, item_ids: Sequence[int]) -> dict[int, str]:
        """The fingerprint records of the given items (those that have one)."""
        return dict(
            self._select_in(
                "SELECT item_id, record FROM dedupe_text WHERE item_id IN ({in})", item_ids
            )
        )

    def dedupe_representatives(self, cluster_ids: Sequence[int]) -> dict[int, tuple[int, str, str]]:
        """cluster id -> ``(representative item id, its summary, its content lead)``."""
        return {
            cid: (iid, summary, content)
            for cid, iid, summary, content in self._select_in(
                "SELECT clusters.id, items.id, items.summary, substr(items.content, 1, 20000)"
                " FROM clusters CROSS JOIN items ON items.id=clusters.rep_item_id"
                " WHERE clusters.id IN ({in})",
                cluster_ids,
            )
        }

    def dedupe_write(
        self,
        new: Sequence[tuple[int, int]],
        joined: Sequence[int],
        reps: Sequence[tuple[int, int]],
        keys: Sequence[tuple[int, Sequence[int], Sequence[int]]],
        first_seen: datetime,
    ) -> None:
        """What ``Deduper.assign_many`` decided, for items first seen at ``first_seen``: new
        clusters ``(cluster id, representative item id)``, clusters ``joined`` (their
        last-seen moves), representative changes ``(cluster id, item id)``, and per item
        ``(item id, URL keys, packed text keys, record)``. A few executemany, sorted URL keys
        (neighbouring inserts share index pages)."""
        t = _ts(first_seen)
        if new:
            self.db.executemany(
                "INSERT INTO clusters(id, rep_item_id, first_seen, last_seen) VALUES (?,?,?,?)",
                [(cid, iid, t, t) for cid, iid in new],
            )
        if joined:
            self.db.executemany(
                "UPDATE clusters SET last_seen=max(last_seen, ?) WHERE id=?",
                [(t, cid) for cid in dict.fromkeys(joined)],
            )
        if reps:
            self.db.executemany(
                "UPDATE clusters SET rep_item_id=? WHERE id=?", [(iid, cid) for cid, iid in reps]
            )
        urls = sorted({(k, iid) for iid, uk, _, _ in keys for k in uk})
        if urls:
            self.db.executemany(
                "INSERT OR IGNORE INTO dedupe_urls(key, item_id) VALUES (?,?)", urls
            )
        self.db.executemany(
            "INSERT OR REPLACE INTO dedupe_text(item_id, first_seen, keys, record) VALUES (?,?,?,?)",
            [(iid, t, packed, rec) for iid, _, packed, rec in keys],
        )

    def set_item_clusters(self, pairs: Sequence[tuple[int, int]]) -> None:
        """``(item id, cluster id)`` for items stored before they were clustered."""
        self.db.executemany("UPDATE items SET cluster_id=? WHERE id=?", [(c, i) for i, c in pairs])

    def dedupe_prune(self, before: datetime) -> int:
        """Drop the text keys and records of items first seen before ``before`` (older than
        any window)."""
        with self.transaction():
            cur = self.db.execute("DELETE FROM dedupe_text WHERE first_seen<?", (_ts(before),))
        return cur.rowcount

    # ---- digest ledger -------------------------------------------------------------------
    # An issue is frozen (stored as JSON) the first time it is sent, so every recipient and
    # every retry gets the same content. A delivery row is written "pending" before the SMTP
    # transaction, stamped "committing" just before the message and the end of DATA are written,
    # and "sent" after the reply:
    # a pending row with a committing stamp is the only state whose outcome is unknown.

    def frozen_digest(self, issue: str) -> Digest | None:
        row = self.db.execute("SELECT payload FROM digest_issues WHERE issue=?", (issue,)).fetchone()
        return None if row is None else _digest_from_json(json.loads(row[0]))

    def freeze_digest(self, digest: Digest, now: datetime) -> Digest:
        """Store ``digest`` unless its issue is already frozen; return the frozen one."""
        with self._lock:
            self.db.execute(
                "INSERT OR IGNORE INTO digest_issues(issue, payload, created) VALUES (?,?,?)",
                (digest.issue, json.dumps(_digest_json(digest), ensure_ascii=False), _ts(now)),
            )
            frozen = self.frozen_digest(digest.issue)
        assert frozen is not None
        return frozen

    def deliveries(self, issue: str) -> dict[str, Delivery]:
        """Ledger rows of ``issue`` keyed by lower-cased recipient."""
        rows = self.db.execute(
            "SELECT recipient, status, message_id, attempts, last_error, updated FROM deliveries"
            " WHERE issue=?",
            (issue,),
        )
        return {
            r[0].lower(): Delivery(issue, r[0], r[1], r[2], r[3], r[4], _dt(r[5])) for r in rows
        }

    def delivery_flags(self, issue: str) -> dict[str, tuple[bool, bool]]:
        """recipient (lower-cased) -> (failed permanently, outcome unknown: DATA was ending)."""
        rows = self.db.execute(
            "SELECT recipient, permanent, committing IS NOT NULL AND status='pending'"
            " FROM deliveries WHERE issue=?",
            (issue,),
        )
        return {r[0].lower(): (bool(r[1]), bool(r[2])) for r in rows}

    def begin_delivery(self, issue: str, recipient: str, message_id: str, now: datetime) -> None:
        """Record the attempt as pending before any SMTP command is sent."""
        with self._lock:
            self.db.execute(
                "INSERT INTO deliveries(issue, recipient, status, message_id, attempts, updated)"
                " VALUES (?,?,'pending',?,1,?) ON CONFLICT(issue, recipient) DO UPDATE SET"
                " status='pending', message_id=excluded.message_id, attempts=attempts+1,"
                " committing=NULL, updated=excluded.updated",
                (issue, recipient, message_id, _ts(now)),
            )

    def delivery_committing(self, issue: str, recipient: str, now: datetime) -> None:
        """The end of DATA is about to be written: from here a crash leaves the outcome unknown."""
        with self._lock:
            self.db.execute(
                "UPDATE deliveries SET committing=? WHERE issue=? AND recipient=?",
                (_ts(now), issue, recipient),
            )

    def finish_delivery(
        self,
        issue: str,
        recipient: str,
        status: str,
        now: datetime,
        *,
        message_id: str = "",
        error: str | None = None,
        permanent: bool = False,
    ) -> None:
        """Record the outcome (sent, failed or skipped); creates the row when there is none."""
        if status not in DELIVERY_STATES:
            raise ValueError(f"unknown delivery status {status!r}")
        with self._lock:
            self.db.execute(
                "INSERT INTO deliveries(issue, recipient, status, message_id, last_error,"
                " permanent, updated) VALUES (?,?,?,?,?,?,?) ON CONFLICT(issue, recipient)"
                " DO UPDATE SET status=excluded.status, last_error=excluded.last_error,"
                " permanent=excluded.permanent, committing=NULL, updated=excluded.updated",
                (issue, recipient, status, message_id, error, int(permanent), _ts(now)),
            )

    def unsubscribe(self, recipient: str, now: datetime) -> bool:
        """Record an unsubscribe; False when it was already recorded."""
        with self._lock:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO unsubscribes(recipient, at) VALUES (?,?)",
                (recipient.strip().lower(), _ts(now)),
            )
        return cur.rowcount > 0

    def unsubscribed(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT recipient FROM unsubscribes")}

    def meta_get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def meta_setdefault(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is there; return the stored value."""
        with self._lock:
            self.db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?,?)", (key, value))
            stored = self.meta_get(key)
        assert stored is not None
        return stored


# ---- digest ledger: a frozen Digest as JSON (module level, used by the methods above) ------



class _Checkpointer:
    """Copies committed WAL frames into the database from a second connection while a bulk
    refresh goes on (PASSIVE: it never blocks the writer nor waits for it), so the checkpoint
    at the end has little left: its page writes, scattered over a big store's indexes, overlap
    the refresh instead of following it."""

    def __init__(self, path: Path, timeout: float, every: float = 1.0):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(path, timeout, every), name="checkpoint", daemon=True
        )
        self._thread.start()

    def _run(self, path: Path, timeout: float, every: float) -> None:
        try:
            db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            while not self._stop.wait(every):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # the final checkpoint on the main connection does the rest
        finally:
            db.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _item_json(it: Item) -> dict:
    return {
        "id": it.id, "source": it.source, "key": it.key, "guid": it.guid, "link": it.link,
        "canonical_url": it.canonical_url, "title": it.title, "summary": it.summary,
        "content": it.content, "authors": list(it.authors), "categories": list(it.categories),
        "language": it.language, "published": _ts(it.published), "updated": _ts(it.updated),
        "first_seen": _ts(it.first_seen), "last_seen": _ts(it.last_seen),
        "content_hash": it.content_hash,
        "enclosures": [[e.url, e.type, e.length] for e in it.enclosures],
        "cluster_id": it.cluster_id, "tags": list(it.tags), "countries": list(it.countries),
        "why": {k: list(v) for k, v in it.why.items()},
    }  # fmt: skip


def _item_from_json(d: dict) -> Item:
    return Item(
        id=d["id"], source=d["source"], key=d["key"], guid=d["guid"], link=d["link"],
        canonical_url=d["canonical_url"], title=d["title"], summary=d["summary"],
        content=d["content"], authors=tuple(d["authors"]), categories=tuple(d["categories"]),
        language=d["language"], published=_dt(d["published"]), updated=_dt(d["updated"]),
        first_seen=_dt(d["first_seen"]), last_seen=_dt(d["last_seen"]),  # type: ignore[arg-type]
        content_hash=d["content_hash"],
        enclosures=tuple(Enclosure(u, t, n) for u, t, n in d["enclosures"]),
        cluster_id=d["cluster_id"], tags=tuple(d["tags"]), countries=tuple(d["countries"]),
        why={k: tuple(v) for k, v in d["why"].items()},
    )  # fmt: skip


def _digest_json(dg: Digest) -> dict:
    return {
        "issue": dg.issue, "start": _ts(dg.start), "end": _ts(dg.end), "subject": dg.subject,
        "sections": [
            {
                "key": sec.key, "title": sec.title,
                "stories": [
                    {
                        "cluster_id": st.cluster_id, "item": _item_json(st.item),
                        "also_in": [[o.source, o.link, o.title] for o in st.also_in],
                        "tags": list(st.tags), "countries": list(st.countries),
                        "first_seen": _ts(st.first_seen),
                    }
                    for st in sec.stories
                ],
            }
            for sec in dg.sections
        ],
    }  # fmt: skip


def _digest_from_json(d: dict) -> Digest:
    return Digest(
        issue=d["issue"], start=_dt(d["start"]), end=_dt(d["end"]),  # type: ignore[arg-type]
        subject=d["subject"],
        sections=tuple(
            DigestSection(
                key=sec["key"], title=sec["title"],
                stories=tuple(
                    Story(
                        cluster_id=st["cluster_id"], item=_item_from_json(st["item"]),
                        also_in=tuple(Outlet(s, link, t) for s, link, t in st["also_in"]),
                        tags=tuple(st["tags"]), countries=tuple(st["countries"]),
                        first_seen=_dt(st["first_seen"]),
                    )
                    for st in sec["stories"]
                ),
            )
            for sec in d["sections"]
        ),
    )  # fmt: skip


def _statements(ddl: str) -> list[str]:
    parts, buf = [], ""
    for line in ddl.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            parts.append(buf.strip())
            buf = ""
    if buf.strip():
        parts.append(buf.strip())
    return parts


def _chunks(seq: list, n: int) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


_ASCII_JSON = json.JSONEncoder().encode  # = json.dumps(x), without its per-call set-up
_json_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_UTF8_JSON = json.JSONEncoder(ensure_ascii=False).encode


def _jlist(values: Sequence[str]) -> str:
    """``json.dumps(list(values))`` for strings (7 lists per item written, most empty), with
    json's C string encoder and none of its per-call set-up."""
    return "[" + ", ".join(map(_json_str, values)) + "]" if values else "[]"


def _enclosures_json(encs: Sequence[Enclosure]) -> str:
    return _ASCII_JSON([[e.url, e.type, e.length] for e in encs]) if encs else "[]"


def _tagging_json(t: Tagging) -> tuple[str, str, str]:
    return (
        _jlist(t.tags),
        _jlist(t.countries),
        _UTF8_JSON({k: list(v) for k, v in t.why.items()}) if t.why else "{}",
    )


def _source_state(row: Sequence, items: int) -> SourceState:
    return SourceState(
        name=row[0], url=row[1], fetch_url=row[2], state=row[3], etag=row[4],
        last_modified=row[5], http_status=row[6], error_count=row[7], last_error=row[8],
        last_fetch=_dt(row[9]), next_attempt=_dt(row[10]), moved_to=row[11],
        moved_count=row[12], gone=bool(row[13]), body_hash=row[14], warning=row[15], items=items,
    )  # fmt: skip


def _item(row: Sequence) -> Item:
    return Item(
        id=row[0], source=row[1], key=row[2], guid=row[3], link=row[4], canonical_url=row[5],
        title=row[6], summary=row[7], content=row[8], authors=tuple(json.loads(row[9])),
        categories=tuple(json.loads(row[10])), language=row[11], published=_dt(row[12]),
        updated=_dt(row[13]),
        enclosures=tuple(Enclosure(u, t, n) for u, t, n in json.loads(row[14])),
        first_seen=_dt(row[15]), last_seen=_dt(row[16]),  # type: ignore[arg-type]
        content_hash=row[17], cluster_id=row[18], tags=tuple(json.loads(row[19])),
        countries=tuple(json.loads(row[20])),
        why={k: tuple(v) for k, v in json.loads(row[21]).items()},
    )  # fmt: skip


def _story(cluster_id: int, rep: Item, members: Sequence[Item]) -> Story:
    also: list[Outlet] = []
    seen = {rep.source}
    tags: list[str] = []
    countries: list[str] = []
    for it in members:
        for t in it.tags:
            if t not in tags:
                tags.append(t)
        for c in it.countries:
            if c not in countries:
                countries.append(c)
        if it.source not in seen:
            seen.add(it.source)
            also.append(Outlet(source=it.source, link=it.link, title=it.title))
    return Story(
        cluster_id=cluster_id,
        item=rep,
        also_in=tuple(also),
        tags=tuple(tags),
        countries=tuple(countries),
        first_seen=min(i.first_seen for i in members),
    )


__all__ = ["Store", "MIGRATIONS"]
