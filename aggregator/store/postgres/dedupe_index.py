"""The dedupe index on PostgreSQL: ``dedupe_urls`` and ``dedupe_text``, and the cluster writes
of dedupe (``dedupe.ClusterIndex``; the rules are those of ``store.sqlite.dedupe_index``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from ..codecs import ts
from .connection import Connection


class DedupeIndex:
    """What ``dedupe.Deduper`` reads and writes (``dedupe.ClusterIndex``)."""

    def __init__(self, conn: Connection):
        self._conn = conn

    def next_cluster_id(self) -> int:
        row = self._conn.execute("SELECT coalesce(max(id), 0) + 1 FROM clusters").fetchone()
        assert row is not None
        return int(row[0])

    def dedupe_guid_cluster(self, source: str, guid: str, exclude_item: int) -> int | None:
        """Cluster of another item of ``source`` with the same guid (its key is ``guid:...``)."""
        row = self._conn.execute(
            "SELECT items.cluster_id FROM sources JOIN items ON items.source_id=sources.id"
            " AND items.key=%s WHERE sources.name=%s AND items.id<>%s"
            " AND items.cluster_id IS NOT NULL ORDER BY items.id LIMIT 1",
            ("guid:" + guid, source, exclude_item),
        ).fetchone()
        return None if row is None else int(row[0])

    def dedupe_url_matches(self, keys: Sequence[int]) -> dict[int, list[tuple[int, int, float]]]:
        """URL key -> ``(item id, cluster id, first seen)`` of the clustered items that have it."""
        out: dict[int, list[tuple[int, int, float]]] = {}
        for key, iid, cid, seen in self._conn.select_in(
            "SELECT u.key, items.id, items.cluster_id, items.first_seen FROM dedupe_urls u"
            " JOIN items ON items.id=u.item_id"
            " WHERE u.key {in} AND items.cluster_id IS NOT NULL ORDER BY u.key, u.item_id",
            keys,
        ):
            out.setdefault(key, []).append((iid, cid, float(seen)))
        return out

    def dedupe_window(self, since: datetime) -> Iterator[tuple[int, str, int, float, bytes]]:
        """``(item id, source, cluster id, first seen, packed text keys)`` of the clustered items
        first seen from ``since`` on, in item order (SQLite's)."""
        yield from self._conn.execute(
            "SELECT d.item_id, sources.name, items.cluster_id, d.first_seen, d.keys"
            " FROM dedupe_text d JOIN items ON items.id=d.item_id"
            " JOIN sources ON sources.id=items.source_id"
            " WHERE d.first_seen >= %s AND items.cluster_id IS NOT NULL"
            " ORDER BY d.first_seen, d.item_id",
            (ts(since),),
        )

    def dedupe_window_after(self, item_id: int) -> list[tuple[int, str, int, float, bytes]]:
        """The rows of ``dedupe_window`` of the clustered items whose id is above ``item_id``:
        what other workers of a fleet stored since this one last looked (ids are given under
        the writers' lock, so a later commit never has a smaller id)."""
        return self._conn.execute(
            "SELECT d.item_id, sources.name, items.cluster_id, d.first_seen, d.keys"
            " FROM dedupe_text d JOIN items ON items.id=d.item_id"
            " JOIN sources ON sources.id=items.source_id"
            " WHERE d.item_id > %s AND items.cluster_id IS NOT NULL ORDER BY d.item_id",
            (item_id,),
        ).fetchall()

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
                " FROM clusters JOIN items ON items.id=clusters.rep_item_id"
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
        """What ``Deduper.assign_many`` decided (see ``store.sqlite.DedupeIndex.dedupe_write``)."""
        t = ts(first_seen)
        db = self._conn
        # A statement per table for the batch (COPY, or arrays unnested), not one per row.
        with db.transaction():
            if new:
                db.copy_rows("clusters", ("id", "rep_item_id", "first_seen", "last_seen"),
                             [(cid, iid, t, t) for cid, iid in new])  # fmt: skip
            if joined:
                db.execute(
                    "UPDATE clusters SET last_seen=greatest(last_seen, %s) WHERE id = ANY(%s)",
                    (t, list(dict.fromkeys(joined))),
                )
            if reps:
                last = dict(reps)  # the last word for each cluster, as row-by-row updates
                db.execute(
                    "UPDATE clusters c SET rep_item_id=r.iid FROM unnest(%s::bigint[],"
                    " %s::bigint[]) AS r(cid, iid) WHERE c.id=r.cid",
                    (list(last), list(last.values())),
                )
            urls = sorted({(k, iid) for iid, uk, _, _ in keys for k in uk})
            if urls:
                db.execute(
                    "INSERT INTO dedupe_urls(key, item_id) SELECT * FROM unnest(%s::bigint[],"
                    " %s::bigint[]) ON CONFLICT DO NOTHING",
                    ([k for k, _ in urls], [i for _, i in urls]),
                )
            texts = {iid: (packed, rec) for iid, _, packed, rec in keys}
            if texts:
                db.execute(
                    "INSERT INTO dedupe_text(item_id, first_seen, keys, record)"
                    " SELECT r.iid, %s, r.k, r.rec FROM unnest(%s::bigint[], %s::bytea[],"
                    " %s::text[]) AS r(iid, k, rec)"
                    " ON CONFLICT (item_id) DO UPDATE SET first_seen=excluded.first_seen,"
                    " keys=excluded.keys, record=excluded.record",
                    (t, list(texts), [k for k, _ in texts.values()],
                     [r for _, r in texts.values()]),
                )  # fmt: skip

    def set_item_clusters(self, pairs: Sequence[tuple[int, int]]) -> None:
        """``(item id, cluster id)`` for items stored before they were clustered."""
        self._conn.executemany(
            "UPDATE items SET cluster_id=%s WHERE id=%s", [(c, i) for i, c in pairs]
        )

    def dedupe_prune(self, before: datetime) -> int:
        """Drop the text keys and records of items first seen before ``before``."""
        return self._conn.execute(
            "DELETE FROM dedupe_text WHERE first_seen<%s", (ts(before),)
        ).rowcount
