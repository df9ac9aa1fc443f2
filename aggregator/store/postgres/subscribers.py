"""The newsletter's subscribers on PostgreSQL: ``subscribers``, ``subscriber_events``,
``forgotten`` and the bounces (``bounce_counts``, ``bounce_reports``); the rules are those of
``store.sqlite.subscribers``."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from ...models import Subscriber, SubscriberEvent
from ..codecs import SEEDABLE as _SEEDABLE
from ..codecs import SUBSCRIBER_COLS as _COLUMNS
from ..codecs import check_subscriber as _check
from ..codecs import forget_hash, ts
from ..codecs import subscriber_row as _row
from ..codecs import when as _when
from .connection import Connection


class Subscribers:
    """Subscribers, their history, and the hashes of those forgotten on request."""

    def __init__(self, conn: Connection):
        self._conn = conn

    # ---- reading --------------------------------------------------------------------------

    def subscriber(self, address: str) -> Subscriber | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE key=%s", (address.strip().lower(),)
        ).fetchone()
        return None if row is None else _row(row)

    def subscriber_by_uid(self, uid: str) -> Subscriber | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE uid=%s", (uid,)
        ).fetchone()
        return None if row is None else _row(row)

    def subscribers(self, status: str | None = None) -> list[Subscriber]:
        """All subscribers (or those of one status), oldest first."""
        if status is None:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM subscribers ORDER BY id")
        else:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM subscribers WHERE status=%s ORDER BY id", (status,)
            )
        return [_row(r) for r in rows]

    def subscriber_events(self, subscriber_id: int) -> list[SubscriberEvent]:
        rows = self._conn.execute(
            "SELECT at, status, origin, detail FROM subscriber_events WHERE subscriber_id=%s"
            " ORDER BY id",
            (subscriber_id,),
        )
        return [SubscriberEvent(_when(r[0]), r[1], r[2], r[3]) for r in rows]

    def is_forgotten(self, address: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM forgotten WHERE hash=%s", (forget_hash(address),)
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
        """Create the subscriber or change their status (see ``store.sqlite.Subscribers``)."""
        _check(status, origin)
        key = address.strip().lower()
        db = self._conn
        with db.transaction():
            current = self.subscriber(key)
            if current is None:
                db.execute(
                    "INSERT INTO subscribers(uid, email, key, name, status, origin, reason,"
                    " topics, languages, created, changed)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    (secrets.token_hex(12), address.strip(), key, name or "", status, origin,
                     reason, json.dumps(list(topics or [])), json.dumps(list(languages or [])),
                     ts(now), ts(now)),
                )  # fmt: skip
                db.execute("DELETE FROM forgotten WHERE hash=%s", (forget_hash(key),))
            else:
                if only_from is not None and current.status not in set(only_from):
                    return None
                if name:
                    db.execute("UPDATE subscribers SET name=%s WHERE key=%s", (name, key))
                if topics is not None or languages is not None:
                    self._choices(key, topics, languages)
                if current.status == status:
                    return self.subscriber(key)
                db.execute(
                    "UPDATE subscribers SET status=%s, origin=%s, reason=%s, changed=%s"
                    " WHERE key=%s",
                    (status, origin, reason, ts(now), key),
                )
            after = self.subscriber(key)
            assert after is not None
            db.execute(
                "INSERT INTO subscriber_events(subscriber_id, at, status, origin, detail)"
                " VALUES (%s,%s,%s,%s,%s)",
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
            self._conn.execute(
                "UPDATE subscribers SET topics=%s WHERE key=%s", (json.dumps(list(topics)), key)
            )
        if languages is not None:
            self._conn.execute(
                "UPDATE subscribers SET languages=%s WHERE key=%s",
                (json.dumps(list(languages)), key),
            )

    def claim_confirmation(self, address: str, now: datetime, every: float) -> bool:
        """Reserve the right to send ``address`` a confirmation message now: True at most once
        per ``every`` seconds, however many requests (or processes) race for it."""
        cur = self._conn.execute(
            "UPDATE subscribers SET confirm_sent=%s WHERE key=%s"
            " AND (confirm_sent IS NULL OR confirm_sent <= %s)",
            (now.timestamp(), address.strip().lower(), now.timestamp() - every),
        )
        return cur.rowcount > 0

    def seed_subscribers(
        self, mailboxes: Iterable[tuple[str, str]], now: datetime, origin: str = "config"
    ) -> int:
        """Make the ``(address, name)`` of config.yaml confirmed subscribers (origin config)."""
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
        """Delete what is known of ``address`` and keep only a hash of it; the ledger's rows
        lose the address for the same hash. False when nothing was known."""
        key = address.strip().lower()
        digest = forget_hash(key)
        named = f"<{key}>"
        mine = "(lower(recipient)=%s OR strpos(lower(recipient), %s) > 0)"
        db = self._conn
        with db.transaction():
            found = db.execute("DELETE FROM subscribers WHERE key=%s", (key,)).rowcount
            db.execute(
                "INSERT INTO forgotten(hash, at) VALUES (%s,%s) ON CONFLICT DO NOTHING",
                (digest, ts(now)),
            )
            # SQLite's UPDATE OR IGNORE: one row per issue takes the hash (unless the issue
            # has it already); the others are deleted below.
            gone = f"forgotten:{digest[:32]}"
            rows = db.execute(
                "UPDATE deliveries SET recipient=%s WHERE ctid IN (SELECT DISTINCT ON (issue) ctid"
                f" FROM deliveries d WHERE {mine} AND NOT EXISTS (SELECT 1 FROM deliveries o"
                " WHERE o.issue=d.issue AND o.recipient=%s) ORDER BY issue, recipient)",
                (gone, key, named, gone),
            ).rowcount
            db.execute(f"DELETE FROM deliveries WHERE {mine}", (key, named))
        return bool(found or rows)

    # ---- bounces --------------------------------------------------------------------------

    def bounce_count(self, address: str) -> int:
        """Permanent refusals of ``address`` since its last successful delivery."""
        row = self._conn.execute(
            "SELECT b.count FROM bounce_counts b JOIN subscribers s ON s.id = b.subscriber_id"
            " WHERE s.key=%s",
            (address.strip().lower(),),
        ).fetchone()
        return int(row[0]) if row else 0

    def count_bounce(self, address: str, now: datetime, reason: str) -> int | None:
        """One more permanent refusal of ``address``, with an event; the count since the last
        delivery, or None when ``address`` is no subscriber (see ``store.sqlite``)."""
        db = self._conn
        with db.transaction():
            current = self.subscriber(address)
            if current is None:
                return None
            row = db.execute(
                "INSERT INTO bounce_counts(subscriber_id, count, first, last, reason)"
                " VALUES (%s,1,%s,%s,%s) ON CONFLICT(subscriber_id) DO UPDATE SET"
                " count = bounce_counts.count + 1, last = excluded.last,"
                " reason = excluded.reason RETURNING count",
                (current.id, ts(now), ts(now), reason),
            ).fetchone()
            assert row is not None
            count = int(row[0])
            db.execute(
                "INSERT INTO subscriber_events(subscriber_id, at, status, origin, detail)"
                " VALUES (%s,%s,%s,%s,%s)",
                (current.id, ts(now), current.status, "bounce", f"refused ({count}): {reason}"),
            )
        return count

    def reset_bounces(self, address: str) -> bool:
        """A delivery succeeded: the count of refusals starts again (a read first, so the
        common case writes nothing). True when a count was cleared."""
        row = self._conn.execute(
            "SELECT b.subscriber_id FROM bounce_counts b JOIN subscribers s"
            " ON s.id = b.subscriber_id WHERE s.key=%s",
            (address.strip().lower(),),
        ).fetchone()
        if row is None:
            return False
        self._conn.execute("DELETE FROM bounce_counts WHERE subscriber_id=%s", (row[0],))
        return True

    def claim_bounce_report(self, key: str, now: datetime) -> bool:
        """Remember that the delivery status notification ``key`` was applied: True the first
        time, False when it was already (by this process or another)."""
        cur = self._conn.execute(
            "INSERT INTO bounce_reports(key, at) VALUES (%s,%s) ON CONFLICT DO NOTHING",
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
        rows = self._conn.execute("SELECT key FROM subscribers WHERE status='unsubscribed'")
        return {r[0] for r in rows}
