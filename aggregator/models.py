"""Typed hand-offs between the pipeline's stages.

Every dataclass is frozen, every datetime is UTC-aware. ``ParsedItem`` is what a feed said;
``Item`` is what the store knows about it (key, first seen, cluster, tags). Only the store makes
``Item``s.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

#: Ends the settings key of a paused source (see ``Source.settings_key``).
PAUSED_SUFFIX = ":paused"


@dataclass(frozen=True)
class Source:
    """A feed as the operator configured it. ``tags`` are applied to every item of the source;
    ``prior`` only raises the evidence the tagger found for those tags (a hint, never a tag).
    ``enabled`` False pauses it (kept, never fetched); ``interval`` and ``per_host`` override
    ``fetch.interval`` and ``fetch.per_host`` for it; ``include`` / ``exclude`` are regular
    expressions (case-insensitive) on an item's title and summary: an item matching no
    ``include`` (when there are some) or any ``exclude`` is stored as excluded."""

    name: str
    url: str
    language: str | None = None
    tags: tuple[str, ...] = ()
    prior: tuple[str, ...] = ()
    enabled: bool = True
    interval: float | None = None  # seconds
    per_host: int | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def settings_key(self) -> str:
        """A digest of everything configured but the name: when it changes, the source starts
        fresh (its back-off and cache validators are dropped). Pausing is not a change of
        settings: ``enabled`` only adds ``PAUSED_SUFFIX``, so resuming keeps the ETag and
        Last-Modified (the store ends the back-off only). The digest is the one an active
        source had before this rule, so no source starts fresh on upgrade."""
        data = {k: v for k, v in asdict(self).items() if k != "name"}
        data["enabled"] = True
        raw = json.dumps(data, sort_keys=True, ensure_ascii=False, default=list)
        digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
        return digest if self.enabled else digest + PAUSED_SUFFIX


#: Values of ``SourceState.state`` (also what ``status --json`` prints).
SOURCE_STATES = ("new", "ok", "not-modified", "error", "backing-off", "moved", "gone")


@dataclass(frozen=True)
class SourceState:
    """A source's fetch state as stored between runs."""

    name: str
    url: str  # the configured URL
    fetch_url: str  # what we request: the configured URL, or where it permanently moved
    state: str = "new"
    etag: str | None = None
    last_modified: str | None = None
    http_status: int | None = None
    error_count: int = 0
    last_error: str | None = None
    last_fetch: datetime | None = None
    next_attempt: datetime | None = None
    moved_to: str | None = None  # a permanent redirect target seen ...
    moved_count: int = 0  # ... this many consecutive times
    gone: bool = False
    body_hash: str | None = None  # sha256 of the last body parsed, to skip unchanged 200s
    warning: str | None = None  # e.g. a recoverable parse problem
    last_success: datetime | None = None  # the last 2xx or 304
    items: int = 0  # stored items of this source (read-only, filled by the store)
    excluded: int = 0  # of which excluded by its include/exclude (read-only, ditto)


@dataclass(frozen=True)
class FetchResult:
    """What one conditional GET produced. ``content`` is None on 304."""

    source: str
    url: str  # requested URL
    final_url: str  # after redirects
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # target of a 301/308 on the first hop
    retry_after: datetime | None = None  # from a 429/503 Retry-After
    max_age: timedelta | None = None  # from Cache-Control / Expires
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class Enclosure:
    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True)
class ParsedItem:
    """One entry exactly as the feed described it (cleaned, but not yet identified)."""

    guid: str | None
    link: str | None  # absolute
    title: str  # plain text
    summary: str = ""  # sanitised HTML
    content: str = ""  # sanitised HTML
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    language: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    enclosures: tuple[Enclosure, ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed document: feed-level facts plus its items."""

    title: str = ""
    link: str | None = None
    language: str | None = None
    ttl: timedelta | None = None  # RSS <ttl>
    items: tuple[ParsedItem, ...] = ()
    warning: str | None = None  # recoverable problem (feedparser "bozo" that still yielded items)


@dataclass(frozen=True)
class Tagging:
    """The tags of one item and why: ``why[tag]`` lists matched terms with where they matched,
    e.g. ``("title:intelligence artificielle", "summary:IA", "source:africa")``."""

    tags: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()  # ISO 3166-1 alpha-2, e.g. "MA"; "EH" for Western Sahara
    why: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


#: A feed's date later than when we last saw the item by more than this is not believed.
FUTURE_TOLERANCE = timedelta(hours=1)


def _as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def believable_date(
    value: datetime | None, first_seen: datetime, last_seen: datetime
) -> datetime | None:
    """``value`` in UTC, or None when missing or later than when the item was last seen (by
    more than ``FUTURE_TOLERANCE``): a clock set wrong or a scheduled post is not a date. The
    one rule; ``Item.believable`` and the store's light date queries both use it."""
    if value is None:
        return None
    seen = max(_as_utc(last_seen), _as_utc(first_seen))
    value = _as_utc(value)
    return value if value <= seen + FUTURE_TOLERANCE else None


@dataclass(frozen=True)
class Item:
    """A stored item: what the feed said plus what we know about it. ``own_date`` is the one
    rule for "is this date believable", shared by the published feeds and the digest."""

    id: int
    source: str
    key: str  # identity within the source (see store.item_key)
    guid: str | None
    link: str | None
    canonical_url: str | None
    title: str
    summary: str
    content: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    language: str | None
    published: datetime | None
    updated: datetime | None
    first_seen: datetime
    last_seen: datetime
    content_hash: str
    enclosures: tuple[Enclosure, ...] = ()
    cluster_id: int | None = None
    tags: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    why: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def believable(self, value: datetime | None) -> datetime | None:
        """``value`` in UTC, or None when missing or later than when we last saw the item (by
        more than ``FUTURE_TOLERANCE``): a clock set wrong or a scheduled post is not a date."""
        return believable_date(value, self.first_seen, self.last_seen)

    @property
    def own_date(self) -> datetime | None:
        """The item's own date: published, else updated, whichever is believable; None when
        undated (then readers are shown, and feeds sorted by, when it was first seen)."""
        return self.believable(self.published) or self.believable(self.updated)


@dataclass(frozen=True)
class Outlet:
    """Another place a story ran."""

    source: str
    link: str | None
    title: str = ""


@dataclass(frozen=True)
class Story:
    """One story cluster as readers see it: a representative item and where else it ran."""

    cluster_id: int
    item: Item  # representative
    also_in: tuple[Outlet, ...] = ()  # other outlets (not the representative's source)
    tags: tuple[str, ...] = ()  # union of the members' tags
    countries: tuple[str, ...] = ()
    first_seen: datetime | None = None  # earliest member first_seen

    @property
    def sources(self) -> tuple[str, ...]:
        seen = [self.item.source]
        for o in self.also_in:
            if o.source not in seen:
                seen.append(o.source)
        return tuple(seen)


@dataclass(frozen=True)
class DigestSection:
    key: str  # "ai-africa", "ai", "africa", topic key, "other"
    title: str
    stories: tuple[Story, ...]
    more: int = 0  # stories of the week in this section that did not make the cut
    more_url: str = ""  # where the reader finds them (the tag's page), "" when none


@dataclass(frozen=True)
class Digest:
    """A frozen weekly issue: the same content for every recipient and every retry."""

    issue: str  # ISO week, e.g. "2026-W48"
    start: datetime  # window start (UTC)
    end: datetime  # window end, exclusive (UTC)
    subject: str
    sections: tuple[DigestSection, ...]
    intro: str = ""  # the editor's note above the sections (plain text, paragraphs by blank line)
    locale: str = ""  # the language it was sent in (digest.locale then); "" in older issues

    @property
    def empty(self) -> bool:
        return not any(s.stories for s in self.sections)


#: Values of ``Delivery.status``.
DELIVERY_STATES = ("pending", "sent", "failed", "skipped")


@dataclass(frozen=True)
class Delivery:
    """One row of the digest ledger."""

    issue: str
    recipient: str
    status: str
    message_id: str
    attempts: int = 0
    last_error: str | None = None
    updated: datetime | None = None


#: Values of ``Subscriber.status``: only ``confirmed`` receives the digest.
SUBSCRIBER_STATES = ("pending", "confirmed", "paused", "unsubscribed", "bounced")
#: Where a change of status came from (``Subscriber.origin``, the events' origin).
SUBSCRIBER_ORIGINS = ("form", "import", "config", "one-click", "bounce", "operator", "preferences")


@dataclass(frozen=True)
class Subscriber:
    """A person on the newsletter's list, as the store knows them. ``uid`` is the random public
    id that signed links carry (never the address); ``topics`` and ``languages`` empty mean
    everything; ``origin``, ``changed`` and ``reason`` describe the last change of status."""

    id: int
    uid: str
    email: str
    name: str
    status: str
    origin: str
    created: datetime
    changed: datetime
    topics: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    reason: str | None = None  # why it stopped (unsubscribed, bounced, paused)

    @property
    def key(self) -> str:
        return self.email.lower()


@dataclass(frozen=True)
class SubscriberEvent:
    """One change in a subscriber's history."""

    at: datetime
    status: str
    origin: str
    detail: str | None = None
