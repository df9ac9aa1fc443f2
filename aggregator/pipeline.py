"""The only place that knows the order of the stages.

    refresh():  for each due source, concurrently: fetch ─► parse ─► normalize ─► dedupe ─► tag ─► store
    publish():  store ─► stories ─► feeds + HTML page
    send_digest(): see digest_run.py (select week ─► render ─► deliver with the ledger)

A broken feed is an outcome, not a crash: its error is recorded on the source and the run goes on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from . import fetch as fetch_stage
from . import parse as parse_stage
from .dedupe import Deduper
from .errors import FeedError
from .models import FetchResult, ParsedFeed, Source, SourceState
from .normalize import canonical_url, content_hash, item_key
from .settings import Settings
from .store import Store
from .tagging import Tagger

log = logging.getLogger("aggregator.pipeline")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


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
        self.fetcher = fetcher or fetch_stage.Fetcher(settings.fetch)
        self.tagger = tagger or Tagger.from_settings(settings.topics, settings.tagging.threshold)
        self.deduper = Deduper(store)
        self.sources = {s.name: s for s in settings.sources}
        self.stop_requested = False
        store.sync_sources((s.name, s.url) for s in settings.sources)

    # ---- refresh ---------------------------------------------------------------------------

    def due_sources(self, names: Iterable[str] | None = None, force: bool = False) -> list[SourceState]:
        now = self.clock()
        wanted = list(names) if names is not None else list(self.sources)
        states = [s for s in self.store.source_states(wanted) if s.name in self.sources]
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
        """One pass over the due sources. Each source is committed on its own."""
        started = time.monotonic()
        report = RefreshReport()
        due = self.due_sources(names, force)
        for state, result in self.fetcher.fetch_many(due):
            t0 = time.monotonic()
            outcome = self._handle(state, result)
            outcome = replace(outcome, seconds=time.monotonic() - t0 + _elapsed(result))
            report.outcomes.append(outcome)
            if progress:
                progress(outcome)
            if self.stop_requested:
                log.info("stop requested: leaving the remaining sources for the next run")
                break
        report.seconds = time.monotonic() - started
        return report

    def _handle(self, state: SourceState, result: FetchResult | BaseException) -> SourceOutcome:
        now = self.clock()
        interval = self.settings.fetch.interval
        source = self.sources[state.name]
        if isinstance(result, BaseException):
            return self._fail(state, result, now)
        if result.not_modified:
            new_state = fetch_stage.after_success(state, result, now, interval)
            self.store.save_source_state(new_state)
            log.info("%s: not modified", state.name)
            return SourceOutcome(state.name, new_state.state)
        body_hash = hashlib.sha256(result.content or b"").hexdigest()
        if body_hash == state.body_hash:
            # Same bytes as last time although the server sent a 200: nothing to parse.
            new_state = fetch_stage.after_success(state, result, now, interval, body_hash=body_hash)
            new_state = replace(new_state, state="not-modified")
            self.store.save_source_state(new_state)
            return SourceOutcome(state.name, new_state.state)
        try:
            feed = parse_stage.parse(
                result.content or b"", result.final_url, result.headers, source.language
            )
        except FeedError as exc:
            return self._fail(state, exc, now)
        new_state = fetch_stage.after_success(
            state, result, now, interval, ttl=feed.ttl, body_hash=body_hash
        )
        new_state = replace(new_state, warning=feed.warning)
        new, updated = self.ingest(source, feed, new_state, now)
        log.info("%s: %d new, %d updated", state.name, new, updated)
        return SourceOutcome(state.name, new_state.state, new=new, updated=updated)

    def _fail(self, state: SourceState, exc: BaseException, now: datetime) -> SourceOutcome:
        new_state = fetch_stage.after_failure(state, exc, now, self.settings.fetch.interval)
        self.store.save_source_state(new_state)
        log.warning("%s: %s", state.name, new_state.last_error)
        return SourceOutcome(state.name, new_state.state, error=new_state.last_error)

    def ingest(
        self, source: Source, feed: ParsedFeed, new_state: SourceState, now: datetime
    ) -> tuple[int, int]:
        """normalize ─► dedupe ─► tag ─► store, and the source's new state: one transaction."""
        keyed = {}
        for parsed in feed.items:
            keyed.setdefault(item_key(parsed), parsed)  # duplicate guids in one feed: first wins
        new = updated = 0
        with self.store.transaction():
            known = self.store.known_items(source.name, list(keyed))
            unchanged = []
            for key, parsed in keyed.items():
                chash = content_hash(parsed)
                old = known.get(key)
                if old is not None and old[1] == chash:
                    unchanged.append(old[0])
                    continue
                tagging = self.tagger.tag(
                    parsed.title,
                    parsed.summary or parsed.content,
                    parsed.language or source.language,
                    source.tags,
                )
                canon = canonical_url(parsed.link)
                if old is None:
                    item_id = self.store.insert_item(
                        source.name, key, canon, parsed, chash, tagging, now
                    )
                    self.deduper.assign(item_id, source.name, parsed, canon, now)
                    new += 1
                else:
                    self.store.update_item(old[0], canon, parsed, chash, tagging, now)
                    updated += 1
            self.store.touch_items(unchanged, now)
            self.store.save_source_state(new_state)
        return new, updated


def _elapsed(result: object) -> float:
    return result.elapsed if isinstance(result, FetchResult) else 0.0


def publish(settings: Settings, store: Store, now: datetime | None = None):
    """store ─► stories ─► feeds + HTML page. Per-tag feeds get their own newest stories, so a
    rare tag's feed is full even when the combined feed has moved on."""
    from . import publish as publish_stage
    from .tagging import COUNTRY_NAMES

    limit = settings.output.max_items
    chosen = {s.cluster_id: s for s in store.latest_stories(limit)}
    for tag in store.tags_in_use():
        for story in store.latest_stories(limit, tag=tag):
            chosen.setdefault(story.cluster_id, story)
    templates = settings.digest.templates
    report = publish_stage.publish(
        list(chosen.values()),
        settings.output,
        now or utcnow(),
        templates_dir=templates if templates.is_dir() else None,
        tag_names=tag_display_names(settings, COUNTRY_NAMES),
    )
    log.info("published %d files (%d unchanged)", len(report.written), len(report.unchanged))
    return report


def tag_display_names(settings: Settings, countries: dict[str, str]) -> dict[str, str]:
    """Readable names for tag feeds and pages: "AI", "Africa", "Morocco", "Diplomacy"..."""
    names = {"ai": "AI", "africa": "Africa", "ai-africa": "AI in Africa"}
    names.update(countries)
    for key in settings.topics:
        names.setdefault(key, key.replace("-", " ").capitalize())
    return names
