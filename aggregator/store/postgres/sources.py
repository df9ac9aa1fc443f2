"""The ``sources`` table on PostgreSQL: the configured feeds, their fetch state, and the claims
of a fleet of workers.

The statements of ``store.sqlite.sources`` in PostgreSQL's words (``ON CONFLICT DO NOTHING``
for ``INSERT OR IGNORE``, booleans for flags); the rules are the same, documented there.

Claims (PostgreSQL only): several ``aggregator run`` processes share one database, so a worker
fetches only the due sources it claimed (``claim_sources``: ``claimed_by`` and a lease), renews
the lease while it works (``renew_claims``) and clears it when it saves the state. Politeness
holds across workers because a host is worked by one worker at a time: a source is claimable
only when no other worker holds a live lease on a source of the same host, so the one worker
on a host applies ``fetch.per_host`` with its own fetcher, as a single process does. A dead
worker's leases run out and its sources (and hosts) go to the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from ...errors import StorageError
from ...models import SourceState
from ..codecs import dt, ts
from .connection import Connection

#: Fetch attempts kept per source (older ones are pruned as new ones are recorded).
KEPT_ATTEMPTS = 30

_SOURCE_COLS = (
    "name, url, fetch_url, state, etag, last_modified, http_status, error_count, last_error,"
    " last_fetch, next_attempt, moved_to, moved_count, gone, body_hash, warning, last_success"
)
_FRESH = (
    "state='new', gone=false, error_count=0, moved_to=NULL, moved_count=0, etag=NULL,"
    " last_modified=NULL, next_attempt=NULL, body_hash=NULL, last_error=NULL"
)
#: The host (and port) of a source's fetch URL, as SQL: what a lease covers.
_HOST = "lower(substring(fetch_url from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#]*)'))"
#: A source (tuple) as ``sync_sources`` takes it: (name, url) or (name, url, settings key).
SyncedSource = tuple[str, str] | tuple[str, str, str]


class Sources:
    """Sources and their fetch state."""

    def __init__(self, conn: Connection):
        self._conn = conn

    def sync_sources(
        self,
        sources: Iterable[SyncedSource],
        *,
        fetch_key: str | None = None,
        complete: bool = False,
    ) -> list[str]:
        """Make the sources table follow config.yaml (see ``store.sqlite.Sources``)."""
        listed = [(s[0], s[1], s[2] if len(s) > 2 else None) for s in sources]
        changed: list[str] = []
        db = self._conn
        with db.transaction():
            if complete:
                self._renames(listed)
            for name, url, key in listed:
                row = db.execute(
                    "SELECT url, settings_key, fetch_key FROM sources WHERE name=%s", (name,)
                ).fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO sources(name, url, fetch_url, settings_key, fetch_key)"
                        " VALUES (%s,%s,%s,%s,%s)",
                        (name, url, url, key, fetch_key),
                    )
                    continue
                if row[0] != url:
                    db.execute(
                        f"UPDATE sources SET url=%s, fetch_url=%s, {_FRESH} WHERE name=%s",
                        (url, url, name),
                    )
                elif key is not None and row[1] is not None and row[1] != key:
                    db.execute(f"UPDATE sources SET fetch_url=url, {_FRESH} WHERE name=%s", (name,))
                    changed.append(name)
                elif fetch_key is not None and row[2] is not None and row[2] != fetch_key:
                    db.execute(
                        "UPDATE sources SET next_attempt=NULL, error_count=0"
                        " WHERE name=%s AND state IN ('error', 'backing-off')",
                        (name,),
                    )
                if key is not None and row[1] != key:
                    db.execute("UPDATE sources SET settings_key=%s WHERE name=%s", (key, name))
                if fetch_key is not None and row[2] != fetch_key:
                    db.execute("UPDATE sources SET fetch_key=%s WHERE name=%s", (fetch_key, name))
        return changed

    def _renames(self, listed: list[tuple[str, str, str | None]]) -> None:
        names = {name for name, _, _ in listed}
        rows = self._conn.execute("SELECT name, url FROM sources ORDER BY id").fetchall()
        known = {name for name, _ in rows}
        orphans = {url: name for name, url in rows if name not in names}
        for name, url, _ in listed:
            old = orphans.pop(url, None)
            if name not in known and old is not None:
                self._conn.execute("UPDATE sources SET name=%s WHERE name=%s", (name, old))

    def source_states(self, names: Iterable[str] | None = None) -> list[SourceState]:
        counts = {
            sid: (n, excluded or 0)
            for sid, n, excluded in self._conn.execute(
                "SELECT source_id, count(*), sum(excluded::int) FROM items GROUP BY source_id"
            )
        }
        rows = self._conn.execute(f"SELECT id, {_SOURCE_COLS} FROM sources ORDER BY id").fetchall()
        wanted = None if names is None else set(names)
        out = []
        for row in rows:
            if wanted is not None and row[1] not in wanted:
                continue
            out.append(_source_state(row[1:], *counts.get(row[0], (0, 0))))
        return out

    def source_state(self, name: str) -> SourceState:
        states = self.source_states([name])
        if not states:
            raise StorageError(f"unknown source {name!r}")
        return states[0]

    def save_source_state(self, state: SourceState) -> None:
        """Save a source's state after a fetch, and record the fetch as an attempt."""
        with self._conn.transaction():
            self._conn.execute(
                "UPDATE sources SET fetch_url=%s, state=%s, etag=%s, last_modified=%s,"
                " http_status=%s, error_count=%s, last_error=%s, last_fetch=%s, next_attempt=%s,"
                " moved_to=%s, moved_count=%s, gone=%s, body_hash=%s, warning=%s,"
                " last_success=%s, claimed_by=NULL, lease_until=NULL WHERE name=%s",
                (
                    state.fetch_url, state.state, state.etag, state.last_modified,
                    state.http_status, state.error_count, state.last_error,
                    ts(state.last_fetch), ts(state.next_attempt), state.moved_to,
                    state.moved_count, bool(state.gone), state.body_hash, state.warning,
                    ts(state.last_success), state.name,
                ),
            )  # fmt: skip
            if state.last_fetch is not None:
                self._record_attempt(state)

    def _record_attempt(self, state: SourceState) -> None:
        row = self._conn.execute("SELECT id FROM sources WHERE name=%s", (state.name,)).fetchone()
        if row is None:
            return
        sid = row[0]
        cur = self._conn.execute(
            "INSERT INTO fetch_attempts(source_id, at, ok, http_status) VALUES (%s,%s,%s,%s)"
            " ON CONFLICT DO NOTHING",
            (sid, ts(state.last_fetch), state.last_error is None, state.http_status),
        )
        if cur.rowcount:
            self._conn.execute(
                "DELETE FROM fetch_attempts WHERE source_id=%s AND at <= (SELECT at FROM"
                " fetch_attempts WHERE source_id=%s ORDER BY at DESC LIMIT 1 OFFSET %s)",
                (sid, sid, KEPT_ATTEMPTS),
            )

    def attempt_counts(self) -> dict[str, tuple[int, int]]:
        """``{source name: (attempts, successes)}`` over each source's recorded attempts."""
        rows = self._conn.execute(
            "SELECT s.name, count(*), sum(a.ok::int) FROM fetch_attempts a"
            " JOIN sources s ON s.id = a.source_id GROUP BY s.name"
        )
        return {name: (n, ok or 0) for name, n, ok in rows}

    def save_source_states(self, states: Sequence[SourceState]) -> None:
        """``save_source_state`` for many sources in one transaction."""
        with self._conn.transaction():
            for state in states:
                self.save_source_state(state)

    # ---- a fleet's claims (PostgreSQL only) ---------------------------------------------------

    def claim_sources(
        self,
        names: Sequence[str],
        worker: str,
        now: datetime,
        lease: float,
        *,
        limit: int = 100,
        force: bool = False,
    ) -> list[str]:
        """Claim for ``worker`` up to ``limit`` of ``names`` that are due at ``now`` (any not
        gone, with ``force``), unclaimed or whose lease ran out, on hosts no other worker holds
        a live lease on; their lease runs ``lease`` seconds. One statement under the writers'
        lock (so two workers' host checks never overlap), rows locked by any other transaction
        skipped. Whole hosts first, in an order of this worker's own (a hash of host and
        worker), so workers starting together take different hosts. Returns the names
        claimed."""
        if not names:
            return []
        t = now.timestamp()
        with self._conn.transaction():  # the writers' lock: claims are taken one at a time
            rows = self._conn.execute(
                f"WITH busy AS (SELECT DISTINCT {_HOST} AS host FROM sources"
                "   WHERE claimed_by IS NOT NULL AND claimed_by <> %(me)s"
                "   AND lease_until > %(now)s),"
                " pick AS (SELECT id FROM sources"
                "   WHERE name = ANY(%(names)s) AND NOT gone"
                "   AND (%(force)s OR next_attempt IS NULL OR next_attempt <= %(now)s)"
                "   AND (claimed_by IS NULL OR claimed_by = %(me)s OR lease_until <= %(now)s)"
                f"  AND {_HOST} NOT IN (SELECT host FROM busy)"
                f"  ORDER BY md5({_HOST} || %(me)s), next_attempt NULLS FIRST, id"
                "   LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " UPDATE sources SET claimed_by = %(me)s, lease_until = %(until)s"
                " WHERE id IN (SELECT id FROM pick) RETURNING id, name",
                {"me": worker, "now": t, "names": list(names), "force": force,
                 "limit": limit, "until": t + lease},
            )  # fmt: skip
        return [name for _, name in sorted(rows)]

    def renew_claims(self, worker: str, until: datetime) -> int:
        """Move the leases of ``worker``'s claims to ``until``; the count renewed. Runs on its
        own pooled connection, outside the writers' lock (it gives no ids), from a thread beside
        the refresh: rows that the refresh's open transaction holds are skipped (it is saving
        them, which clears their claim) rather than waited for."""
        with self._conn.pool.connection() as conn:
            cur = conn.execute(
                "UPDATE sources SET lease_until = %s WHERE id IN (SELECT id FROM sources"
                " WHERE claimed_by = %s FOR UPDATE SKIP LOCKED)",
                (ts(until), worker),
            )
            return cur.rowcount

    def holds_claim(self, name: str, worker: str) -> bool:
        """Is ``name`` still claimed by ``worker``? Call inside the transaction that stores its
        items: the row stays locked until the commit, so no other worker can take it between
        this check and the save (a worker that lost its lease stores nothing)."""
        row = self._conn.execute(
            "SELECT claimed_by FROM sources WHERE name=%s FOR UPDATE", (name,)
        ).fetchone()
        return row is not None and row[0] == worker

    def release_claims(self, worker: str) -> int:
        """Drop what ``worker`` still claims (a refresh stopped early); the count released."""
        return self._conn.execute(
            "UPDATE sources SET claimed_by=NULL, lease_until=NULL WHERE claimed_by=%s", (worker,)
        ).rowcount

    def claims(self) -> dict[str, tuple[str, float]]:
        """``{source: (worker, lease until)}`` of the sources claimed now (for status, tests)."""
        rows = self._conn.execute(
            "SELECT name, claimed_by, lease_until FROM sources WHERE claimed_by IS NOT NULL"
            " ORDER BY name"
        )
        return {name: (who, float(until)) for name, who, until in rows}

    def source_id(self, name: str) -> int:
        row = self._conn.execute("SELECT id FROM sources WHERE name=%s", (name,)).fetchone()
        if row is None:
            raise StorageError(f"unknown source {name!r}")
        return int(row[0])

    def apply_exclusion(self, name: str, excluded: Callable[[str, str], bool]) -> tuple[int, int]:
        """Mark each stored item of source ``name`` excluded or not by ``excluded(title,
        summary)``; returns (now excluded, now included)."""
        sid = self.source_id(name)
        rows = self._conn.execute(
            "SELECT id, title, summary, excluded FROM items WHERE source_id=%s ORDER BY id", (sid,)
        ).fetchall()
        flips = [(want, iid) for iid, t, s, was in rows if (want := bool(excluded(t, s))) != was]
        self._conn.executemany("UPDATE items SET excluded=%s WHERE id=%s", flips)
        on = sum(1 for want, _ in flips if want)
        return on, len(flips) - on


def _source_state(row: Sequence, items: int, excluded: int = 0) -> SourceState:
    return SourceState(
        name=row[0], url=row[1], fetch_url=row[2], state=row[3], etag=row[4],
        last_modified=row[5], http_status=row[6], error_count=row[7], last_error=row[8],
        last_fetch=dt(row[9]), next_attempt=dt(row[10]), moved_to=row[11],
        moved_count=row[12], gone=bool(row[13]), body_hash=row[14], warning=row[15],
        last_success=dt(row[16]), items=items, excluded=int(excluded),
    )  # fmt: skip
