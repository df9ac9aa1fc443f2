"""The digest ledger: ``digest_issues``, ``digest_editions`` and ``deliveries`` (unsubscribes
are subscribers' statuses: ``subscribers.py``).

An issue is frozen (stored as JSON) the first time it is sent, so every recipient and every
retry gets the same content; so is each edition (the issue filtered for one choice of topics and
languages), and each delivery records the edition it got. A delivery row is written "pending"
before the SMTP transaction, stamped "committing" just before the message and the end of DATA
are written, and "sent" after the reply (with the connection's next "pending", one commit): a
pending row with a committing stamp is the only state whose outcome is unknown. With SQLite
there is one sender (its lock file); PostgreSQL's senders claim each delivery
(``store.postgres.Ledger``).
"""

from __future__ import annotations

import json
from datetime import datetime

from ..models import DELIVERY_STATES, Delivery, Digest
from .backend import Backend
from .codecs import Sent, digest_from_json, digest_json, dt, ts


class Ledger:
    """Frozen digests and per-recipient deliveries."""

    #: what recording an outcome also sets (PostgreSQL: the end of the sender's claim)
    _finished_also = ""

    def __init__(self, conn: Backend):
        self._conn = conn
        self._db = conn.db
        self._finish_sql = (
            "INSERT INTO deliveries(issue, recipient, status, message_id, last_error,"
            " permanent, updated, edition) VALUES (?,?,?,?,?,?,?,?)"
            " ON CONFLICT(issue, recipient) DO UPDATE SET status=excluded.status,"
            " last_error=excluded.last_error, permanent=excluded.permanent, committing=NULL,"
            " updated=excluded.updated, edition=coalesce(excluded.edition, deliveries.edition)"
            + self._finished_also
        )

    def frozen_digest(self, issue: str) -> Digest | None:
        row = self._db.execute(
            "SELECT payload FROM digest_issues WHERE issue=?", (issue,)
        ).fetchone()
        return None if row is None else digest_from_json(json.loads(row[0]))

    def frozen_digests(self) -> list[Digest]:
        """Every frozen issue, newest week first (the issues published as web pages)."""
        rows = self._db.execute("SELECT payload FROM digest_issues ORDER BY issue DESC")
        return [digest_from_json(json.loads(r[0])) for r in rows]

    def freeze_digest(self, digest: Digest, now: datetime) -> Digest:
        """Store ``digest`` unless its issue is already frozen; return the frozen one."""
        with self._conn.transaction():
            self._db.execute(
                "INSERT INTO digest_issues(issue, payload, created) VALUES (?,?,?)"
                " ON CONFLICT DO NOTHING",
                (digest.issue, json.dumps(digest_json(digest), ensure_ascii=False), ts(now)),
            )
            frozen = self.frozen_digest(digest.issue)
        assert frozen is not None
        return frozen

    def frozen_edition(self, issue: str, edition: str) -> Digest | None:
        row = self._db.execute(
            "SELECT payload FROM digest_editions WHERE issue=? AND edition=?", (issue, edition)
        ).fetchone()
        return None if row is None else digest_from_json(json.loads(row[0]))

    def freeze_edition(self, edition: str, digest: Digest, now: datetime) -> Digest:
        """Store ``digest`` as edition ``edition`` of its issue unless that edition is already
        frozen; return the frozen one (a rerun, or another sender, sends what the first sent)."""
        with self._conn.transaction():
            self._db.execute(
                "INSERT INTO digest_editions(issue, edition, payload, created)"
                " VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                (digest.issue, edition, json.dumps(digest_json(digest), ensure_ascii=False),
                 ts(now)),
            )  # fmt: skip
            frozen = self.frozen_edition(digest.issue, edition)
        assert frozen is not None
        return frozen

    def delivery_editions(self, issue: str) -> dict[str, str | None]:
        """recipient (lower-cased) -> the edition its delivery got (None: the whole issue,
        recorded before editions existed)."""
        rows = self._db.execute(
            "SELECT recipient, edition FROM deliveries WHERE issue=? ORDER BY recipient", (issue,)
        )
        return {r[0].lower(): r[1] for r in rows}

    def sent_since(self, since: datetime) -> list[datetime]:
        """When each message of any issue recorded sent at or after ``since`` was sent, oldest
        first: what an hourly rate limit must count from earlier runs."""
        rows = self._db.execute(
            "SELECT updated FROM deliveries WHERE status='sent' AND updated >= ? ORDER BY updated",
            (ts(since),),
        )
        return [w for (u,) in rows if (w := dt(u)) is not None]

    def deliveries(self, issue: str) -> dict[str, Delivery]:
        """Ledger rows of ``issue`` keyed by lower-cased recipient."""
        rows = self._db.execute(
            "SELECT recipient, status, message_id, attempts, last_error, updated FROM deliveries"
            " WHERE issue=? ORDER BY recipient",
            (issue,),
        )
        return {r[0].lower(): Delivery(issue, r[0], r[1], r[2], r[3], r[4], dt(r[5])) for r in rows}

    def delivery_flags(self, issue: str) -> dict[str, tuple[bool, bool]]:
        """recipient (lower-cased) -> (failed permanently, outcome unknown: DATA was ending)."""
        rows = self._db.execute(
            "SELECT recipient, permanent, committing IS NOT NULL AND status='pending'"
            " FROM deliveries WHERE issue=? ORDER BY recipient",
            (issue,),
        )
        return {r[0].lower(): (bool(r[1]), bool(r[2])) for r in rows}

    def begin_delivery(
        self, issue: str, recipient: str, message_id: str, now: datetime,
        edition: str | None = None, *, sent: Sent | None = None,
    ) -> bool:  # fmt: skip
        """Record the attempt (of ``edition``) as pending before any SMTP command is sent.
        ``sent``: the previous message of the same connection, accepted since, recorded sent in
        the same transaction (one commit for both; until it, that message reads "committing",
        outcome unknown, as it would had the run been killed right after the server's 250).
        False: another sender has the delivery (only PostgreSQL's senders claim; with SQLite
        there is one sender, and the answer is True)."""
        sender = self._sender()
        with self._conn.transaction():
            if sent is not None:
                self._finish(issue, sent.recipient, "sent", sent.at, sent.message_id, None,
                             False, sent.edition)  # fmt: skip
            return self._begin(issue, recipient, message_id, now, edition, sender)

    def _sender(self) -> int | None:
        """This store's sender, for its claims (SQLite: none, the lock file has the one)."""
        return None

    def _begin(
        self, issue: str, recipient: str, message_id: str, now: datetime, edition: str | None,
        sender: int | None,
    ) -> bool:  # fmt: skip
        self._db.execute(
            "INSERT INTO deliveries(issue, recipient, status, message_id, attempts, updated,"
            " edition) VALUES (?,?,'pending',?,1,?,?) ON CONFLICT(issue, recipient) DO UPDATE"
            " SET status='pending', message_id=excluded.message_id,"
            " attempts=deliveries.attempts+1, committing=NULL, updated=excluded.updated,"
            " edition=coalesce(excluded.edition, deliveries.edition)",
            (issue, recipient, message_id, ts(now), edition),
        )
        return True

    def delivery_committing(self, issue: str, recipient: str, now: datetime) -> None:
        """The end of DATA is about to be written: from here a crash leaves the outcome unknown."""
        with self._conn.transaction():
            self._db.execute(
                "UPDATE deliveries SET committing=? WHERE issue=? AND recipient=?",
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
        edition: str | None = None,
    ) -> None:
        """Record the outcome (sent, failed or skipped); creates the row when there is none."""
        if status not in DELIVERY_STATES:
            raise ValueError(f"unknown delivery status {status!r}")
        with self._conn.transaction():
            self._finish(issue, recipient, status, now, message_id, error, permanent, edition)

    def _finish(self, issue: str, recipient: str, status: str, now: datetime, message_id: str,
                error: str | None, permanent: bool, edition: str | None) -> None:  # fmt: skip
        self._db.execute(
            self._finish_sql,
            (issue, recipient, status, message_id, error, bool(permanent), ts(now), edition),
        )
