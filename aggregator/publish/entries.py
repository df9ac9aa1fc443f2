"""One view of a story and of a feed, shared by every format (RSS, Atom, JSON Feed, HTML).

Built once per publish so the formats cannot disagree: titles are folded plain text, links are
safe http(s) URIs (the service layer has taken tracking parameters out), entry ids come from the
cluster id (``tag:AUTHORITY,2025:story/ID``, stable when the representative item or the base URL
changes), and the body is sanitised again (nh3) whatever the parser did, then wrapped in our own
language, direction and outlet markup built from escaped values. A story's date is
``Item.own_date`` (the one rule, shared with the digest); an undated story sorts by first-seen
time.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

from ..models import Story, believable_date
from ..sanitize import as_uri, safe_url, sanitize_html
from ..site import feed_path
from ..text import clean_chars, display_excerpt, is_rtl, plain_text

log = logging.getLogger("aggregator.publish")

GENERATOR = "aggregator"
#: Date part of the ``tag:`` URIs used as entry ids (RFC 4151). Never change it: ids would change.
TAG_URI_DATE = "2025"
EXCERPT_CHARS = 320

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_LANG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class _Link:
    source: str
    url: str | None


@dataclass(frozen=True)
class _Entry:
    cluster_id: int
    id: str
    title: str
    link: str | None
    source: str
    also_in: tuple[_Link, ...]
    tags: tuple[str, ...]
    language: str | None
    rtl: bool
    body_html: str  # sanitised, with the source / also-in footer
    excerpt: str  # plain text
    published: datetime | None  # the item's own date (published, else updated); None: undated
    updated: datetime  # item updated, else published, else first seen
    first_seen: datetime

    @property
    def has_date(self) -> bool:
        """The item carried a believable date of its own."""
        return self.published is not None

    @property
    def time(self) -> datetime:
        """What feeds are ordered by: the item's own date, else first seen."""
        return self.published or self.first_seen

    @property
    def order(self) -> tuple[datetime, datetime, int]:
        """Newest first by ``time``, then by first seen, then by cluster id (all descending)."""
        return (self.time, self.first_seen, self.cluster_id)


def _safe_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags become file names: keep slugs only (``../x`` or ``Bad Tag`` never reach the disk)."""
    bad = [t for t in tags if not _SLUG.match(t)]
    if bad:
        log.warning("publish: tags %r are not slugs; left out", bad)
    return tuple(dict.fromkeys(t for t in tags if _SLUG.match(t)))


def _language(code: str | None) -> str | None:
    return code if code and _LANG.match(code) else None


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _rfc3339(dt: datetime) -> str:
    return _utc(dt).isoformat().replace("+00:00", "Z")


def story_dates(
    published: datetime | None,
    updated: datetime | None,
    item_first_seen: datetime,
    item_last_seen: datetime,
) -> tuple[datetime | None, datetime | None]:
    """``(published, updated)`` as readers are shown them: the item's own dates in UTC, each
    dropped when it lies in the future of when we last saw the item; ``published`` falls back
    to ``updated``. The one rule behind every output's dates and the archive's weeks."""
    upd = believable_date(updated, item_first_seen, item_last_seen)
    return believable_date(published, item_first_seen, item_last_seen) or upd, upd


def display_time(
    published: datetime | None,
    updated: datetime | None,
    item_first_seen: datetime,
    item_last_seen: datetime,
    story_first_seen: datetime,
) -> datetime:
    """When a story happened for readers: its believable date (``story_dates``), else when it
    was first seen. Pages are sorted and put in weeks by it."""
    return story_dates(published, updated, item_first_seen, item_last_seen)[0] or _utc(
        story_first_seen
    )


def _entry(story: Story, authority: str) -> _Entry:
    item = story.item
    first_seen = _utc(story.first_seen or item.first_seen)
    lang = _language(item.language)
    raw = item.content or item.summary
    rtl = is_rtl(item.title or plain_text(raw, 400), lang)
    link = _uri(item.link)
    source = clean_chars(item.source)  # names are config text, but must still be XML-safe
    also_in = tuple(_Link(clean_chars(o.source), _uri(o.link)) for o in story.also_in)
    # Item.title is plain text already: fold it, never unescape it again ("AT&amp;T" stays).
    title = " ".join(clean_chars(item.title).split()) or link or f"Story {story.cluster_id}"
    updated = item.believable(item.updated)
    published = item.own_date
    return _Entry(
        cluster_id=story.cluster_id,
        id=f"tag:{authority},{TAG_URI_DATE}:story/{story.cluster_id}",
        title=title,
        link=link,
        source=source,
        also_in=also_in,
        tags=_safe_tags(story.tags),
        language=lang,
        rtl=rtl,
        body_html=_body_html(
            sanitize_html(raw, base_url=_uri(item.link) or link), lang, rtl, source, link, also_in
        ),
        excerpt=display_excerpt(item.summary, item.content, EXCERPT_CHARS),
        published=published,
        updated=max(updated, published) if updated and published else published or first_seen,
        first_seen=first_seen,
    )


def _uri(url: str | None) -> str | None:
    """A safe http(s) link written as a strict URI (JSON Feed's ``uri`` format, RFC 3986)."""
    safe = safe_url(url)
    return as_uri(safe) if safe else None


def _a(text: str, url: str | None) -> str:
    label = html.escape(text, quote=False)
    return f'<a href="{html.escape(url)}">{label}</a>' if url else label


def _body_html(
    clean: str,
    lang: str | None,
    rtl: bool,
    source: str,
    link: str | None,
    also: tuple[_Link, ...],
) -> str:
    """The (already sanitised) entry text in a ``div`` carrying its language and direction, then
    its outlets. ``lang`` matched ``_LANG`` and every other value is escaped here."""
    attrs = (f' lang="{lang}"' if lang else "") + (' dir="rtl"' if rtl else "")
    parts = [f"<div{attrs}>{clean}</div>"] if clean.strip() else []
    footer = f"Source: {_a(source, link)}"
    if also:
        footer += " · Also in: " + ", ".join(_a(o.source, o.url) for o in also)
    parts.append(f'<p dir="ltr">{footer}</p>')
    return "".join(parts)


@dataclass(frozen=True)
class _Feed:
    """One output feed (the combined one when ``tag`` is None): its entries, title and paths."""

    tag: str | None
    title: str
    entries: tuple[_Entry, ...]
    updated: datetime
    base_url: str
    site_title: str

    def path(self, kind: str) -> str:
        return feed_path(self.tag, kind)

    def url(self, kind: str) -> str:
        if kind == "html" and not self.tag:
            return self.base_url
        return urljoin(self.base_url, self.path(kind))

    @property
    def description(self) -> str:
        if self.tag:
            return f"{self.title}: stories tagged {self.tag}, merged across outlets"
        return f"{self.title}: stories merged across outlets"
