"""The ``items``, ``item_tags`` and ``clusters`` tables on PostgreSQL: stored items and the
stories they make (the rules are those of ``store.sqlite.catalog``).

New ids are ``max(id) + 1``, as SQLite gives them, inside the writers' lock, so both backends
number a run's items and clusters alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from ...errors import StorageError
from ...models import Item, ParsedItem, Story, Tagging
from ..codecs import ITEM_COLS as _ITEM_COLS
from ..codecs import dt, enclosures_json, jlist, story, tagging_json, ts
from ..codecs import item_row as _item
from .connection import Connection
from .sources import Sources

_SHOWN = "EXISTS (SELECT 1 FROM items WHERE items.cluster_id=clusters.id AND NOT items.excluded)"
_ITEM_FIELDS = (
    "source_id, key, guid, link, canonical_url, title, summary, content, authors, categories,"
    " language, published, updated, enclosures, first_seen, last_seen, content_hash"
)


class Catalog:
    """Items, their tags, their clusters, and the stories read from them."""

    def __init__(self, conn: Connection, sources: Sources):
        self._conn = conn
        self._sources = sources

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
        self._conn.executemany(
            "UPDATE items SET last_seen=%s WHERE id=%s", [(ts(now), i) for i in ids]
        )

    def item_hashes(self, source: str) -> dict[str, str]:
        """key -> content hash of every stored item of ``source``."""
        sid = self._sources.source_id(source)
        return {
            k: h
            for k, h in self._conn.execute(
                "SELECT key, content_hash FROM items WHERE source_id=%s", (sid,)
            )
        }

    def next_item_id(self) -> int:
        """The next item id (call inside ``transaction()``, which holds the writers' lock)."""
        row = self._conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()
        assert row is not None
        return int(row[0])

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
        """Store new items of one source (see ``store.sqlite.Catalog.insert_items``)."""
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
            # COPY: one stream for the batch instead of a statement per row (a cold refresh
            # writes tens of thousands of items; bench/README.md, bench_fleet)
            self._conn.copy_rows(
                "items",
                ["id", *_ITEM_FIELDS.replace(" ", "").split(","), "cluster_id", "tags",
                 "countries", "why", "excluded"],
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
            )  # fmt: skip
            pairs = [(iid, tag) for iid, row in zip(ids, rows, strict=True) for tag in row[4].tags]
            if pairs:
                self._conn.execute(
                    "INSERT INTO item_tags(item_id, tag) SELECT * FROM unnest(%s::bigint[],"
                    " %s::text[]) ON CONFLICT DO NOTHING",
                    ([i for i, _ in pairs], [tag for _, tag in pairs]),
                )
        return ids

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
            row = self._conn.execute(
                f"INSERT INTO items(id, {_ITEM_FIELDS}, tags, countries, why)"
                " VALUES ((SELECT coalesce(max(id), 0) + 1 FROM items),"
                " %s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                (
                    sid, key, parsed.guid, parsed.link, canonical_url, parsed.title,
                    parsed.summary, parsed.content, jlist(parsed.authors),
                    jlist(parsed.categories), parsed.language, ts(parsed.published),
                    ts(parsed.updated), enclosures_json(parsed.enclosures), ts(now), ts(now),
                    content_hash, *tagging_json(tagging),
                ),
            ).fetchone()  # fmt: skip
            assert row is not None
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
        """A changed item is updated in place: same id, same first_seen, same cluster."""
        with self._conn.transaction():
            self._conn.execute(
                "UPDATE items SET guid=%s, link=%s, canonical_url=%s, title=%s, summary=%s,"
                " content=%s, authors=%s, categories=%s, language=%s, published=%s, updated=%s,"
                " enclosures=%s, last_seen=%s, content_hash=%s, tags=%s, countries=%s, why=%s,"
                " excluded=%s WHERE id=%s",
                (
                    parsed.guid, parsed.link, canonical_url, parsed.title, parsed.summary,
                    parsed.content, jlist(parsed.authors),
                    jlist(parsed.categories), parsed.language, ts(parsed.published),
                    ts(parsed.updated), enclosures_json(parsed.enclosures), ts(now),
                    content_hash, *tagging_json(tagging), bool(excluded), item_id,
                ),
            )  # fmt: skip
            self._conn.execute("DELETE FROM item_tags WHERE item_id=%s", (item_id,))
            self._set_item_tags(item_id, tagging.tags)

    def _set_item_tags(self, item_id: int, tags: Sequence[str]) -> None:
        self._conn.executemany(
            "INSERT INTO item_tags(item_id, tag) VALUES (%s,%s) ON CONFLICT DO NOTHING",
            [(item_id, t) for t in tags],
        )

    def item(self, item_id: int) -> Item:
        row = self._conn.execute(
            f"SELECT {_ITEM_COLS} FROM items JOIN sources ON sources.id=items.source_id"
            " WHERE items.id=%s",
            (item_id,),
        ).fetchone()
        if row is None:
            raise StorageError(f"no item {item_id}")
        return _item(row)

    def items(self, source: str | None = None) -> list[Item]:
        sql = f"SELECT {_ITEM_COLS} FROM items JOIN sources ON sources.id=items.source_id"
        args: tuple = ()
        if source is not None:
            sql += " WHERE sources.name=%s"
            args = (source,)
        return [_item(r) for r in self._conn.execute(sql + " ORDER BY items.id", args)]

    def count_items(self) -> int:
        row = self._conn.execute("SELECT count(*) FROM items").fetchone()
        return int(row[0]) if row else 0

    def item_times(self, per_source: int = 50) -> dict[str, list[datetime]]:
        """``{source name: times}`` of each source's newest ``per_source`` items, newest first
        (the rule of ``store.sqlite.Catalog.item_times``)."""
        rows = self._conn.execute(
            "SELECT s.name, r.t FROM (SELECT source_id, t, row_number() OVER"
            " (PARTITION BY source_id ORDER BY t DESC) AS n FROM (SELECT source_id,"
            " CASE WHEN coalesce(published, updated) IS NULL"
            " OR coalesce(published, updated) > first_seen + 3600 THEN first_seen"
            " ELSE coalesce(published, updated) END AS t FROM items) AS i) AS r"
            " JOIN sources s ON s.id = r.source_id WHERE r.n <= %s ORDER BY s.name, r.t DESC",
            (per_source,),
        )
        out: dict[str, list[datetime]] = {}
        for name, t in rows:
            out.setdefault(name, []).append(datetime.fromtimestamp(t, UTC))
        return out

    def first_fetch(self) -> datetime | None:
        """When the first stored item was fetched (None: nothing stored yet)."""
        row = self._conn.execute("SELECT min(first_seen) FROM items").fetchone()
        return dt(row[0]) if row else None

    def unclustered_items(self) -> list[int]:
        return [
            r[0]
            for r in self._conn.execute("SELECT id FROM items WHERE cluster_id IS NULL ORDER BY id")
        ]

    def tags_in_use(self) -> list[str]:
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT DISTINCT tag FROM item_tags JOIN items ON items.id=item_tags.item_id"
                " WHERE NOT items.excluded ORDER BY tag"
            )
        ]

    # ---- clusters and stories -------------------------------------------------------------------

    def new_cluster(self, item_id: int, first_seen: datetime) -> int:
        with self._conn.transaction():
            row = self._conn.execute(
                "INSERT INTO clusters(id, rep_item_id, first_seen, last_seen)"
                " VALUES ((SELECT coalesce(max(id), 0) + 1 FROM clusters), %s,%s,%s)"
                " RETURNING id",
                (item_id, ts(first_seen), ts(first_seen)),
            ).fetchone()
            assert row is not None
            cid = int(row[0])
            self._conn.execute("UPDATE items SET cluster_id=%s WHERE id=%s", (cid, item_id))
        return cid

    def join_cluster(self, item_id: int, cluster_id: int, now: datetime) -> None:
        with self._conn.transaction():
            self._conn.execute("UPDATE items SET cluster_id=%s WHERE id=%s", (cluster_id, item_id))
            self._conn.execute(
                "UPDATE clusters SET last_seen=greatest(last_seen, %s) WHERE id=%s",
                (ts(now), cluster_id),
            )

    def latest_stories(self, limit: int, tag: str | None = None) -> list[Story]:
        """The newest ``limit`` stories (by cluster first-seen), optionally those carrying
        ``tag`` on any member."""
        if tag is None:
            rows = self._conn.execute(
                f"SELECT id FROM clusters WHERE {_SHOWN} ORDER BY first_seen DESC, id DESC"
                " LIMIT %s",
                (limit,),
            )
        else:
            rows = self._conn.execute(
                "SELECT DISTINCT clusters.id, clusters.first_seen FROM item_tags"
                " JOIN items ON items.id=item_tags.item_id"
                " JOIN clusters ON clusters.id=items.cluster_id"
                " WHERE item_tags.tag=%s AND NOT items.excluded"
                " ORDER BY clusters.first_seen DESC, clusters.id DESC LIMIT %s",
                (tag, limit),
            )
        return self.stories([r[0] for r in rows])

    def stories_between(self, start: datetime, end: datetime) -> list[Story]:
        """Stories whose cluster was first seen in [start, end), newest first."""
        rows = self._conn.execute(
            f"SELECT id FROM clusters WHERE first_seen>=%s AND first_seen<%s AND {_SHOWN}"
            " ORDER BY first_seen DESC, id DESC",
            (ts(start), ts(end)),
        )
        return self.stories([r[0] for r in rows])

    def story_times(
        self,
    ) -> list[tuple[int, datetime | None, datetime | None, datetime, datetime, datetime]]:
        """Every story's dates, without its text (see ``store.sqlite.Catalog.story_times``)."""
        rows = self._conn.execute(
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
