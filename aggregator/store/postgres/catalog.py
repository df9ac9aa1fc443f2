"""The ``items`` family on PostgreSQL: a source's new items streamed, not sent row by row.

The family itself (``store.catalog.Catalog``) is the same on both backends; here its one write
of a batch is COPY for the items and one statement over arrays for their tags (a cold refresh
writes tens of thousands of items; bench/README.md, bench_fleet).
"""

from __future__ import annotations

from .. import catalog
from ..sources import Sources
from .connection import Connection


class Catalog(catalog.Catalog):
    """Items, their tags, their clusters, and the stories read from them."""

    def __init__(self, conn: Connection, sources: Sources):
        super().__init__(conn, sources)
        self._pg = conn

    def _write_items(self, rows: list[tuple], tags: list[tuple[int, str]]) -> None:
        self._pg.copy_rows("items", catalog.ITEM_COLUMNS, rows)
        if tags:
            self._pg.execute(
                "INSERT INTO item_tags(item_id, tag) SELECT * FROM unnest(%s::bigint[],"
                " %s::text[]) ON CONFLICT DO NOTHING",
                ([i for i, _ in tags], [tag for _, tag in tags]),
            )
