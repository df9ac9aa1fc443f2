"""The subscribers family on SQLite: how a forgotten person's ledger rows take the hash."""

from __future__ import annotations

from .. import subscribers


class Subscribers(subscribers.Subscribers):
    """Subscribers, their history, and the hashes of those forgotten on request."""

    def _rename_deliveries(self, gone: str, key: str, named: str) -> int:
        # UPDATE OR IGNORE: the first row of an issue takes the hash, the others would clash
        # with it on (issue, recipient) and keep their address until they are deleted.
        return self._db.execute(
            "UPDATE OR IGNORE deliveries SET recipient=? WHERE lower(recipient)=?"
            " OR instr(lower(recipient), ?) > 0",
            (gone, key, named),
        ).rowcount
