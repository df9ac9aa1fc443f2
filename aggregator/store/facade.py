"""``Store``: the one object the service layer holds, over one object per table family.

Each public method forwards to its family (``sources``, ``catalog``, ``dedupe``, ``ledger``,
``subscriptions``, ``meta``); a caller that needs one part depends on that family or on a
stage's Protocol (``dedupe.ClusterIndex``, ``unsubscribe.UnsubscribeStore``) instead.
The constructor chooses the backend from ``database``: a ``postgresql://`` URL opens
``store.postgres`` (its password from the variable a ``settings.DatabaseURL`` names), anything
else is a SQLite file (``store.sqlite``). Both backends' family objects have the same methods
(``tests/test_store_postgres.py`` checks their signatures).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StorageError
from ..models import (
    Delivery,
    Digest,
    Item,
    ParsedItem,
    SourceState,
    Story,
    Subscriber,
    SubscriberEvent,
    Tagging,
)
from . import postgres as pg
from . import sqlite as lite
from .codecs import Sent
from .sources import SyncedSource

if TYPE_CHECKING:
    from ..dedupe import ClusterIndex
    from ..unsubscribe import UnsubscribeStore


class Store:
    """The aggregator's store. Thread-safe for the pipeline's use: one connection, serialised
    by a lock. Callers get models back, never rows."""

    conn: lite.Connection | pg.Connection
    sources: lite.Sources | pg.Sources
    catalog: lite.Catalog | pg.Catalog
    dedupe: lite.DedupeIndex | pg.DedupeIndex
    ledger: lite.Ledger | pg.Ledger
    subscriptions: lite.Subscribers | pg.Subscribers
    meta: lite.Meta | pg.Meta

    def __init__(self, database: str | Path, *, timeout: float = 30.0, password: str | None = None):
        self.database = database
        if pg.is_url(database):
            url = str(database)
            env = getattr(database, "password_env", None)  # a settings.DatabaseURL
            if password is None and isinstance(env, str) and env:
                password = os.environ.get(env) or None
            conn = pg.Connection(url, password=password, timeout=timeout)
            self.conn, self.sources = conn, pg.Sources(conn)
            self.catalog = pg.Catalog(conn, self.sources)
            self.dedupe, self.ledger = pg.DedupeIndex(conn), pg.Ledger(conn)
            self.subscriptions, self.meta = pg.Subscribers(conn), pg.Meta(conn)
        else:
            lconn = lite.Connection(database, timeout=timeout)
            self.conn, self.sources = lconn, lite.Sources(lconn)
            self.catalog = lite.Catalog(lconn, self.sources)
            self.dedupe, self.ledger = lite.DedupeIndex(lconn), lite.Ledger(lconn)
            self.subscriptions, self.meta = lite.Subscribers(lconn), lite.Meta(lconn)

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return "postgresql" if isinstance(self.conn, pg.Connection) else "sqlite"

    @property
    def where(self) -> str:
        """The store for messages: the SQLite file, or the URL without its password."""
        return self.conn.display if isinstance(self.conn, pg.Connection) else str(self.conn.path)

    @property
    def path(self) -> Path | str:
        """What locks are named after: the SQLite file, or the PostgreSQL URL."""
        return self.conn.path if isinstance(self.conn, lite.Connection) else self.database

    @property
    def db(self) -> sqlite3.Connection:
        """The SQLite connection, for tests and benches that look at the tables themselves."""
        if not isinstance(self.conn, lite.Connection):
            raise StorageError(f"{self.where}: a PostgreSQL store has no sqlite3 connection")
        return self.conn.db

    # ---- lifecycle and transactions -------------------------------------------------------------

    def close(self) -> None:
        if isinstance(self.ledger, pg.Ledger):
            self.ledger.close()  # its sender session: claims left pending stop counting
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[None]:
        """One atomic unit of work (one source's update); nested uses join the outer one."""
        return self.conn.transaction()

    def bulk(self, commit_every: float = 0.5) -> AbstractContextManager[None]:
        """Many transactions in a row (a refresh), committed in groups of ``commit_every``
        seconds; a failed unit still rolls back alone."""
        return self.conn.bulk(commit_every)

    def commit_group(self) -> None:
        self.conn.commit_group()

    def integrity_check(self) -> str:
        return self.conn.integrity_check()

    # ---- sources --------------------------------------------------------------------------------

    def sync_sources(
        self,
        sources: Iterable[SyncedSource],
        *,
        fetch_key: str | None = None,
        complete: bool = False,
    ) -> list[str]:
        return self.sources.sync_sources(sources, fetch_key=fetch_key, complete=complete)

    def apply_exclusion(self, name: str, excluded: Callable[[str, str], bool]) -> tuple[int, int]:
        return self.sources.apply_exclusion(name, excluded)

    def source_states(self, names: Iterable[str] | None = None) -> list[SourceState]:
        return self.sources.source_states(names)

    def source_state(self, name: str) -> SourceState:
        return self.sources.source_state(name)

    def save_source_state(self, state: SourceState) -> None:
        self.sources.save_source_state(state)

    def save_source_states(self, states: Sequence[SourceState]) -> None:
        self.sources.save_source_states(states)

    def attempt_counts(self) -> dict[str, tuple[int, int]]:
        return self.sources.attempt_counts()

    # ---- a fleet of workers (PostgreSQL only; see store/postgres/sources.py) --------------------

    @property
    def fleet(self) -> bool:
        """Whether several processes may refresh this store at once (PostgreSQL): they claim
        sources instead of holding the one-instance lock."""
        return isinstance(self.sources, pg.Sources)

    def _fleet_sources(self) -> pg.Sources:
        if not isinstance(self.sources, pg.Sources):
            raise StorageError(f"{self.where}: claims are for a PostgreSQL store")
        return self.sources

    def claim_sources(
        self, names: Sequence[str], worker: str, now: datetime, lease: float, *,
        limit: int = 100, force: bool = False,
    ) -> list[str]:  # fmt: skip
        return self._fleet_sources().claim_sources(
            names, worker, now, lease, limit=limit, force=force
        )

    def renew_claims(self, worker: str, until: datetime) -> int:
        return self._fleet_sources().renew_claims(worker, until)

    def holds_claim(self, name: str, worker: str) -> bool:
        return self._fleet_sources().holds_claim(name, worker)

    def release_claims(self, worker: str) -> int:
        return self._fleet_sources().release_claims(worker)

    def claims(self) -> dict[str, tuple[str, float]]:
        return self._fleet_sources().claims()

    def dedupe_window_after(self, item_id: int) -> list[tuple[int, str, int, float, bytes]]:
        if not isinstance(self.dedupe, pg.DedupeIndex):
            raise StorageError(f"{self.where}: a fleet's dedupe catch-up is for PostgreSQL")
        return self.dedupe.dedupe_window_after(item_id)

    # ---- items, clusters, stories ---------------------------------------------------------------

    def known_items(self, source: str, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        return self.catalog.known_items(source, keys)

    def touch_items(self, ids: Sequence[int], now: datetime) -> None:
        self.catalog.touch_items(ids, now)

    def item_hashes(self, source: str) -> dict[str, str]:
        return self.catalog.item_hashes(source)

    def next_item_id(self) -> int:
        return self.catalog.next_item_id()

    def insert_items(
        self,
        source: str,
        rows: Sequence[tuple[str, str | None, ParsedItem, str, Tagging]],
        now: datetime,
        *,
        ids: Sequence[int] | None = None,
        clusters: Sequence[int | None] | None = None,
        excluded: bool = False,
    ) -> list[int]:
        return self.catalog.insert_items(
            source, rows, now, ids=ids, clusters=clusters, excluded=excluded
        )

    def insert_item(
        self,
        source: str,
        key: str,
        canonical_url: str | None,
        parsed: ParsedItem,
        content_hash: str,
        tagging: Tagging,
        now: datetime,
    ) -> int:
        return self.catalog.insert_item(
            source, key, canonical_url, parsed, content_hash, tagging, now
        )

    def update_item(
        self,
        item_id: int,
        canonical_url: str | None,
        parsed: ParsedItem,
        content_hash: str,
        tagging: Tagging,
        now: datetime,
        excluded: bool = False,
    ) -> None:
        self.catalog.update_item(
            item_id, canonical_url, parsed, content_hash, tagging, now, excluded
        )

    def item(self, item_id: int) -> Item:
        return self.catalog.item(item_id)

    def items(self, source: str | None = None) -> list[Item]:
        return self.catalog.items(source)

    def count_items(self) -> int:
        return self.catalog.count_items()

    def first_fetch(self) -> datetime | None:
        return self.catalog.first_fetch()

    def item_times(self, per_source: int = 50) -> dict[str, list[datetime]]:
        return self.catalog.item_times(per_source)

    def unclustered_items(self) -> list[int]:
        return self.catalog.unclustered_items()

    def tags_in_use(self) -> list[str]:
        return self.catalog.tags_in_use()

    def new_cluster(self, item_id: int, first_seen: datetime) -> int:
        return self.catalog.new_cluster(item_id, first_seen)

    def join_cluster(self, item_id: int, cluster_id: int, now: datetime) -> None:
        self.catalog.join_cluster(item_id, cluster_id, now)

    def latest_stories(self, limit: int, tag: str | None = None) -> list[Story]:
        return self.catalog.latest_stories(limit, tag)

    def stories_between(self, start: datetime, end: datetime) -> list[Story]:
        return self.catalog.stories_between(start, end)

    def stories(self, cluster_ids: Sequence[int]) -> list[Story]:
        return self.catalog.stories(cluster_ids)

    def story_times(
        self,
    ) -> list[tuple[int, datetime | None, datetime | None, datetime, datetime, datetime]]:
        return self.catalog.story_times()

    # ---- dedupe index (dedupe.ClusterIndex) -----------------------------------------------------

    def next_cluster_id(self) -> int:
        return self.dedupe.next_cluster_id()

    def dedupe_guid_cluster(self, source: str, guid: str, exclude_item: int) -> int | None:
        return self.dedupe.dedupe_guid_cluster(source, guid, exclude_item)

    def dedupe_url_matches(self, keys: Sequence[int]) -> dict[int, list[tuple[int, int, float]]]:
        return self.dedupe.dedupe_url_matches(keys)

    def dedupe_window(self, since: datetime) -> Iterator[tuple[int, str, int, float, bytes]]:
        return self.dedupe.dedupe_window(since)

    def dedupe_records(self, item_ids: Sequence[int]) -> dict[int, str]:
        return self.dedupe.dedupe_records(item_ids)

    def dedupe_representatives(self, cluster_ids: Sequence[int]) -> dict[int, tuple[int, str, str]]:
        return self.dedupe.dedupe_representatives(cluster_ids)

    def dedupe_write(
        self,
        new: Sequence[tuple[int, int]],
        joined: Sequence[int],
        reps: Sequence[tuple[int, int]],
        keys: Sequence[tuple[int, Sequence[int], bytes, str]],
        first_seen: datetime,
    ) -> None:
        self.dedupe.dedupe_write(new, joined, reps, keys, first_seen)

    def set_item_clusters(self, pairs: Sequence[tuple[int, int]]) -> None:
        self.dedupe.set_item_clusters(pairs)

    def dedupe_prune(self, before: datetime) -> int:
        return self.dedupe.dedupe_prune(before)

    # ---- digest ledger and meta -----------------------------------------------------------------

    def frozen_digest(self, issue: str) -> Digest | None:
        return self.ledger.frozen_digest(issue)

    def freeze_digest(self, digest: Digest, now: datetime) -> Digest:
        return self.ledger.freeze_digest(digest, now)

    def frozen_digests(self) -> list[Digest]:
        return self.ledger.frozen_digests()

    def deliveries(self, issue: str) -> dict[str, Delivery]:
        return self.ledger.deliveries(issue)

    def delivery_flags(self, issue: str) -> dict[str, tuple[bool, bool]]:
        return self.ledger.delivery_flags(issue)

    def frozen_edition(self, issue: str, edition: str) -> Digest | None:
        return self.ledger.frozen_edition(issue, edition)

    def freeze_edition(self, edition: str, digest: Digest, now: datetime) -> Digest:
        return self.ledger.freeze_edition(edition, digest, now)

    def delivery_editions(self, issue: str) -> dict[str, str | None]:
        return self.ledger.delivery_editions(issue)

    def sent_since(self, since: datetime) -> list[datetime]:
        return self.ledger.sent_since(since)

    def begin_delivery(
        self, issue: str, recipient: str, message_id: str, now: datetime,
        edition: str | None = None, *, sent: Sent | None = None,
    ) -> bool:  # fmt: skip
        """Claim the delivery and record it pending (with ``sent``, the connection's previous
        message, recorded sent). False: another sender has it (PostgreSQL: sent already, or
        pending under a claim that still counts), so this one must not send it. SQLite has one
        sender (its lock file) and always says True."""
        return self.ledger.begin_delivery(issue, recipient, message_id, now, edition, sent=sent)

    def delivery_committing(self, issue: str, recipient: str, now: datetime) -> None:
        self.ledger.delivery_committing(issue, recipient, now)

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
        self.ledger.finish_delivery(
            issue, recipient, status, now, message_id=message_id, error=error,
            permanent=permanent, edition=edition,
        )  # fmt: skip

    # ---- subscribers ----------------------------------------------------------------------------

    def unsubscribe(self, recipient: str, now: datetime, origin: str = "one-click") -> bool:
        return self.subscriptions.unsubscribe(recipient, now, origin)

    def unsubscribed(self) -> set[str]:
        return self.subscriptions.unsubscribed()

    def subscriber(self, address: str) -> Subscriber | None:
        return self.subscriptions.subscriber(address)

    def subscriber_by_uid(self, uid: str) -> Subscriber | None:
        return self.subscriptions.subscriber_by_uid(uid)

    def subscribers(self, status: str | None = None) -> list[Subscriber]:
        return self.subscriptions.subscribers(status)

    def subscriber_events(self, subscriber_id: int) -> list[SubscriberEvent]:
        return self.subscriptions.subscriber_events(subscriber_id)

    def is_forgotten(self, address: str) -> bool:
        return self.subscriptions.is_forgotten(address)

    def set_subscriber_status(
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
        return self.subscriptions.set_status(
            address, status, origin, now, name=name, reason=reason, topics=topics,
            languages=languages, only_from=only_from,
        )  # fmt: skip

    def set_subscriber_choices(
        self, address: str, topics: Sequence[str] | None, languages: Sequence[str] | None
    ) -> Subscriber | None:
        return self.subscriptions.set_choices(address, topics, languages)

    def claim_confirmation(self, address: str, now: datetime, every: float) -> bool:
        return self.subscriptions.claim_confirmation(address, now, every)

    def seed_subscribers(self, mailboxes: Iterable[tuple[str, str]], now: datetime) -> int:
        return self.subscriptions.seed_subscribers(mailboxes, now)

    def forget_subscriber(self, address: str, now: datetime) -> bool:
        return self.subscriptions.forget(address, now)

    def bounce_count(self, address: str) -> int:
        return self.subscriptions.bounce_count(address)

    def count_bounce(self, address: str, now: datetime, reason: str) -> int | None:
        return self.subscriptions.count_bounce(address, now, reason)

    def reset_bounces(self, address: str) -> bool:
        return self.subscriptions.reset_bounces(address)

    def claim_bounce_report(self, key: str, now: datetime) -> bool:
        return self.subscriptions.claim_bounce_report(key, now)

    # ---- meta -----------------------------------------------------------------------------------

    def meta_get(self, key: str) -> str | None:
        return self.meta.meta_get(key)

    def meta_setdefault(self, key: str, value: str) -> str:
        return self.meta.meta_setdefault(key, value)


if TYPE_CHECKING:

    def _conforms(s: Store) -> tuple[ClusterIndex, ClusterIndex, UnsubscribeStore]:
        """Checked by mypy: the store and its dedupe family satisfy the stages' Protocols."""
        return s, s.dedupe, s


@dataclass(frozen=True)
class Probe:
    """What ``probe`` found: the backend, where (no password), the store's schema version
    (None: no store there yet) and this code's."""

    backend: str
    where: str
    version: int | None
    current: int


def probe(database: str | Path, *, password: str | None = None, timeout: float = 5.0) -> Probe:
    """Reach the store without changing it (``aggregator check``); ``StorageError`` when it
    cannot be reached or read."""
    if pg.is_url(database):
        if password is None:
            env = getattr(database, "password_env", None)
            password = (os.environ.get(env) or None) if isinstance(env, str) and env else None
        version = pg.schema.probe(str(database), password, timeout)
        return Probe("postgresql", pg.display(str(database)), version, len(pg.MIGRATIONS))
    path = Path(database)
    if not path.exists():
        return Probe("sqlite", str(path), None, len(lite.MIGRATIONS))
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    return Probe("sqlite", str(path), int(version), len(lite.MIGRATIONS))


def role_lock(database: str | Path, name: str, *, password: str | None = None) -> pg.SessionLock:
    """A named advisory lock of the PostgreSQL database ``database`` (``service.lock`` in
    PostgreSQL mode: one holder per role and key, released when its process dies)."""
    if not pg.is_url(database):
        raise StorageError(f"{database}: advisory locks are for a PostgreSQL store")
    if password is None:
        env = getattr(database, "password_env", None)
        password = (os.environ.get(env) or None) if isinstance(env, str) and env else None
    return pg.SessionLock(str(database), name, password=password)
