"""The reference reader: feedparser (the Universal Feed Parser) on guarded bytes.

It reads what the fast path gives up on (ill-formed documents, odd encodings, XHTML, xml:base)
and is the reference the fast path is held to. It never does its own HTTP: the bytes come from
the fetcher, the response headers are passed in. A giant ill-formed document is cut before its
``FEEDPARSER_MAX_ITEMS + 1``-th item, since feedparser's loose parser reads every item.
"""

from __future__ import annotations

import io
import re

import feedparser

from .dates import struct_to_datetime
from .finish import MAX_ITEMS
from .raw import RawFeed, RawItem, add_tag, author_name, norm_lang, tag_names

__all__ = ["FEEDPARSER_MAX_ITEMS", "cut_items", "read_feedparser"]

FEEDPARSER_MAX_ITEMS = 4 * MAX_ITEMS  # items feedparser reads from one (ill-formed) document
_ITEM_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]", re.IGNORECASE)


def cut_items(data: bytes, limit: int) -> tuple[bytes, str | None]:
    """``data`` cut before its ``limit + 1``-th item, with a warning, or unchanged. Bounds
    feedparser's time on a giant ill-formed document; its loose parser reads the truncated
    document like any cut-off feed."""
    for n, m in enumerate(_ITEM_START.finditer(data)):
        if n == limit:
            return data[: m.start()], f"document cut at {limit:,} items (too large to read whole)"
    return data, None


def _detail_type(detail) -> str:
    t = (detail or {}).get("type") or "text/html"
    return "text/plain" if t == "text/plain" else "text/html"


def read_feedparser(
    data: bytes, url: str, headers: dict[str, str]
) -> tuple[RawFeed, str | None, bool]:
    """feedparser on the guarded bytes -> (raw feed, bozo message, looked like a feed)."""
    d = feedparser.parse(
        io.BytesIO(data), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    header_lang = headers.get("content-language")
    feed = RawFeed()
    fd = d.get("feed", {})
    feed.title = fd.get("title", "") or ""
    feed.link = fd.get("link")
    feed.language = norm_lang(fd.get("language"))
    feed.ttl = fd.get("ttl")
    for e in d.get("entries", []):
        raw = RawItem()
        raw.guid = dict.get(e, "id")
        raw.link = dict.get(e, "link")
        raw.title = dict.get(e, "title", "") or ""
        contents = dict.get(e, "content") or []
        if contents:
            raw.content = contents[0].get("value", "") or ""
            raw.content_type = _detail_type(contents[0])
        if "summary" in e:
            raw.summary = dict.get(e, "summary") or ""
            sd = dict.get(e, "summary_detail") or (contents[0] if contents else None)
            raw.summary_type = _detail_type(sd)
        authors = [author_name(a) for a in dict.get(e, "authors", []) or []]
        raw.authors = [a for i, a in enumerate(authors) if a and a not in authors[:i]]
        tags: list[tuple] = []
        for t in dict.get(e, "tags", []) or []:
            add_tag(tags, t.get("term"), t.get("scheme"), t.get("label"))
        raw.categories = tag_names(tags)
        detail = (
            (contents[0] if contents else None)
            or dict.get(e, "summary_detail")
            or dict.get(e, "title_detail")
        )
        raw.language = norm_lang((detail or {}).get("language") or header_lang)
        raw.published = struct_to_datetime(dict.get(e, "published_parsed"))
        raw.updated = struct_to_datetime(dict.get(e, "updated_parsed"))
        for enc in e.get("enclosures", []):
            raw.enclosures.append(
                (enc.get("href") or "", (enc.get("type") or "").lower() or None, enc.get("length"))
            )
        feed.items.append(raw)
    bozo = None
    if d.get("bozo"):
        exc = d.get("bozo_exception")
        bozo = f"{type(exc).__name__}: {exc}"[:300]
    looks_like_feed = bool(d.get("version"))
    return feed, bozo, looks_like_feed
