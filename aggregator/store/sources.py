"""The ``sources`` table: the configured feeds and their fetch state.

``config.yaml`` decides which sources exist (``sync_sources``); the pipeline reads and saves
each one's conditional-GET validators, error count, redirects and schedule. Each saved fetch
also lands in ``fetch_attempts`` (the last ``KEPT_ATTEMPTS`` per source), for the success rate
``status`` shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..errors import StorageError
from ..models import PAUSED_SUFFIX, SourceState
from .backend import Backend
from .codecs import dt, ts

#: Fetch attempts kept per source (older ones are pruned as new ones are recorded).
KEPT_ATTEMPTS = 30

_SOURCE_COLS = (
    "name, url, fetch_url, state, etag, last_modified, http_status, error_count, last_error,"
    " last_fetch, next_attempt, moved_to, moved_count, gone, body_hash, warning, last_success"
)
#: What a source that starts fresh loses: its back-off, its cache validators, the last body seen.
_FRESH = (
    "state='new', gone=false, error_count=0, moved_to=NULL, moved_count=0, etag=NULL,"
    " last_modified=NULL, next_attempt=NULL, body_hash=NULL, last_error=NULL"
)
#: A source (tuple) as ``sync_sources`` takes it: (name, url) or (name, url, settings key).
SyncedSource = tuple[str, str] | tuple[str, str, str]


class Sources:
    """Sources and their fetch state (a fleet's claims: ``store.postgres.Sources``)."""

    #: what saving a source's state also sets (PostgreSQL: the end of the worker's claim)
    _saved_also = ""

    def __init__(self, conn: Backend):
        self._conn = conn
        self._db = conn.db
        self._save = (
            "UPDATE sources SET fetch_url=?, state=?, etag=?, last_modified=?, http_status=?,"
            " error_count=?, last_error=?, last_fetch=?, next_attempt=?, moved_to=?,"
            f" moved_count=?, gone=?, body_hash=?, warning=?, last_success=?{self._saved_also}"
            " WHERE name=?"
        )

    def sync_sources(
        self,
        sources: Iterable[SyncedSource],
        *,
        fetch_key: str | None = None,
        complete: bool = False,
    ) -> list[str]:
        """Make the sources table follow config.yaml: add new ones; a changed configured URL or
        settings key (``Source.settings_key``) starts the source fresh (a config change revives
        a gone or moved source); pausing or resuming alone (the key's ``PAUSED_SUFFIX``) keeps
        the validators and ends the back-off. A changed ``fetch_key`` (the global fetch
        settings) ends the back-off of failing sources, keeping their validators. With
        ``complete`` (``sources`` is the whole configuration), a new name whose URL is that of a
        row no longer configured is a rename: the row, and its items, take the new name. Returns
        the names started fresh because their settings (not their URL) changed."""
        listed = [(s[0], s[1], s[2] if len(s) > 2 else None) for s in sources]
        changed: list[str] = []
        with self._conn.transaction():
            if complete:
                self._renames(listed)
            for name, url, key in listed:
                row = self._db.execute(
                    "SELECT url, settings_key, fetch_key FROM sources WHERE name=?", (name,)
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO sources(name, url, fetch_url, settings_key, fetch_key)"
                        " VALUES (?,?,?,?,?)",
                        (name, url, url, key, fetch_key),
                    )
                    continue
                if row[0] != url:
                    self._db.execute(
                        f"UPDATE sources SET url=?, fetch_url=?, {_FRESH} WHERE name=?",
                        (url, url, name),
                    )
                elif key is not None and row[1] is not None and _settings(row[1]) != _settings(key):
                    self._db.execute(
                        f"UPDATE sources SET fetch_url=url, {_FRESH} WHERE name=?", (name,)
                    )
                    changed.append(name)
                elif key is not None and row[1] is not None and row[1] != key:
                    # Paused or resumed, settings unchanged: validators kept, back-off ended,
                    # so a resumed source is due at the next refresh with a conditional GET.
                    self._db.execute(
                        "UPDATE sources SET next_attempt=NULL, error_count=0 WHERE name=?", (name,)
                    )
                elif fetch_key is not None and row[2] is not None and row[2] != fetch_key:
                    self._db.execute(
                        "UPDATE sources SET next_attempt=NULL, error_count=0"
                        " WHERE name=? AND state IN ('error', 'backing-off')",
                        (name,),
                    )
                if key is not None and row[1] != key:
                    self._db.execute("UPDATE sources SET settings_key=? WHERE name=?", (key, name))
                if fetch_key is not None and row[2] != fetch_key:
                    self._db.execute(
                        "UPDATE sources SET fetch_key=? WHERE name=?", (fetch_key, name)
                    )
        return changed

    def _renames(self, listed: list[tuple[str, str, str | None]]) -> None:
        names = {name for name, _, _ in listed}
        rows = self._db.execute("SELECT name, url FROM sources ORDER BY id").fetchall()
        known = {name for name, _ in rows}
        orphans = {url: name for name, url in rows if name not in names}
        for name, url, _ in listed:
            old = orphans.pop(url, None)
            if name not in known and old is not None:
                self._db.execute("UPDATE sources SET name=? WHERE name=?", (name, old))

    def source_states(self, names: Iterable[str] | None = None) -> list[SourceState]:
        counts = {
            sid: (n, excluded or 0)
            for sid, n, excluded in self._db.execute(
                "SELECT source_id, count(*), sum(CAST(excluded AS INTEGER)) FROM items"
                " GROUP BY source_id"
            )
        }
        rows = self._db.execute(f"SELECT id, {_SOURCE_COLS} FROM sources ORDER BY id").fetchall()
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
        """Save a source's state after a fetch, and record the fetch as an attempt (once per
        ``last_fetch`` time: saving the same state again adds nothing)."""
        with self._conn.transaction():
            self._db.execute(
                self._save,
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
        row = self._db.execute("SELECT id FROM sources WHERE name=?", (state.name,)).fetchone()
        if row is None:
            return
        sid = row[0]
        cur = self._db.execute(
            "INSERT INTO fetch_attempts(source_id, at, ok, http_status) VALUES (?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            (sid, ts(state.last_fetch), state.last_error is None, state.http_status),
        )
        if cur.rowcount:  # prune to the newest KEPT_ATTEMPTS (a no-op until there are more)
            self._db.execute(
                "DELETE FROM fetch_attempts WHERE source_id=? AND at <= (SELECT at FROM"
                " fetch_attempts WHERE source_id=? ORDER BY at DESC LIMIT 1 OFFSET ?)",
                (sid, sid, KEPT_ATTEMPTS),
            )

    def attempt_counts(self) -> dict[str, tuple[int, int]]:
        """``{source name: (attempts, successes)}`` over each source's recorded attempts (the
        last ``KEPT_ATTEMPTS``); a source never fetched since the history began is absent."""
        rows = self._db.execute(
            "SELECT s.name, count(*), sum(CAST(a.ok AS INTEGER)) FROM fetch_attempts a"
            " JOIN sources s ON s.id = a.source_id GROUP BY a.source_id, s.name"
        )
        return {name: (n, ok or 0) for name, n, ok in rows}

    def save_source_states(self, states: Sequence[SourceState]) -> None:
        """``save_source_state`` for many sources in one transaction (304s, errors: a state
        change that touches no item, so batching keeps every source consistent)."""
        with self._conn.transaction():
            for state in states:
                self.save_source_state(state)

    def source_id(self, name: str) -> int:
        row = self._db.execute("SELECT id FROM sources WHERE name=?", (name,)).fetchone()
        if row is None:
            raise StorageError(f"unknown source {name!r}")
        return int(row[0])

    def apply_exclusion(self, name: str, excluded: Callable[[str, str], bool]) -> tuple[int, int]:
        """Mark each stored item of source ``name`` excluded or not by ``excluded(title,
        summary)`` (its include/exclude changed); returns (now excluded, now included)."""
        sid = self.source_id(name)
        rows = self._db.execute(
            "SELECT id, title, summary, excluded FROM items WHERE source_id=? ORDER BY id", (sid,)
        ).fetchall()
        flips = [(want, iid) for iid, t, s, was in rows if (want := bool(excluded(t, s))) != was]
        with self._conn.transaction():
            self._db.executemany("UPDATE items SET excluded=? WHERE id=?", flips)
        on = sum(1 for want, _ in flips if want)
        return on, len(flips) - on


def _settings(key: str) -> str:
    """A settings key without its paused mark: what must change for a source to start fresh."""
    return key.removesuffix(PAUSED_SUFFIX)


def _source_state(row: Sequence, items: int, excluded: int = 0) -> SourceState:
    return SourceState(
        name=row[0], url=row[1], fetch_url=row[2], state=row[3], etag=row[4],
        last_modified=row[5], http_status=row[6], error_count=row[7], last_error=row[8],
        last_fetch=dt(row[9]), next_attempt=dt(row[10]), moved_to=row[11],
        moved_count=row[12], gone=bool(row[13]), body_hash=row[14], warning=row[15],
        last_success=dt(row[16]), items=items, excluded=int(excluded),
    )  # fmt: skip
