"""The digest ledger on PostgreSQL: ``digest_issues`` and ``deliveries`` (the states and their
meaning are those of ``store.sqlite.ledger``)."""

from __future__ import annotations

import json
from datetime import datetime

from ...models import DELIVERY_STATES, Delivery, Digest
from ..codecs import digest_from_json, digest_json, dt, ts
from .connection import Connection


class Ledger:
    """Frozen digests and per-recipient deliveries."""

    def __init__(self, conn: Connection):
        self._conn = conn

    def frozen_digest(self, issue: str) -> Digest | None:
        row = self._conn.execute(
            "SELECT payload FROM digest_issues WHERE issue=%s", (issue,)
        ).fetchone()
        return None if row is None else digest_from_json(json.loads(row[0]))

    def freeze_digest(self, digest: Digest, now: datetime) -> Digest:
        """Store ``digest`` unless its issue is already frozen; return the frozen one."""
        with self._conn.transaction():
            self._conn.execute(
                "INSERT INTO digest_issues(issue, payload, created) VALUES (%s,%s,%s)"
                " ON CONFLICT DO NOTHING",
                (digest.issue, json.dumps(digest_json(digest), ensure_ascii=False), ts(now)),
            )
            frozen = self.frozen_digest(digest.issue)
        assert frozen is not None
        return frozen

    def deliveries(self, issue: str) -> dict[str, Delivery]:
        """Ledger rows of ``issue`` keyed by lower-cased recipient."""
        rows = self._conn.execute(
            "SELECT recipient, status, message_id, attempts, last_error, updated FROM deliveries"
            " WHERE issue=%s ORDER BY recipient",
            (issue,),
        )
        return {r[0].lower(): Delivery(issue, r[0], r[1], r[2], r[3], r[4], dt(r[5])) for r in rows}

    def delivery_flags(self, issue: str) -> dict[str, tuple[bool, bool]]:
        """recipient (lower-cased) -> (failed permanently, outcome unknown: DATA was ending)."""
        rows = self._conn.execute(
            "SELECT recipient, permanent, committing IS NOT NULL AND status='pending'"
            " FROM deliveries WHERE issue=%s ORDER BY recipient",
            (issue,),
        )
        return {r[0].lower(): (bool(r[1]), bool(r[2])) for r in rows}

    def begin_delivery(self, issue: str, recipient: str, message_id: str, now: datetime) -> None:
        """Record the attempt as pending before any SMTP command is sent."""
        self._conn.execute(
            "INSERT INTO deliveries(issue, recipient, status, message_id, attempts, updated)"
            " VALUES (%s,%s,'pending',%s,1,%s) ON CONFLICT(issue, recipient) DO UPDATE SET"
            " status='pending', message_id=excluded.message_id,"
            " attempts=deliveries.attempts+1, committing=NULL, updated=excluded.updated",
            (issue, recipient, message_id, ts(now)),
        )

    def delivery_committing(self, issue: str, recipient: str, now: datetime) -> None:
        """The end of DATA is about to be written: from here a crash leaves the outcome unknown."""
        self._conn.execute(
            "UPDATE deliveries SET committing=%s WHERE issue=%s AND recipient=%s",
            (ts(now), issue, recipient),
        )

    def finish_delivery(
        self,
        issue: str,
        recipient: str,
        status: str,
        now: datetime,
        *,
        message_id: str = "",
        error: str | None = None,
        permanent: bool = False,
    ) -> None:
        """Record the outcome (sent, failed or skipped); creates the row when there is none."""
        if status not in DELIVERY_STATES:
            raise ValueError(f"unknown delivery status {status!r}")
        self._conn.execute(
            "INSERT INTO deliveries(issue, recipient, status, message_id, last_error,"
            " permanent, updated) VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT(issue, recipient)"
            " DO UPDATE SET status=excluded.status, last_error=excluded.last_error,"
            " permanent=excluded.permanent, committing=NULL, updated=excluded.updated",
            (issue, recipient, status, message_id, error, bool(permanent), ts(now)),
        )
