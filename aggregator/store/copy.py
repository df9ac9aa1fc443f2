"""``aggregator db copy``: a SQLite store's every table into an empty PostgreSQL one.

One read transaction on SQLite (a consistent snapshot), one transaction on PostgreSQL with
``COPY`` per table (parents before children), identity sequences moved past the copied ids,
then every table's rows counted on both sides. Both stores are opened by this code, so both
are at the current schema version: the same tables, the same columns.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import StorageError
from . import postgres as pg
from . import sqlite as lite

#: Tables in an order that satisfies the foreign keys (any other table follows, by name).
ORDER = (
    "sources", "clusters", "items", "item_tags", "dedupe_urls", "dedupe_text", "fetch_attempts",
    "digest_issues", "digest_editions", "deliveries", "subscribers", "subscriber_events",
    "forgotten", "bounce_counts", "bounce_reports", "meta",
)  # fmt: skip
#: Tables whose ids PostgreSQL numbers itself (identity columns): their sequences follow.
_IDENTITY = ("sources", "subscribers", "subscriber_events")


def copy_store(
    src: lite.Connection, dst: pg.Connection, progress: Callable[[str, int], None] | None = None
) -> dict[str, tuple[int, int]]:
    """Copy every table of ``src`` into ``dst`` (which must hold no rows); returns
    ``{table: (rows in src, rows in dst)}``. Raises ``StorageError`` when ``dst`` is not empty,
    lacks a table, or a count differs (then nothing is kept: one transaction)."""
    names = [
        r[0]
        for r in src.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    tables = [t for t in ORDER if t in names] + sorted(set(names) - set(ORDER))
    theirs = {
        r[0]
        for r in dst.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    }
    missing = [t for t in tables if t not in theirs]
    if missing:
        raise StorageError(f"{dst.display}: no table {', '.join(missing)} (schema differs)")
    counts: dict[str, tuple[int, int]] = {}
    with src.lock:
        src.db.execute("BEGIN")  # one snapshot of the SQLite file
        try:
            with dst.transaction():
                for table in tables:
                    row = dst.execute(f"SELECT count(*) FROM {table}").fetchone()
                    if table != "meta" and row and row[0]:
                        raise StorageError(
                            f"{dst.display}: table {table} is not empty; copy into a new database"
                        )
                for table in tables:
                    cur = src.db.execute(f"SELECT * FROM {table}")
                    columns = [d[0] for d in cur.description]
                    if table == "meta":  # the target may have written its own secret already
                        dst.execute("DELETE FROM meta")
                    dst.copy_rows(table, columns, cur)
                    mine = src.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    row = dst.execute(f"SELECT count(*) FROM {table}").fetchone()
                    counts[table] = (mine, int(row[0]) if row else -1)
                    if progress is not None:
                        progress(table, mine)
                for table in _IDENTITY:
                    if table in tables:
                        dst.execute(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                        )
                wrong = {t: c for t, c in counts.items() if c[0] != c[1]}
                if wrong:
                    raise StorageError(f"{dst.display}: counts differ after the copy: {wrong}")
        finally:
            src.db.execute("ROLLBACK")
    return counts
