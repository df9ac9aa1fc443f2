"""The ``meta`` table on PostgreSQL: a few named values the aggregator keeps with its data."""

from __future__ import annotations

from .connection import Connection


class Meta:
    """Key/value pairs, written once."""

    def __init__(self, conn: Connection):
        self._conn = conn

    def meta_get(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=%s", (key,)).fetchone()
        return None if row is None else row[0]

    def meta_setdefault(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is there; return the stored value."""
        with self._conn.transaction():
            self._conn.execute(
                "INSERT INTO meta(key, value) VALUES (%s,%s) ON CONFLICT DO NOTHING", (key, value)
            )
            stored = self.meta_get(key)
        assert stored is not None
        return stored
