"""The ``sources`` family on PostgreSQL: the claims of a fleet of workers.

The family itself (``store.sources.Sources``) is the same on both backends; this subclass adds
what only a shared database has. Several ``aggregator run`` processes share one database, so a
worker fetches only the due sources it claimed (``claim_sources``: ``claimed_by`` and a lease),
renews the lease while it works (``renew_claims``) and clears it when it saves the state.
Politeness holds across workers because a host is worked by one worker at a time: a source is
claimable only when no other worker holds a live lease on a source of the same host, so the one
worker on a host applies ``fetch.per_host`` with its own fetcher, as a single process does. A
dead worker's leases run out and its sources (and hosts) go to the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .. import sources
from ..codecs import ts
from .connection import Connection

#: The host (and port) of a source's fetch URL, as SQL: what a lease covers.
_HOST = "lower(substring(fetch_url from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#]*)'))"


class Sources(sources.Sources):
    """Sources, their fetch state, and a fleet's claims on them."""

    _saved_also = ", claimed_by=NULL, lease_until=NULL"  # saved: the claim is over

    def __init__(self, conn: Connection):
        super().__init__(conn)
        self._pg = conn

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
        with self._pg.transaction():  # the writers' lock: claims are taken one at a time
            rows = self._pg.execute(
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
        with self._pg.pool.connection() as conn:
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
        row = self._pg.execute(
            "SELECT claimed_by FROM sources WHERE name=%s FOR UPDATE", (name,)
        ).fetchone()
        return row is not None and row[0] == worker

    def release_claims(self, worker: str) -> int:
        """Drop what ``worker`` still claims (a refresh stopped early); the count released."""
        return self._pg.execute(
            "UPDATE sources SET claimed_by=NULL, lease_until=NULL WHERE claimed_by=%s", (worker,)
        ).rowcount

    def claims(self) -> dict[str, tuple[str, float]]:
        """``{source: (worker, lease until)}`` of the sources claimed now (for status, tests)."""
        rows = self._pg.execute(
            "SELECT name, claimed_by, lease_until FROM sources WHERE claimed_by IS NOT NULL"
            " ORDER BY name"
        )
        return {name: (who, float(until)) for name, who, until in rows}
