"""The only place that knows the order of the stages.

    refresh():  for each due source, concurrently:
                fetch ─► parse ─► normalize ─► dedupe ─► tag ─► store
    publish():  store ─► stories ─► feeds + HTML page
    send_digest(): see sending.py (select week ─► render ─► deliver with the ledger)

A broken feed is an outcome, not a crash: its error is recorded on the source and the run goes on.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Self

from .. import fetch as fetch_stage
from ..clock import Clock, utcnow
from ..errors import FeedError
from ..models import FetchResult, ParsedItem, Source, SourceState
from ..settings import Settings
from ..store import Store

if TYPE_CHECKING:  # parse, tagging and dedupe (lxml, regexes) load only when a body changed
    from ..dedupe import Deduper
    from ..tagging import Tagger
    from .workers import Prep, Prepared, PrepPool

log = logging.getLogger("aggregator.pipeline")


#: Prepared feeds waiting to be stored, at most (bounds memory: bodies and prepared items).
MAX_IN_FLIGHT = 8


@dataclass(frozen=True)
class SourceOutcome:
    """What one source's refresh did."""

    name: str
    state: str
    new: int = 0
    updated: int = 0
    error: str | None = None
    seconds: float = 0.0


@dataclass
class RefreshReport:
    outcomes: list[SourceOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, *states: str) -> int:
        return sum(1 for o in self.outcomes if o.state in states)

    @property
    def new_items(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def changed(self) -> bool:
        return any(o.new or o.updated for o in self.outcomes)


@dataclass
class _Run:
    """One refresh in progress."""

    due: list[SourceState]
    progress: Callable[[SourceOutcome], None] | None
    report: RefreshReport = field(default_factory=RefreshReport)
    pool: PrepPool | None = None
    # (state, result, body hash, future) of each prepared feed, as it completes
    done: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    in_flight: int = 0
    submitted: int = 0
    fetching: bool = True


class Pipeline:
    """Wires the stages to one store. Build once per process; ``refresh`` may run many times."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Clock = utcnow,
        fetcher: fetch_stage.Fetcher | None = None,
        tagger: Tagger | None = None,
    ):
        self.settings = settings
        self.store = store
        self.clock = clock
        self._owns_fetcher = fetcher is None
        self.fetcher = fetcher or fetch_stage.Fetcher(settings.fetch)
        self._tagger = tagger
        self._deduper: Deduper | None = None
        self.sources = {s.name: s for s in settings.sources}
        self.stop_requested = False
        self._pending_states: list[SourceState] = []
        self._run = _Run([], None)
        self._excluders: dict[str, Callable[[str, str], bool] | None] = {}
        # a fleet (PostgreSQL): this worker's name in its claims, the newest item id it knows
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._top_item: int | None = None
        fresh = store.sync_sources(
            ((s.name, s.url, s.settings_key()) for s in settings.sources),
            fetch_key=fetch_key(settings),
            complete=True,
        )
        for name in fresh:  # its include/exclude may have changed: judge its items again
            self._reapply_exclusion(self.sources[name])

    def _reapply_exclusion(self, source: Source) -> None:
        from .filters import never

        on, off = self.store.apply_exclusion(source.name, self.excluder(source) or never)
        if on or off:
            log.info("%s: %d items excluded, %d included again", source.name, on, off)

    def excluder(self, source: Source) -> Callable[[str, str], bool] | None:
        """The test of a source's include/exclude (None: it has none)."""
        if source.name not in self._excluders:
            from .filters import excluder

            self._excluders[source.name] = excluder(source)
        return self._excluders[source.name]

    def interval(self, name: str) -> float:
        """A source's refresh period: its own ``interval``, else ``fetch.interval``."""
        source = self.sources.get(name)
        own = source.interval if source is not None else None
        return own if own is not None else self.settings.fetch.interval

    def close(self) -> None:
        """Stop the fetcher's event loop thread and close its connections (a fetcher passed in
        belongs to the caller)."""
        if self._owns_fetcher:
            self.fetcher.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def tagger(self) -> Tagger:
        """Built on first use: compiling the lexicons costs ~0.2 s, wasted on an all-304 run."""
        if self._tagger is None:
            from ..tagging import Tagger

            self._tagger = Tagger.from_settings(
                self.settings.topics, self.settings.tagging.threshold
            )
        return self._tagger

    @property
    def deduper(self) -> Deduper:
        if self._deduper is None:
            from ..dedupe import Deduper

            self._deduper = Deduper(self.store.dedupe)
        return self._deduper

    # ---- refresh ---------------------------------------------------------------------------

    def due_sources(
        self, names: Iterable[str] | None = None, force: bool = False
    ) -> list[SourceState]:
        now = self.clock()
        wanted = list(names) if names is not None else list(self.sources)
        states = [
            s
            for s in self.store.source_states(wanted)
            if s.name in self.sources and self.sources[s.name].enabled
        ]
        if force:
            return [s for s in states if not s.gone]
        return [s for s in states if fetch_stage.is_due(s, now)]

    def refresh(
        self,
        names: Iterable[str] | None = None,
        *,
        force: bool = False,
        progress: Callable[[SourceOutcome], None] | None = None,
    ) -> RefreshReport:
        """One pass over the due sources. The fetcher's event loop thread downloads; changed
        bodies go to worker processes (parse, tag, dedupe keys); this thread does all SQL as
        results come back, one transaction (a SAVEPOINT of ``store.bulk()``'s group) per
        source, one COMMIT per ~2 s (a crash loses at most that: those sources are fetched
        again). State-only changes (304, same bytes, errors) are saved in batches: they touch no
        item, so each source stays consistent.

        On a PostgreSQL store (``store.fleet``) other processes may refresh at the same time:
        the due sources are claimed in rounds (see ``_refresh_fleet``)."""
        if self.store.fleet:
            return self._refresh_fleet(names, force, progress)
        return self._pass(self.due_sources(names, force), progress)

    def _refresh_fleet(
        self,
        names: Iterable[str] | None,
        force: bool,
        progress: Callable[[SourceOutcome], None] | None,
    ) -> RefreshReport:
        """Claim due sources (``store.claim_sources``: a lease, hosts no other worker is on),
        refresh them, and claim again until none is left for this worker. The leases are
        renewed by a thread while the round runs; saving a source's state clears its claim;
        whatever is still claimed at the end (a stop) is released. While other workers hold
        due sources, this one waits for them (so a refresh ends when the fleet's does): a
        worker killed mid-round loses its uncommitted group, and its sources go to the others
        when their leases run out."""
        started = time.monotonic()
        total = RefreshReport()
        lease = self.settings.fetch.lease
        batch = max(10, self.settings.fetch.workers)
        handled: set[str] = set()
        try:
            with _Renewer(self.store, self.worker, lease, self.clock):
                while not self.stop_requested:
                    wanted = [
                        s.name for s in self.due_sources(names, force) if s.name not in handled
                    ]
                    claimed = self.store.claim_sources(
                        wanted, self.worker, self.clock(), lease, limit=batch, force=force
                    )
                    if not claimed:
                        # others still hold some: wait for them to finish, or for the
                        # leases of a dead one to run out (then they are claimable)
                        if not self._claimed_elsewhere(wanted):
                            break
                        time.sleep(min(1.0, lease / 4))
                        continue
                    handled.update(claimed)
                    order = {name: i for i, name in enumerate(claimed)}
                    due = sorted(self.store.source_states(claimed), key=lambda s: order[s.name])
                    log.info("claimed %d sources (%s)", len(due), self.worker)
                    total.outcomes.extend(self._pass(due, progress).outcomes)
        finally:
            self.store.release_claims(self.worker)
        total.seconds = time.monotonic() - started
        return total

    def _claimed_elsewhere(self, names: list[str]) -> bool:
        """Is any of ``names`` claimed by another worker (alive, or dead with a lease left)?"""
        wanted = set(names)
        return any(
            name in wanted and who != self.worker for name, (who, _) in self.store.claims().items()
        )

    def _pass(
        self, due: list[SourceState], progress: Callable[[SourceOutcome], None] | None
    ) -> RefreshReport:
        """One refresh of the sources ``due``."""
        started = time.monotonic()
        run = _Run(due, progress)
        self._run = run
        try:
            with _gc_paused(), self.store.bulk(commit_every=2.0):
                self._refresh(run)
        finally:
            if run.pool is not None:
                run.pool.close()
            if self._deduper is not None:
                self._deduper.forget()  # read again next time: the store is the truth
            self._flush_states()
        if run.report.new_items:
            self.deduper.prune(self.clock())
        run.report.seconds = time.monotonic() - started
        return run.report

    def _refresh(self, run: _Run) -> None:
        fresh = sum(1 for s in run.due if s.body_hash is None)  # never fetched: bodies to parse
        if fresh:
            self._pool(run).start(fresh)
        fetched = self.fetcher.fetch_many(run.due, self._host_limits(run.due))
        try:
            for state, result in fetched:
                t0 = time.monotonic()
                outcome = self._handle(state, result)
                if outcome is not None and self._finish(
                    run, outcome, time.monotonic() - t0, result
                ):
                    return
                # Bounded backlog: while the main thread stores, no new fetch is started, so
                # bodies and prepared items never pile up in memory.
                if run.in_flight and self._drain(run, block=run.in_flight >= MAX_IN_FLIGHT):
                    return
        finally:
            fetched.close()
        run.fetching = False
        self._drain(run, block=True)

    def _host_limits(self, due: list[SourceState]) -> dict[tuple[str, int], int]:
        """Hosts whose sources set their own ``per_host`` (the smallest of them wins)."""
        limits: dict[tuple[str, int], int] = {}
        for state in due:
            own = self.sources[state.name].per_host
            if own is not None:
                key = fetch_stage.host_key(state.fetch_url)
                limits[key] = min(own, limits.get(key, own))
        return limits

    def _finish(self, run: _Run, outcome: SourceOutcome, took: float, result: object) -> bool:
        """Record an outcome; True when a stop was requested."""
        outcome = replace(outcome, seconds=took + _elapsed(result))
        run.report.outcomes.append(outcome)
        if run.progress:
            run.progress(outcome)
        if self.stop_requested:
            log.info("stop requested: leaving the remaining sources for the next run")
            return True
        return False

    def _drain(self, run: _Run, block: bool) -> bool:
        """Store the prepared feeds that are ready (when ``block``: wait for at least one, and
        for all of them once fetching is over)."""
        while run.in_flight:
            try:
                state, result, body_hash, fut = run.done.get(block=block)
            except queue.Empty:
                return False
            run.in_flight -= 1
            t0 = time.monotonic()
            outcome = self._ingest_prepared(state, result, body_hash, fut)
            if self._finish(run, outcome, time.monotonic() - t0, result):
                return True
            if block and not run.fetching:
                continue
            block = False
        return False

    def _save_state(self, state: SourceState) -> None:
        self._pending_states.append(state)
        if len(self._pending_states) >= 200:
            self._flush_states()

    def _flush_states(self) -> None:
        states, self._pending_states = self._pending_states, []
        if states:
            self.store.save_source_states(states)

    def _handle(
        self, state: SourceState, result: FetchResult | BaseException
    ) -> SourceOutcome | None:
        """A fetch outcome that needs no parsing becomes a SourceOutcome here; a changed body is
        submitted for preparation (None: its outcome comes later)."""
        now = self.clock()
        interval = self.interval(state.name)
        source = self.sources[state.name]
        if isinstance(result, BaseException):
            return self._fail(state, result, now)
        if result.not_modified:
            new_state = fetch_stage.after_success(state, result, now, interval)
            self._save_state(new_state)
            log.info("%s: not modified", state.name)
            return SourceOutcome(state.name, new_state.state)
        body_hash = hashlib.sha256(result.content or b"").hexdigest()
        if body_hash == state.body_hash:
            # Same bytes as last time although the server sent a 200: nothing to parse.
            new_state = fetch_stage.after_success(state, result, now, interval, body_hash=body_hash)
            new_state = replace(new_state, state="not-modified")
            self._save_state(new_state)
            return SourceOutcome(state.name, new_state.state)
        self._submit(state, result, source, body_hash)
        return None

    def _submit(
        self, state: SourceState, result: FetchResult, source: Source, body_hash: str
    ) -> None:
        """Send a changed body to be prepared (worker processes once enough bodies changed, which
        a first run knows at once); its outcome comes back through ``run.done``."""
        from .workers import Job

        run = self._run
        pool = self._pool(run)
        known = self.store.item_hashes(source.name) if state.items else {}
        job = Job(
            result.content or b"", result.final_url, dict(result.headers), source.language,
            tuple(source.tags), known, tuple(source.prior),
        )  # fmt: skip
        run.submitted += 1
        expected = len(run.due) if state.body_hash is None else run.submitted
        fut = pool.submit(job, expected)
        run.in_flight += 1
        fut.add_done_callback(lambda f: run.done.put((state, result, body_hash, f)))

    def _pool(self, run: _Run) -> PrepPool:
        """The run's pool of worker processes, whose children fork on first need."""
        if run.pool is None:
            from .workers import PrepPool

            # The tagger is built where it is used (see workers.py); the children must not
            # inherit an open write transaction.
            run.pool = PrepPool(lambda: self.tagger, before_fork=self.store.commit_group)
        return run.pool

    def _ingest_prepared(
        self, state: SourceState, result: FetchResult, body_hash: str, fut
    ) -> SourceOutcome:
        now = self.clock()
        try:
            prepared = fut.result()
        except Exception as exc:  # a worker died: this source fails, the others go on
            log.exception("%s: preparing the feed failed", state.name)
            return self._fail(state, FeedError(result.final_url, f"worker failed: {exc}"), now)
        if isinstance(prepared, FeedError):
            return self._fail(state, prepared, now)
        new_state = fetch_stage.after_success(
            state, result, now, self.interval(state.name), ttl=prepared.ttl, body_hash=body_hash
        )
        new_state = replace(new_state, warning=prepared.warning)
        new, updated = self.ingest(self.sources[state.name], prepared, new_state, now)
        log.info("%s: %d new, %d updated", state.name, new, updated)
        return SourceOutcome(state.name, new_state.state, new=new, updated=updated)

    def _fail(self, state: SourceState, exc: BaseException, now: datetime) -> SourceOutcome:
        new_state = fetch_stage.after_failure(state, exc, now, self.interval(state.name))
        self._save_state(new_state)
        # marked, so a command that lists failures in its summary can leave this line out
        log.warning("%s: %s", state.name, new_state.last_error, extra={"source_failure": True})
        return SourceOutcome(state.name, new_state.state, error=new_state.last_error)

    def ingest(
        self, source: Source, feed: Prepared, new_state: SourceState, now: datetime
    ) -> tuple[int, int]:
        """store ─► dedupe, and the source's new state: one transaction. ``feed`` comes from
        ``workers.prepare_feed``: items keyed, hashed, tagged and fingerprinted already."""
        try:
            return self._ingest(source, feed, new_state, now)
        except BaseException:
            if self._deduper is not None:
                self._deduper.forget()  # rolled back: the batch must not stay in its window
            raise

    def _ingest(
        self, source: Source, feed: Prepared, new_state: SourceState, now: datetime
    ) -> tuple[int, int]:
        from .workers import prep_item

        new = updated = 0
        excluded = self.excluder(source)
        with self.store.transaction():
            if self.store.fleet and not self._fleet_check(source.name):
                return 0, 0
            known = self.store.known_items(source.name, [k for k, *_ in feed.items])
            unchanged: list[int] = []
            fresh: list[tuple[str, str, ParsedItem, Prep]] = []
            left_out: list[tuple[str, str, ParsedItem, Prep]] = []
            for key, chash, parsed, prep in feed.items:
                old = known.get(key)
                if old is not None and old[1] == chash:
                    unchanged.append(old[0])
                    continue
                if prep is None:  # the worker saw it unchanged; the store says otherwise
                    prep = prep_item(parsed, self.tagger, source.tags, source.prior)
                out = excluded is not None and excluded(parsed.title, parsed.summary)
                if old is None:
                    (left_out if out else fresh).append((key, chash, parsed, prep))
                else:
                    self.store.update_item(
                        old[0], prep.canonical_url, parsed, chash, prep.tagging, now, out
                    )
                    updated += 1
            new = len(store_new_items(self.store, self.deduper, source.name, fresh, now))
            if left_out:  # kept so they are not new next time; never clustered nor shown
                rows = [(k, p.canonical_url, parsed, c, p.tagging) for k, c, parsed, p in left_out]
                self.store.insert_items(source.name, rows, now, excluded=True)
                log.info("%s: %d items excluded by its include/exclude", source.name, len(rows))
            self.store.touch_items(unchanged, now)
            self.store.save_source_state(new_state)
            if self.store.fleet:
                self._top_item = self.store.next_item_id() - 1
        return new, updated

    def _fleet_check(self, name: str) -> bool:
        """Inside a source's transaction, on a fleet's store: False when this worker lost its
        claim on ``name`` (its lease ran out and another worker took it: that one stores it).
        The items other workers stored since this one last looked join the deduper's window,
        so they are candidates too (the writers' lock is held: nothing more can land before
        this transaction ends)."""
        if not self.store.holds_claim(name, self.worker):
            log.warning("%s: lease lost to another worker; its items are left to it", name)
            return False
        top = self.store.next_item_id() - 1
        if self._top_item is not None and top != self._top_item and self._deduper is not None:
            self._deduper.learn(self.store.dedupe_window_after(self._top_item))
        self._top_item = top
        return True


def fetch_key(settings: Settings) -> str:
    """A digest of the fetch settings that decide whether a download can succeed: when one
    changes (``allow_private`` fixed, a longer ``timeout``), failing sources stop backing off."""
    f = settings.fetch
    raw = repr((sorted(f.allow_private), f.timeout, f.max_bytes, f.user_agent))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def store_new_items(
    store: Store,
    deduper: Deduper,
    source: str,
    fresh: list[tuple[str, str, ParsedItem, Prep]],
    now: datetime,
) -> list[tuple[int, int]]:
    """dedupe ─► store for a source's new items ``(key, content hash, parsed, prep)``: clustered
    first (a few statements for the whole batch), then written once with their clusters.
    Call inside the source's transaction; if it fails, call ``deduper.forget()`` (its window
    holds the batch). Returns ``(item id, cluster id)`` in order."""
    if not fresh:
        return []
    first = store.next_item_id()
    ids = list(range(first, first + len(fresh)))
    # Plain zips here: the lengths are equal by construction and this runs once per source
    # batch on the hot path (strict= costs ~1 us a call).
    batch = [(i, parsed, p.dedupe) for i, (_, _, parsed, p) in zip(ids, fresh)]  # noqa: B905
    clusters = deduper.assign_many(source, batch, now)
    rows = [(k, p.canonical_url, parsed, c, p.tagging) for k, c, parsed, p in fresh]
    store.insert_items(source, rows, now, ids=ids, clusters=clusters)
    return list(zip(ids, clusters))  # noqa: B905  (see above)


class _Renewer:
    """A thread that renews a worker's leases every third of the lease while a round runs."""

    def __init__(self, store: Store, worker: str, lease: float, clock: Clock):
        self.store, self.worker, self.lease, self.clock = store, worker, lease, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self.store.renew_claims(self.worker, self.clock() + timedelta(seconds=self.lease))
            except Exception:  # the next renewal tries again; a lost lease is detected at save
                log.warning("renewing the leases of %s failed", self.worker, exc_info=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one refresh (worker processes forked meanwhile
    inherit it off). A refresh allocates millions of objects and makes almost no cycles (29
    unreachable objects after a cold run of 1,000 feeds): collections triggered by allocation
    only walk the growing heap, holding the GIL the result and fetch threads wait for
    (bench/README.md: 4 % off a cold refresh)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _elapsed(result: object) -> float:
    return result.elapsed if isinstance(result, FetchResult) else 0.0


def publish(settings: Settings, store: Store, now: datetime | None = None):
    """store ─► stories ─► feeds + HTML pages (this week, every past week, the sent digest
    issues). Per-tag feeds get their own newest stories, so a rare tag's feed is full even when
    the combined feed has moved on."""
    from .. import publish as publish_stage
    from ..normalize import reader_links
    from ..tagging import COUNTRY_NAMES
    from .subscriptions import page_url

    limit = settings.output.max_items
    chosen = {s.cluster_id: s for s in store.latest_stories(limit)}
    for tag in store.tags_in_use():
        for story in store.latest_stories(limit, tag=tag):
            chosen.setdefault(story.cluster_id, story)
    stories = [reader_links(s) for s in chosen.values()]  # no tracking parameters
    # Entry ids keep the authority of the first publish, whatever base_url becomes later.
    authority = store.meta_setdefault(
        "id_authority", publish_stage.default_id_authority(settings.output.base_url)
    )
    templates = settings.output.templates
    # Pages: every week's stories (read a week at a time) and the sent issues, in digest.timezone.
    tz = settings.digest.timezone
    archive = publish_stage.Archive(
        publish_stage.archive_weeks(store.story_times(), tz),
        lambda ids: [reader_links(s) for s in store.stories(ids)],
    )
    issues = [
        replace(d, sections=tuple(
            replace(sec, stories=tuple(reader_links(s) for s in sec.stories))
            for sec in d.sections))
        for d in store.frozen_digests()
    ]  # fmt: skip
    report = publish_stage.publish(
        stories,
        settings.output,
        now or utcnow(),
        templates_dir=templates if templates.is_dir() else None,
        tag_names=tag_display_names(settings, COUNTRY_NAMES),
        id_authority=authority,
        timezone=tz,
        topics=list(settings.topics),
        archive=archive,
        issues=issues,
        locale=settings.site_locale,
        subscribe_url=page_url(settings, "subscribe"),
    )
    log.debug("published %d files (%d unchanged)", len(report.written), len(report.unchanged))
    return report


def tag_display_names(settings: Settings, countries: dict[str, str]) -> dict[str, str]:
    """Readable names for tag feeds and pages in the site's language: "AI", "Africa",
    "Morocco", "Diplomacy"... ("IA", "Maroc" in French: countries from CLDR)."""
    from .. import i18n
    from ..tagging import COUNTRY_CODES

    loc = settings.site_locale
    names = i18n.tag_names(loc)
    if i18n.language(loc) == "en":
        names.update(countries)
    else:
        for slug, name in countries.items():
            names[slug] = i18n.country_name(COUNTRY_CODES.get(slug, ""), loc) or name
    for key in settings.topics:
        names.setdefault(key, key.replace("-", " ").capitalize())
    return names
