"""The ``items``, ``item_tags`` and ``clusters`` tables: stored items and the stories they make.

Items are written in batches (one write per table per source) with explicit ids and their
cluster, updated in place when their content changes, and read back as models: single items,
or stories (a cluster's representative, its other outlets, the union of its members' tags).
New ids are ``max(id) + 1`` inside the write lock on both backends, so both number a run's
items and clusters alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from ..errors import StorageError
from ..models import Item, ParsedItem, Story, Tagging
from .backend import Backend
from .codecs import ITEM_COLS as _ITEM_COLS
from .codecs import dt, enclosures_json, jlist, story, tagging_json, ts
from .codecs import item_row as _item
from .sources import Sources

#: A cluster readers see: one of its items at least is not excluded (an item excluded after it
#: was clustered stays in its cluster, out of sight).
_SHOWN = "EXISTS (SELECT 1 FROM items WHERE items.cluster_id=clusters.id AND NOT items.excluded)"
#: The columns of a new item, in the order of the rows ``insert_items`` writes.
ITEM_COLUMNS = (
    "id", "source_id", "key", "guid", "link", "canonical_url", "title", "summary", "content",
    "authors", "categories", "language", "published", "updated", "enclosures", "first_seen",
    "last_seen", "content_hash", "cluster_id", "tags", "countries", "why", "excluded",
)  # fmt: skip
_INSERT_ITEMS = (
    f"INSERT INTO items({', '.join(ITEM_COLUMNS)}) VALUES ({','.join('?' * len(ITEM_COLUMNS))})"
)


class Catalog:
    """Items, their tags, their clusters, and the stories read from them (PostgreSQL streams
    the batches: ``store.postgres.Catalog``)."""

    def __init__(self, conn: Backend, sources: Sources):
        self._conn = conn
        self._db = conn.db
        self._sources = sources
        self._greatest = conn.dialect.greatest

    # ---- items ----------------------------------------------------------------------------------

    def known_items(self, source: str, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """key -> (item id, content hash) for the keys of ``source`` already stored."""
        sid = self._sources.source_id(source)
        return {
            key: (iid, h)
            for key, iid, h in self._conn.select_in(
                "SELECT key, id, content_hash FROM items WHERE key {in} AND source_id=?",
                keys,
                sid,
            )
        }

    def touch_items(self, ids: Sequence[int], now: datetime) -> None:
        with self._conn.transaction():
            self._db.executemany(
                "UPDATE items SET last_seen=? WHERE id=?", [(ts(now), i) for i in ids]
            )

    def item_hashes(self, source: str) -> dict[str, str]:
        """key -> content hash of every stored item of ``source`` (lets a worker skip the
        items it would only find unchanged)."""
        sid = self._sources.source_id(source)
        return dict(
            self._db.execute("SELECT key, content_hash FROM items WHERE source_id=?", (sid,))
        )

    def next_item_id(self) -> int:
        """The next item id: callers inside ``transaction()`` (which holds the write lock) give
        new rows explicit ids, so items can be written with their cluster."""
        return int(self._db.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0])

    def insert_items(
        self,
        source: str,
        rows: Sequence[tuple[str, str | None, ParsedItem, str, Tagging]],
        now: datetime,
        *,
        ids: Sequence[int] | None = None,
        clusters: Sequence[int | None] | None = None,
        excluded: bool = False,
    ) -> list[int]:
        """Store new items ``(key, canonical_url, parsed, content_hash, tagging)`` of one source
        with one write per table; returns their ids in order. ``ids`` (from ``next_item_id``)
        and ``clusters`` (from ``Deduper.assign_many``) let items be written once, clustered;
        without ``ids`` they are max(id) + 1... ``excluded``: left out by the source's
        include/exclude (kept, never in a story). The transaction holds the write lock, so the
        ids are free."""
        if not rows:
            return []
        with self._conn.transaction():
            sid = self._sources.source_id(source)
            if ids is None:
                first = self.next_item_id()
                ids = range(first, first + len(rows))
            ids = list(ids)
            cids = list(clusters) if clusters is not None else [None] * len(rows)
            if not len(ids) == len(cids) == len(rows):
                raise ValueError("insert_items: rows, ids and clusters differ in length")
            t = ts(now)
            self._write_items(
                [
                    (
                        iid, sid, key, p.guid, p.link, canon, p.title, p.summary, p.content,
                        jlist(p.authors), jlist(p.categories), p.language,
                        ts(p.published), ts(p.updated), enclosures_json(p.enclosures), t, t,
                        chash, cid, *tagging_json(tagging), bool(excluded),
                    )
                    for iid, cid, (key, canon, p, chash, tagging) in zip(
                        ids, cids, rows, strict=True
                    )
                ],
                [(iid, tag) for iid, row in zip(ids, rows, strict=True) for tag in row[4].tags],
            )  # fmt: skip
        return ids

    def _write_items(self, rows: list[tuple], tags: list[tuple[int, str]]) -> None:
        """New items (rows of ``ITEM_COLUMNS``) and their ``(item id, tag)`` pairs: an
        executemany each."""
        self._db.executemany(_INSERT_ITEMS, rows)
        self._db.executemany(
            "INSERT INTO item_tags(item_id, tag) VALUES (?,?) ON CONFLICT DO NOTHING", tags
        )

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
        with self._conn.transaction():
            sid = self._sources.source_id(source)
            row = self._db.execute(
                "INSERT INTO items(id, source_id, key, guid, link, canonical_url, title, summary,"
                " content, authors, categories, language, published, updated, enclosures,"
                " first_seen, last_seen, content_hash, tags, countries, why)"
                " VALUES ((SELECT coalesce(max(id), 0) + 1 FROM items),"
                " ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    sid, key, parsed.guid, parsed.link, canonical_url, parsed.title,
                    parsed.summary, parsed.content, jlist(parsed.authors),
                    jlist(parsed.categories), parsed.language, ts(parsed.published),
                    ts(parsed.updated), enclosures_json(parsed.enclosures), ts(now), ts(now),
                    content_hash, *tagging_json(tagging),
                ),
            ).fetchone()  # fmt: skip
            item_id = int(row[0])
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
        excluded: bool = False,
    ) -> None:
        """A changed item is updated in place: same id, same first_seen, same cluster (and
        excluded again by its source's include/exclude, or no longer)."""
        with self._conn.transaction():
            self._db.execute(
                "UPDATE items SET guid=?, link=?, canonical_url=?, title=?, summary=?, content=?,"
                " authors=?, categories=?, language=?, published=?, updated=?, enclosures=?,"
                " last_seen=?, content_hash=?, tags=?, countries=?, why=?, excluded=? WHERE id=?",
                (
                    parsed.guid, parsed.link, canonical_url, parsed.title, parsed.summary,
                    parsed.content, jlist(parsed.authors),
                    jlist(parsed.categories), parsed.language, ts(parsed.published),
                    ts(parsed.updated), enclosures_json(parsed.enclosures), ts(now),
                    content_hash, *tagging_json(tagging), bool(excluded), item_id,
                ),
            )  # fmt: skip
            self._db.execute("DELETE FROM item_tags WHERE item_id=?", (item_id,))
            self._set_item_tags(item_id, tagging.tags)

    def _set_item_tags(self, item_id: int, tags: Sequence[str]) -> None:
        self._db.executemany(
            "INSERT INTO item_tags(item_id, tag) VALUES (?,?) ON CONFLICT DO NOTHING",
            [(item_id, t) for t in tags],
        )

    def item(self, item_id: int) -> Item:
        row = self._db.execute(
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
        return [_item(r) for r in self._db.execute(sql + " ORDER BY items.id", args)]

    def count_items(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM items").fetchone()[0])

    def item_times(self, per_source: int = 50) -> dict[str, list[datetime]]:
        """``{source name: times}`` of each source's newest ``per_source`` items, newest first.
        An item's time is its own date (published, else updated) unless it has none or claims
        to be more than an hour newer than when it was first seen: then its first-seen time
        (the rule the published feeds sort by)."""
        rows = self._db.execute(
            "SELECT s.name, r.t FROM (SELECT source_id, t, row_number() OVER"
            " (PARTITION BY source_id ORDER BY t DESC) AS n FROM (SELECT source_id,"
            " CASE WHEN coalesce(published, updated) IS NULL"
            " OR coalesce(published, updated) > first_seen + 3600 THEN first_seen"
            " ELSE coalesce(published, updated) END AS t FROM items) AS i) AS r"
            " JOIN sources s ON s.id = r.source_id WHERE r.n <= ? ORDER BY s.name, r.t DESC",
            (per_source,),
        )
        out: dict[str, list[datetime]] = {}
        for name, t in rows:
            out.setdefault(name, []).append(datetime.fromtimestamp(t, UTC))
        return out

    def first_fetch(self) -> datetime | None:
        """When the first stored item was fetched (None: nothing stored yet): the service's
        birth, as far as digests are concerned."""
        return dt(self._db.execute("SELECT min(first_seen) FROM items").fetchone()[0])

    def unclustered_items(self) -> list[int]:
        return [
            r[0]
            for r in self._db.execute("SELECT id FROM items WHERE cluster_id IS NULL ORDER BY id")
        ]

    def tags_in_use(self) -> list[str]:
        return [
            r[0]
            for r in self._db.execute(
                "SELECT DISTINCT tag FROM item_tags JOIN items ON items.id=item_tags.item_id"
                " WHERE NOT items.excluded ORDER BY tag"
            )
        ]

    # ---- clusters and stories -------------------------------------------------------------------

    def new_cluster(self, item_id: int, first_seen: datetime) -> int:
        with self._conn.transaction():
            row = self._db.execute(
                "INSERT INTO clusters(id, rep_item_id, first_seen, last_seen)"
                " VALUES ((SELECT coalesce(max(id), 0) + 1 FROM clusters), ?,?,?) RETURNING id",
                (item_id, ts(first_seen), ts(first_seen)),
            ).fetchone()
            cid = int(row[0])
            self._db.execute("UPDATE items SET cluster_id=? WHERE id=?", (cid, item_id))
        return cid

    def join_cluster(self, item_id: int, cluster_id: int, now: datetime) -> None:
        with self._conn.transaction():
            self._db.execute("UPDATE items SET cluster_id=? WHERE id=?", (cluster_id, item_id))
            self._db.execute(
                f"UPDATE clusters SET last_seen={self._greatest}(last_seen, ?) WHERE id=?",
                (ts(now), cluster_id),
            )

    def latest_stories(self, limit: int, tag: str | None = None) -> list[Story]:
        """The newest ``limit`` stories (by cluster first-seen), optionally those carrying ``tag``
        on any member."""
        if tag is None:
            rows = self._db.execute(
                f"SELECT id FROM clusters WHERE {_SHOWN} ORDER BY first_seen DESC, id DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self._db.execute(
                "SELECT DISTINCT clusters.id, clusters.first_seen FROM item_tags"
                " JOIN items ON items.id=item_tags.item_id"
                " JOIN clusters ON clusters.id=items.cluster_id"
                " WHERE item_tags.tag=? AND NOT items.excluded"
                " ORDER BY clusters.first_seen DESC, clusters.id DESC LIMIT ?",
                (tag, limit),
            )
        return self.stories([r[0] for r in rows])

    def stories_between(self, start: datetime, end: datetime) -> list[Story]:
        """Stories whose cluster was first seen in [start, end), newest first."""
        rows = self._db.execute(
            f"SELECT id FROM clusters WHERE first_seen>=? AND first_seen<? AND {_SHOWN}"
            " ORDER BY first_seen DESC, id DESC",
            (ts(start), ts(end)),
        )
        return self.stories([r[0] for r in rows])

    def story_times(
        self,
    ) -> list[tuple[int, datetime | None, datetime | None, datetime, datetime, datetime]]:
        """Every story's dates, without its text: ``(cluster id, representative's published,
        updated, first seen, last seen, earliest first seen of the members)``, for placing
        stories in the weeks of the archive (publish decides which date counts)."""
        rows = self._db.execute(
            "SELECT c.id, r.published, r.updated, r.first_seen, r.last_seen, m.first"
            " FROM clusters c JOIN items r ON r.id=c.rep_item_id"
            " JOIN (SELECT cluster_id, min(first_seen) AS first FROM items"
            "       WHERE cluster_id IS NOT NULL GROUP BY cluster_id) m ON m.cluster_id=c.id"
            " ORDER BY c.id"
        )
        return [
            (r[0], dt(r[1]), dt(r[2]), dt(r[3]), dt(r[4]), dt(r[5]))  # type: ignore[misc]
            for r in rows
        ]

    def stories(self, cluster_ids: Sequence[int]) -> list[Story]:
        """Assemble stories in the order of ``cluster_ids``."""
        if not cluster_ids:
            return []
        ids = list(cluster_ids)
        members: dict[int, list[Item]] = {c: [] for c in ids}
        reps = dict(self._conn.select_in("SELECT id, rep_item_id FROM clusters WHERE id {in}", ids))
        for row in self._conn.select_in(
            f"SELECT {_ITEM_COLS} FROM items JOIN sources ON sources.id=items.source_id"
            " WHERE cluster_id {in} AND NOT items.excluded ORDER BY items.first_seen, items.id",
            ids,
        ):
            it = _item(row)
            members[it.cluster_id or 0].append(it)
        out = []
        for cid in ids:
            items = members.get(cid) or []
            if not items:
                continue
            rep = next((i for i in items if i.id == reps.get(cid)), items[0])
            out.append(story(cid, rep, items))
        return out
