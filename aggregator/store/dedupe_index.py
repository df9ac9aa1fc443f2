"""The dedupe index: ``dedupe_urls`` and ``dedupe_text``, and the cluster writes of dedupe.

Implements ``dedupe.ClusterIndex``: URL keys of any age, one row per recent item with its packed
text keys and fingerprint record (read once per refresh into memory by ``dedupe.Deduper``), and
the batch write of what the deduper decided. A source's new items cost a few statements.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from .backend import Backend
from .codecs import ts


class DedupeIndex:
    """What ``dedupe.Deduper`` reads and writes (``dedupe.ClusterIndex``; PostgreSQL writes a
    batch in one statement per table: ``store.postgres.DedupeIndex``)."""

    def __init__(self, conn: Backend):
        self._conn = conn
        self._db = conn.db
        self._join = conn.dialect.join_in_order
        self._greatest = conn.dialect.greatest

    def next_cluster_id(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(id), 0) + 1 FROM clusters").fetchone()[0])

    def dedupe_guid_cluster(self, source: str, guid: str, exclude_item: int) -> int | None:
        """Cluster of another item of ``source`` with the same guid (its key is ``guid:...``)."""
        row = self._db.execute(
            f"SELECT items.cluster_id FROM sources {self._join} items"
            " ON items.source_id=sources.id AND items.key=? WHERE sources.name=? AND items.id<>?"
            " AND items.cluster_id IS NOT NULL LIMIT 1",
            ("guid:" + guid, source, exclude_item),
        ).fetchone()
        return None if row is None else int(row[0])

    def dedupe_url_matches(self, keys: Sequence[int]) -> dict[int, list[tuple[int, int, float]]]:
        """URL key -> ``(item id, cluster id, first seen)`` of the clustered items that have it
        (any source, any age)."""
        out: dict[int, list[tuple[int, int, float]]] = {}
        for key, iid, cid, seen in self._conn.select_in(
            "SELECT u.key, items.id, items.cluster_id, items.first_seen FROM dedupe_urls u"
            f" {self._join} items ON items.id=u.item_id"
            " WHERE u.key {in} AND items.cluster_id IS NOT NULL ORDER BY u.key, u.item_id",
            keys,
        ):
            out.setdefault(key, []).append((iid, cid, float(seen)))
        return out

    def dedupe_window(self, since: datetime) -> Iterator[tuple[int, str, int, float, bytes]]:
        """``(item id, source, cluster id, first seen, packed text keys)`` of the clustered items
        first seen from ``since`` on: one range scan, read once per refresh into memory."""
        yield from self._db.execute(
            "SELECT d.item_id, sources.name, items.cluster_id, d.first_seen, d.keys"
            f" FROM dedupe_text d {self._join} items ON items.id=d.item_id"
            f" {self._join} sources ON sources.id=items.source_id"
            " WHERE d.first_seen >= ? AND items.cluster_id IS NOT NULL"
            " ORDER BY d.first_seen, d.item_id",
            (ts(since),),
        )

    def dedupe_records(self, item_ids: Sequence[int]) -> dict[int, str]:
        """The fingerprint records of the given items (those that have one)."""
        return dict(
            self._conn.select_in(
                "SELECT item_id, record FROM dedupe_text WHERE item_id {in}", item_ids
            )
        )

    def dedupe_representatives(self, cluster_ids: Sequence[int]) -> dict[int, tuple[int, str, str]]:
        """cluster id -> ``(representative item id, its summary, its content lead)``."""
        return {
            cid: (iid, summary, content)
            for cid, iid, summary, content in self._conn.select_in(
                "SELECT clusters.id, items.id, items.summary, substr(items.content, 1, 20000)"
                f" FROM clusters {self._join} items ON items.id=clusters.rep_item_id"
                " WHERE clusters.id {in}",
                cluster_ids,
            )
        }

    def dedupe_write(
        self,
        new: Sequence[tuple[int, int]],
        joined: Sequence[int],
        reps: Sequence[tuple[int, int]],
        keys: Sequence[tuple[int, Sequence[int], bytes, str]],
        first_seen: datetime,
    ) -> None:
        """What ``Deduper.assign_many`` decided, for items first seen at ``first_seen``: new
        clusters ``(cluster id, representative item id)``, clusters ``joined`` (their
        last-seen moves), representative changes ``(cluster id, item id)``, and per item
        ``(item id, URL keys, packed text keys, record)``. A few executemany, sorted URL keys
        (neighbouring inserts share index pages)."""
        t = ts(first_seen)
        with self._conn.transaction():
            if new:
                self._db.executemany(
                    "INSERT INTO clusters(id, rep_item_id, first_seen, last_seen) VALUES (?,?,?,?)",
                    [(cid, iid, t, t) for cid, iid in new],
                )
            if joined:
                self._db.executemany(
                    f"UPDATE clusters SET last_seen={self._greatest}(last_seen, ?) WHERE id=?",
                    [(t, cid) for cid in dict.fromkeys(joined)],
                )
            if reps:
                self._db.executemany(
                    "UPDATE clusters SET rep_item_id=? WHERE id=?",
                    [(iid, cid) for cid, iid in reps],
                )
            urls = sorted({(k, iid) for iid, uk, _, _ in keys for k in uk})
            if urls:
                self._db.executemany(
                    "INSERT INTO dedupe_urls(key, item_id) VALUES (?,?) ON CONFLICT DO NOTHING",
                    urls,
                )
            self._db.executemany(
                "INSERT INTO dedupe_text(item_id, first_seen, keys, record) VALUES (?,?,?,?)"
                " ON CONFLICT (item_id) DO UPDATE SET first_seen=excluded.first_seen,"
                " keys=excluded.keys, record=excluded.record",
                [(iid, t, packed, rec) for iid, _, packed, rec in keys],
            )

    def set_item_clusters(self, pairs: Sequence[tuple[int, int]]) -> None:
        """``(item id, cluster id)`` for items stored before they were clustered."""
        with self._conn.transaction():
            self._db.executemany(
                "UPDATE items SET cluster_id=? WHERE id=?", [(c, i) for i, c in pairs]
            )

    def dedupe_prune(self, before: datetime) -> int:
        """Drop the text keys and records of items first seen before ``before`` (older than
        any window)."""
        with self._conn.transaction():
            cur = self._db.execute("DELETE FROM dedupe_text WHERE first_seen<?", (ts(before),))
        return cur.rowcount
