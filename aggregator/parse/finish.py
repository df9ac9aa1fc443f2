"""RawFeed -> ParsedFeed: the one finishing step both readers share.

Links made absolute and limited to http(s), titles as plain text, HTML sanitised (plain text
escaped), feed footers removed, dates outside a plausible window dropped, one language per item
(``item_language``: the source's configured language first), and every list capped: at most
``MAX_ITEMS`` items (the newest by raw date), ``MAX_TITLE`` characters of title, ``MAX_HTML`` of
HTML.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from ..clock import utcnow
from ..models import Enclosure, ParsedFeed, ParsedItem
from ..sanitize import MAX_HTML, MAX_TITLE, safe_url, sanitize_html, text_to_html
from ..text import plain_text, script_language, strip_footer
from .dates import newest
from .raw import RawFeed, RawItem, norm_lang

__all__ = ["MAX_ITEMS", "finish", "item_language"]

MAX_ITEMS = 1_000
EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)
TTL_RANGE = (timedelta(minutes=1), timedelta(days=7))


def _date(value: datetime | None, now: datetime) -> datetime | None:
    if value is None or value < EARLIEST or value > now + FUTURE_SLACK:
        return None
    return value


def _html(value: str, ctype: str, base: str | None) -> str:
    if not value:
        return ""
    if ctype == "text/plain":
        return text_to_html(value, MAX_HTML)
    return sanitize_html(value, base)


def _length(value) -> int | None:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


@functools.lru_cache(maxsize=4_096)
def _short_text_cached(value: str) -> str:
    return plain_text(value, 200)


def _short_text(value: str) -> str:
    """A name (author, category) as plain text; these repeat from item to item, so cached."""
    return _short_text_cached(value) if len(value) <= 200 else plain_text(value, 200)


def item_language(configured: str | None, declared: str | None, text: str) -> str | None:
    """The language of one item. The source's ``configured`` language wins over what the feed
    declares (its ``<language>``, ``xml:lang``, Content-Language): feeds are often re-serialised
    with a wrong one. One exception: text clearly in another script (Arabic letters in a source
    configured ``fr``, Latin text in one configured ``ar``) is read as if nothing were configured.
    Without a configured language, the ``declared`` one, unless the script contradicts it."""
    if configured and script_language(configured, text, None) == configured:
        return configured
    return script_language(declared, text, None)


def _finish_item(
    raw: RawItem,
    base: str | None,
    feed_lang: str | None,
    now: datetime,
    configured: str | None = None,
) -> ParsedItem:
    link = safe_url(raw.link, base)
    content_base = link or base
    summary = strip_footer(_html(raw.summary, raw.summary_type, content_base))
    if raw.content == raw.summary and raw.content_type == raw.summary_type:
        content = summary  # content filled an empty summary: sanitise it once
    else:
        content = strip_footer(_html(raw.content, raw.content_type, content_base))
    enclosures: list[Enclosure] = []
    for href, ctype, length in raw.enclosures:
        u = safe_url(href, base)
        if u and all(e.url != u for e in enclosures):
            enclosures.append(Enclosure(u, ctype or None, _length(length)))
    guid = plain_text(raw.guid, 2_000) if raw.guid else None
    title = plain_text(raw.title, MAX_TITLE)
    language = item_language(configured, raw.language or feed_lang, title + " " + summary[:300])
    return ParsedItem(
        guid=guid or None,
        link=link,
        title=title,
        summary=summary,
        content=content,
        authors=tuple(a for a in map(_short_text, raw.authors[:20]) if a),
        categories=tuple(dict.fromkeys(c for c in map(_short_text, raw.categories[:50]) if c)),
        language=language,
        published=_date(raw.published, now),
        updated=_date(raw.updated, now),
        enclosures=tuple(enclosures[:20]),
    )


def _cap(raws: list[RawItem]) -> list[RawItem]:
    """The MAX_ITEMS newest by raw date (the fast path applies the same rule before reading)."""
    if len(raws) <= MAX_ITEMS:
        return raws
    return [raws[i] for i in newest([(r.published, r.updated) for r in raws], MAX_ITEMS)]


def _ttl(value) -> timedelta | None:
    try:
        ttl = timedelta(minutes=int(str(value).strip()))
    except (TypeError, ValueError, OverflowError):
        return None
    return ttl if TTL_RANGE[0] <= ttl <= TTL_RANGE[1] else None


def finish(
    raw: RawFeed, url: str, language: str | None, warning: str | None, now: datetime | None
) -> ParsedFeed:
    """``language`` is the source's configured language (or None): see ``item_language``."""
    now = now or utcnow()
    base = safe_url(url)
    configured = norm_lang(language)
    return ParsedFeed(
        title=plain_text(raw.title, MAX_TITLE),
        link=safe_url(raw.link, base),
        language=configured or raw.language,
        ttl=_ttl(raw.ttl),
        items=tuple(_finish_item(r, base, raw.language, now, configured) for r in _cap(raw.items)),
        warning=warning,
    )
