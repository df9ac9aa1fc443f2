"""The subscribers family on PostgreSQL: how a forgotten person's ledger rows take the hash."""

from __future__ import annotations

from .. import subscribers
from .connection import Connection


class Subscribers(subscribers.Subscribers):
    """Subscribers, their history, and the hashes of those forgotten on request."""

    def __init__(self, conn: Connection):
        super().__init__(conn)
        self._pg = conn

    def _rename_deliveries(self, gone: str, key: str, named: str) -> int:
        # SQLite's UPDATE OR IGNORE: one row per issue takes the hash (unless the issue has it
        # already); the others are deleted after.
        return self._pg.execute(
            "UPDATE deliveries SET recipient=%s WHERE ctid IN (SELECT DISTINCT ON (issue) ctid"
            " FROM deliveries d WHERE (lower(recipient)=%s OR strpos(lower(recipient), %s) > 0)"
            " AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.issue=d.issue"
            " AND o.recipient=%s) ORDER BY issue, recipient)",
            (gone, key, named, gone),
        ).rowcount
