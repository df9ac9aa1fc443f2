"""The digest ledger on PostgreSQL: ``digest_issues``, ``digest_editions`` and ``deliveries``
(the states and their meaning are those of ``store.sqlite.ledger``).

Several senders may share one database, so a delivery is claimed before its message goes:
``begin_delivery`` writes the row pending with the sender's claim (``claimed_by``, the key of
an advisory lock held by a session of the sender's own, and ``lease_until``) in one statement,
and refuses a row already sent, or pending under another sender's claim that still counts: its
session alive (a sender killed with SIGKILL loses it with its socket, so a rerun takes over at
once) and its lease not run out (a sender hung past ``DELIVERY_LEASE``). Rows are locked by the
upsert, so of two senders that begin the same row together one wins and the other is refused.
The outcome (``finish_delivery``) clears the claim.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime

from ...models import DELIVERY_STATES, Delivery, Digest
from ..codecs import Sent, digest_from_json, digest_json, dt, ts
from .connection import Connection
from .locks import SessionLock

#: Seconds a delivery's claim lasts while its sender's session lives (far above one message's
#: SMTP timeouts: only a sender hung this long loses its claims to another).
DELIVERY_LEASE = 600.0

#: Does the claim of ``deliveries`` still count (see the module's docstring)? The advisory
#: lock's 64-bit key is in ``pg_locks`` as two 32-bit halves.
_CLAIM_LIVE = (
    "deliveries.status = 'pending' AND deliveries.claimed_by IS NOT NULL"
    " AND deliveries.claimed_by <> excluded.claimed_by"
    " AND deliveries.lease_until > excluded.updated"
    " AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.objsubid = 1 AND l.classid = ((deliveries.claimed_by >> 32) & 4294967295)::oid"
    " AND l.objid = (deliveries.claimed_by & 4294967295)::oid)"
)


class Ledger:
    """Frozen digests and per-recipient deliveries."""

    def __init__(self, conn: Connection):
        self._conn = conn
        self._claimer: SessionLock | None = None  # taken at the first claim, held until close
        self._claiming = threading.Lock()  # one session for all the connections' threads
        self.lease = DELIVERY_LEASE

    def _claim_key(self) -> int:
        """The key of this store's sender session: an advisory lock on a name of its own."""
        with self._claiming:
            if self._claimer is None:
                lock = SessionLock(self._conn.url, f"sender:{uuid.uuid4().hex}",
                                   password=self._conn.password)  # fmt: skip
                if not lock.try_acquire():  # a fresh random name: nobody else can hold it
                    raise RuntimeError(f"cannot take {lock.name}")
                self._claimer = lock
            return self._claimer.key

    def close(self) -> None:
        """End the sender session: claims left pending (none after a clean run) stop counting."""
        with self._claiming:
            lock, self._claimer = self._claimer, None
        if lock is not None:
            lock.release()

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

    def frozen_digests(self) -> list[Digest]:
        """Every frozen issue, newest week first (the issues published as web pages)."""
        rows = self._conn.execute("SELECT payload FROM digest_issues ORDER BY issue DESC")
        return [digest_from_json(json.loads(r[0])) for r in rows]

    def frozen_edition(self, issue: str, edition: str) -> Digest | None:
        row = self._conn.execute(
            "SELECT payload FROM digest_editions WHERE issue=%s AND edition=%s", (issue, edition)
        ).fetchone()
        return None if row is None else digest_from_json(json.loads(row[0]))

    def freeze_edition(self, edition: str, digest: Digest, now: datetime) -> Digest:
        """Store ``digest`` as edition ``edition`` of its issue unless that edition is already
        frozen; return the frozen one (a rerun, or another sender, sends what the first sent)."""
        with self._conn.transaction():
            self._conn.execute(
                "INSERT INTO digest_editions(issue, edition, payload, created)"
                " VALUES (%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (digest.issue, edition, json.dumps(digest_json(digest), ensure_ascii=False),
                 ts(now)),
            )  # fmt: skip
            frozen = self.frozen_edition(digest.issue, edition)
        assert frozen is not None
        return frozen

    def delivery_editions(self, issue: str) -> dict[str, str | None]:
        """recipient (lower-cased) -> the edition its delivery got (None: the whole issue)."""
        rows = self._conn.execute(
            "SELECT recipient, edition FROM deliveries WHERE issue=%s ORDER BY recipient",
            (issue,),
        )
        return {r[0].lower(): r[1] for r in rows}

    def sent_since(self, since: datetime) -> list[datetime]:
        """When each message recorded sent at or after ``since`` was sent, oldest first."""
        rows = self._conn.execute(
            "SELECT updated FROM deliveries WHERE status='sent' AND updated >= %s ORDER BY updated",
            (ts(since),),
        )
        return [w for (u,) in rows if (w := dt(u)) is not None]

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

    def begin_delivery(
        self, issue: str, recipient: str, message_id: str, now: datetime,
        edition: str | None = None, *, sent: Sent | None = None,
    ) -> bool:  # fmt: skip
        """Claim the delivery and record the attempt (of ``edition``) as pending before any
        SMTP command is sent; ``sent``, the connection's previous message, is recorded sent in
        the same transaction. False: the row is sent already or claimed by another live sender
        (nothing to send here; ``sent`` is recorded all the same)."""
        key = self._claim_key()
        with self._conn.transaction():
            if sent is not None:
                self.finish_delivery(issue, sent.recipient, "sent", sent.at,
                                     message_id=sent.message_id, edition=sent.edition)  # fmt: skip
            return self._begin(issue, recipient, message_id, now, edition, key)

    def _begin(
        self, issue: str, recipient: str, message_id: str, now: datetime, edition: str | None,
        key: int,
    ) -> bool:  # fmt: skip
        at = now.timestamp()
        row = self._conn.execute(
            "INSERT INTO deliveries(issue, recipient, status, message_id, attempts, updated,"
            " edition, claimed_by, lease_until) VALUES (%s,%s,'pending',%s,1,%s,%s,%s,%s)"
            " ON CONFLICT(issue, recipient) DO UPDATE SET status='pending',"
            " message_id=excluded.message_id, attempts=deliveries.attempts+1, committing=NULL,"
            " updated=excluded.updated, edition=coalesce(excluded.edition, deliveries.edition),"
            " claimed_by=excluded.claimed_by, lease_until=excluded.lease_until"
            f" WHERE deliveries.status <> 'sent' AND NOT ({_CLAIM_LIVE}) RETURNING 1",
            (issue, recipient, message_id, at, edition, key, at + self.lease),
        ).fetchone()
        return row is not None

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
        edition: str | None = None,
    ) -> None:
        """Record the outcome (sent, failed or skipped); creates the row when there is none."""
        if status not in DELIVERY_STATES:
            raise ValueError(f"unknown delivery status {status!r}")
        self._conn.execute(
            "INSERT INTO deliveries(issue, recipient, status, message_id, last_error,"
            " permanent, updated, edition) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
            " ON CONFLICT(issue, recipient) DO UPDATE SET status=excluded.status,"
            " last_error=excluded.last_error, permanent=excluded.permanent, committing=NULL,"
            " updated=excluded.updated, edition=coalesce(excluded.edition, deliveries.edition),"
            " claimed_by=NULL, lease_until=NULL",
            (issue, recipient, status, message_id, error, bool(permanent), ts(now), edition),
        )
