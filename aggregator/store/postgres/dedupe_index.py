"""The dedupe index on PostgreSQL: a fleet's catch-up read, and the batch write in one
statement per table.

The family itself (``store.dedupe_index.DedupeIndex``) is the same on both backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .. import dedupe_index
from ..codecs import ts
from .connection import Connection


class DedupeIndex(dedupe_index.DedupeIndex):
    """What ``dedupe.Deduper`` reads and writes, and what a fleet's worker reads of the
    others' items."""

    def __init__(self, conn: Connection):
        super().__init__(conn)
        self._pg = conn

    def dedupe_window_after(self, item_id: int) -> list[tuple[int, str, int, float, bytes]]:
        """The rows of ``dedupe_window`` of the clustered items whose id is above ``item_id``:
        what other workers of a fleet stored since this one last looked (ids are given under
        the writers' lock, so a later commit never has a smaller id)."""
        return self._pg.execute(
            "SELECT d.item_id, sources.name, items.cluster_id, d.first_seen, d.keys"
            " FROM dedupe_text d JOIN items ON items.id=d.item_id"
            " JOIN sources ON sources.id=items.source_id"
            " WHERE d.item_id > %s AND items.cluster_id IS NOT NULL ORDER BY d.item_id",
            (item_id,),
        ).fetchall()

    def dedupe_write(
        self,
        new: Sequence[tuple[int, int]],
        joined: Sequence[int],
        reps: Sequence[tuple[int, int]],
        keys: Sequence[tuple[int, Sequence[int], bytes, str]],
        first_seen: datetime,
    ) -> None:
        """What ``Deduper.assign_many`` decided (see ``store.dedupe_index.DedupeIndex``), in one
        statement per table for the batch (COPY, or arrays unnested), not one per row."""
        t = ts(first_seen)
        db = self._pg
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
