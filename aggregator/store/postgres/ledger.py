"""The digest ledger on PostgreSQL: a sender's claims on deliveries.

The family itself (``store.ledger.Ledger``) is the same on both backends. Several senders may
share one database, so a delivery is claimed before its message goes: ``begin_delivery`` writes
the row pending with the sender's claim (``claimed_by``, the key of an advisory lock held by a
session of the sender's own, and ``lease_until``) in one statement, and refuses a row already
sent, or pending under another sender's claim that still counts: its session alive (a sender
killed with SIGKILL loses it with its socket, so a rerun takes over at once) and its lease not
run out (a sender hung past ``DELIVERY_LEASE``). Rows are locked by the upsert, so of two
senders that begin the same row together one wins and the other is refused. The outcome
(``finish_delivery``) clears the claim.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

from .. import ledger
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


class Ledger(ledger.Ledger):
    """Frozen digests and per-recipient deliveries, claimed by the sender that sends them."""

    _finished_also = ", claimed_by=NULL, lease_until=NULL"  # an outcome ends the claim

    def __init__(self, conn: Connection):
        super().__init__(conn)
        self._pg = conn
        self._claimer: SessionLock | None = None  # taken at the first claim, held until close
        self._claiming = threading.Lock()  # one session for all the connections' threads
        self.lease = DELIVERY_LEASE

    def _sender(self) -> int:
        """The key of this store's sender session: an advisory lock on a name of its own."""
        with self._claiming:
            if self._claimer is None:
                lock = SessionLock(self._pg.url, f"sender:{uuid.uuid4().hex}",
                                   password=self._pg.password)  # fmt: skip
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

    def _begin(
        self, issue: str, recipient: str, message_id: str, now: datetime, edition: str | None,
        sender: int | None,
    ) -> bool:  # fmt: skip
        at = now.timestamp()
        row = self._pg.execute(
            "INSERT INTO deliveries(issue, recipient, status, message_id, attempts, updated,"
            " edition, claimed_by, lease_until) VALUES (%s,%s,'pending',%s,1,%s,%s,%s,%s)"
            " ON CONFLICT(issue, recipient) DO UPDATE SET status='pending',"
            " message_id=excluded.message_id, attempts=deliveries.attempts+1, committing=NULL,"
            " updated=excluded.updated, edition=coalesce(excluded.edition, deliveries.edition),"
            " claimed_by=excluded.claimed_by, lease_until=excluded.lease_until"
            f" WHERE deliveries.status <> 'sent' AND NOT ({_CLAIM_LIVE}) RETURNING 1",
            (issue, recipient, message_id, at, edition, sender, at + self.lease),
        ).fetchone()
        return row is not None
