"""The ``meta`` table: a few named values the aggregator keeps with its data.

The unsubscribe secret lives here when no environment variable provides one.
"""

from __future__ import annotations

from .backend import Backend


class Meta:
    """Key/value pairs, written once."""

    def __init__(self, conn: Backend):
        self._conn = conn
        self._db = conn.db

    def meta_get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def meta_setdefault(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is there; return the stored value."""
        with self._conn.transaction():
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?,?) ON CONFLICT DO NOTHING", (key, value)
            )
            stored = self.meta_get(key)
        assert stored is not None
        return stored
