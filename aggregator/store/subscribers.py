"""The newsletter's subscribers: ``subscribers``, ``subscriber_events``, ``forgotten``, and their
bounces (``bounce_counts``, ``bounce_reports``).

Every change of status is one transaction that writes the new status, its origin and time on the
subscriber and one event row, so ``subscribers list`` can say when and why anyone stopped. The
one-click unsubscribe of the digest (``unsubscribe``/``unsubscribed``) lands here too.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from ..models import Subscriber, SubscriberEvent
from .backend import Backend
from .codecs import SEEDABLE as _SEEDABLE
from .codecs import SUBSCRIBER_COLS as _COLUMNS
from .codecs import check_subscriber as _check
from .codecs import forget_hash, ts
from .codecs import subscriber_row as _row
from .codecs import when as _when


class Subscribers:
    """Subscribers, their history, and the hashes of those forgotten on request. Each backend
    says how a forgotten person's ledger rows take the hash (``_rename_deliveries``)."""

    def __init__(self, conn: Backend):
        self._conn = conn
        self._db = conn.db
        self._instr = conn.dialect.instr

    # ---- reading --------------------------------------------------------------------------

    def subscriber(self, address: str) -> Subscriber | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE key=?", (address.strip().lower(),)
        ).fetchone()
        return None if row is None else _row(row)

    def subscriber_by_uid(self, uid: str) -> Subscriber | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE uid=?", (uid,)).fetchone()
        return None if row is None else _row(row)

    def subscribers(self, status: str | None = None) -> list[Subscriber]:
        """All subscribers (or those of one status), oldest first."""
        if status is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM subscribers ORDER BY id")
        else:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM subscribers WHERE status=? ORDER BY id", (status,)
            )
        return [_row(r) for r in rows]

    def subscriber_events(self, subscriber_id: int) -> list[SubscriberEvent]:
        rows = self._db.execute(
            "SELECT at, status, origin, detail FROM subscriber_events WHERE subscriber_id=?"
            " ORDER BY id",
            (subscriber_id,),
        )
        return [SubscriberEvent(_when(r[0]), r[1], r[2], r[3]) for r in rows]

    def is_forgotten(self, address: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM forgotten WHERE hash=?", (forget_hash(address),)
        ).fetchone()
        return row is not None

    # ---- changing -------------------------------------------------------------------------

    def set_status(
        self,
        address: str,
        status: str,
        origin: str,
        now: datetime,
        *,
        name: str | None = None,
        reason: str | None = None,
        topics: Sequence[str] | None = None,
        languages: Sequence[str] | None = None,
        only_from: Iterable[str] | None = None,
    ) -> Subscriber | None:
        """Create the subscriber or change their status (and, when given, name and choices),
        with an event when the status changes. ``only_from``: change an existing subscriber only
        when their status is one of these (None: any). Returns the subscriber, or None when
        ``only_from`` refused the change."""
        _check(status, origin)
        key = address.strip().lower()
        with self._conn.transaction():
            current = self.subscriber(key)
            if current is None:
                self._db.execute(
                    "INSERT INTO subscribers(uid, email, key, name, status, origin, reason,"
                    " topics, languages, created, changed) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (secrets.token_hex(12), address.strip(), key, name or "", status, origin,
                     reason, json.dumps(list(topics or [])), json.dumps(list(languages or [])),
                     ts(now), ts(now)),
                )  # fmt: skip
                self._db.execute("DELETE FROM forgotten WHERE hash=?", (forget_hash(key),))
            else:
                if only_from is not None and current.status not in set(only_from):
                    return None
                if name:
                    self._db.execute("UPDATE subscribers SET name=? WHERE key=?", (name, key))
                if topics is not None or languages is not None:
                    self._choices(key, topics, languages)
                if current.status == status:
                    return self.subscriber(key)
                self._db.execute(
                    "UPDATE subscribers SET status=?, origin=?, reason=?, changed=? WHERE key=?",
                    (status, origin, reason, ts(now), key),
                )
            after = self.subscriber(key)
            assert after is not None
            self._db.execute(
                "INSERT INTO subscriber_events(subscriber_id, at, status, origin, detail)"
                " VALUES (?,?,?,?,?)",
                (after.id, ts(now), status, origin, reason),
            )
        return after

    def set_choices(
        self, address: str, topics: Sequence[str] | None, languages: Sequence[str] | None
    ) -> Subscriber | None:
        key = address.strip().lower()
        with self._conn.transaction():
            self._choices(key, topics, languages)
            return self.subscriber(key)

    def _choices(
        self, key: str, topics: Sequence[str] | None, languages: Sequence[str] | None
    ) -> None:
        if topics is not None:
            self._db.execute(
                "UPDATE subscribers SET topics=? WHERE key=?", (json.dumps(list(topics)), key)
            )
        if languages is not None:
            self._db.execute(
                "UPDATE subscribers SET languages=? WHERE key=?",
                (json.dumps(list(languages)), key),
            )

    def claim_confirmation(self, address: str, now: datetime, every: float) -> bool:
        """Reserve the right to send ``address`` a confirmation message now: True at most once
        per ``every`` seconds, however many requests race for it (one UPDATE decides)."""
        with self._conn.transaction():
            cur = self._db.execute(
                "UPDATE subscribers SET confirm_sent=? WHERE key=?"
                " AND (confirm_sent IS NULL OR confirm_sent <= ?)",
                (now.timestamp(), address.strip().lower(), now.timestamp() - every),
            )
        return cur.rowcount > 0

    def seed_subscribers(
        self, mailboxes: Iterable[tuple[str, str]], now: datetime, origin: str = "config"
    ) -> int:
        """Make the ``(address, name)`` of config.yaml confirmed subscribers (origin config):
        new ones are added, pending ones confirmed, and those that config.yaml itself had
        stopped come back; an unsubscribe, a bounce, a pause or a request to be forgotten is
        never undone. Confirmed subscribers whose last change came from config.yaml and who are
        no longer listed there stop (reason: no longer in config.yaml). Returns the changes."""
        wanted = {addr.strip().lower(): (addr.strip(), name) for addr, name in mailboxes}
        changed = 0
        with self._conn.transaction():
            existing = {s.key: s for s in self.subscribers()}
            for key, (addr, name) in wanted.items():
                current = existing.get(key)
                if current is None:
                    if self.is_forgotten(key):
                        continue
                    self.set_status(addr, "confirmed", origin, now, name=name)
                    changed += 1
                elif current.status in _SEEDABLE or (
                    current.status == "unsubscribed" and current.origin == origin
                ):
                    self.set_status(addr, "confirmed", origin, now, name=name or None)
                    changed += 1
            for key, s in existing.items():
                if s.status == "confirmed" and s.origin == origin and key not in wanted:
                    self.set_status(s.email, "unsubscribed", origin, now,
                                    reason="no longer in config.yaml")  # fmt: skip
                    changed += 1
        return changed

    def forget(self, address: str, now: datetime) -> bool:
        """Delete what is known of ``address`` (subscriber, history) and keep only a hash of it,
        so no list adds it back; the digest ledger's rows lose the address for the same hash.
        False when nothing was known."""
        key = address.strip().lower()
        digest = forget_hash(key)
        named = f"<{key}>"  # a row of an older run, recorded as "Name <address>"
        with self._conn.transaction():
            found = self._db.execute("DELETE FROM subscribers WHERE key=?", (key,)).rowcount
            self._db.execute(
                "INSERT INTO forgotten(hash, at) VALUES (?,?) ON CONFLICT DO NOTHING",
                (digest, ts(now)),
            )
            rows = self._rename_deliveries(f"forgotten:{digest[:32]}", key, named)
            self._db.execute(
                "DELETE FROM deliveries WHERE lower(recipient)=?"
                f" OR {self._instr}(lower(recipient), ?) > 0",
                (key, named),
            )
        return bool(found or rows)

    def _rename_deliveries(self, gone: str, key: str, named: str) -> int:
        """Give ``gone`` as recipient to one ledger row per issue of the person whose address
        is ``key`` (or holds ``named``), unless the issue has a ``gone`` row already; returns
        the rows renamed. The others are deleted after."""
        raise NotImplementedError

    # ---- bounces --------------------------------------------------------------------------

    def bounce_count(self, address: str) -> int:
        """Permanent refusals of ``address`` since its last successful delivery."""
        row = self._db.execute(
            "SELECT b.count FROM bounce_counts b JOIN subscribers s ON s.id = b.subscriber_id"
            " WHERE s.key=?",
            (address.strip().lower(),),
        ).fetchone()
        return int(row[0]) if row else 0

    def count_bounce(self, address: str, now: datetime, reason: str) -> int | None:
        """One more permanent refusal of ``address``, with an event (its status unchanged,
        origin bounce, the reason as detail). Returns the count since the last delivery, or
        None when ``address`` is no subscriber (nothing is recorded)."""
        with self._conn.transaction():
            current = self.subscriber(address)
            if current is None:
                return None
            count = self._db.execute(
                "INSERT INTO bounce_counts(subscriber_id, count, first, last, reason)"
                " VALUES (?,1,?,?,?) ON CONFLICT(subscriber_id) DO UPDATE SET"
                " count = bounce_counts.count + 1, last = excluded.last,"
                " reason = excluded.reason RETURNING count",
                (current.id, ts(now), ts(now), reason),
            ).fetchone()[0]
            self._db.execute(
                "INSERT INTO subscriber_events(subscriber_id, at, status, origin, detail)"
                " VALUES (?,?,?,?,?)",
                (current.id, ts(now), current.status, "bounce", f"refused ({count}): {reason}"),
            )
        return int(count)

    def reset_bounces(self, address: str) -> bool:
        """A delivery succeeded: the count of refusals starts again. A read first, so the
        common case (nothing counted) writes nothing. True when a count was cleared."""
        key = address.strip().lower()
        row = self._db.execute(
            "SELECT b.subscriber_id FROM bounce_counts b JOIN subscribers s"
            " ON s.id = b.subscriber_id WHERE s.key=?",
            (key,),
        ).fetchone()
        if row is None:
            return False
        with self._conn.transaction():
            self._db.execute("DELETE FROM bounce_counts WHERE subscriber_id=?", (row[0],))
        return True

    def claim_bounce_report(self, key: str, now: datetime) -> bool:
        """Remember that the delivery status notification ``key`` was applied: True the first
        time, False when it was already (then it must not be applied again)."""
        with self._conn.transaction():
            cur = self._db.execute(
                "INSERT INTO bounce_reports(key, at) VALUES (?,?) ON CONFLICT DO NOTHING",
                (key, ts(now)),
            )
        return cur.rowcount > 0

    # ---- the one-click unsubscribe (unsubscribe.UnsubscribeStore) ------------------------

    def unsubscribe(self, recipient: str, now: datetime, origin: str = "one-click") -> bool:
        """Record an unsubscribe; False when it was already recorded."""
        current = self.subscriber(recipient)
        if current is not None and current.status == "unsubscribed":
            return False
        self.set_status(recipient, "unsubscribed", origin, now, reason=f"{origin} unsubscribe")
        return True

    def unsubscribed(self) -> set[str]:
        """Lower-cased addresses that asked not to get the digest any more."""
        rows = self._db.execute("SELECT key FROM subscribers WHERE status='unsubscribed'")
        return {r[0] for r in rows}
