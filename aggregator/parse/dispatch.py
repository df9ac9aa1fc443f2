"""The ways in: ``parse`` (a JSON Feed to ``parse_jsonfeed``; else one guard, the fast reader when
it answers, else feedparser), ``parse_fast`` and ``parse_feedparser`` (each XML reader alone, for
tests and benchmarks).

Policies (documented here because callers depend on them):

- A missing Content-Type is read as ``application/xml`` (the encoding comes from the XML
  declaration, else UTF-8); Content-Location is the final URL, the base for relative links.
- A document that yields no item is a ParseError ("not a feed: ...") unless it is a feed that
  parsed cleanly and is simply empty. A document with recoverable errors that still yields items
  is accepted with ``ParsedFeed.warning``.
- Dates: missing stays None; a date before 1971 (epoch-zero placeholders) or more than two
  days after ``now`` is treated as missing.
- At most ``MAX_ITEMS`` items per document (the newest when dated, kept in document order);
  the fast path picks them from the raw dates before reading any item. feedparser reads at most
  ``FEEDPARSER_MAX_ITEMS`` items of an (ill-formed) document, the first ones, with a warning.
  Titles cut at ``sanitize.MAX_TITLE`` characters, HTML at ``sanitize.MAX_HTML``.
- Only http/https item links and enclosure URLs are kept.
- JSON Feed 1.0/1.1 is read by ``jsonfeed`` when the body starts with ``{`` or the Content-Type
  says JSON (and the body is not markup); broken JSON is a ParseError naming line and column.
- Refused before any XML parser runs: empty bodies, JSON arrays, and bodies with no feed element
  (rss, feed, channel, RDF, item, entry) anywhere. Character references to lone surrogates or
  beyond U+10FFFF (feedparser crashes on them) become U+FFFD.
- The WordPress/Yoast footer ("The post X appeared first on Y.", "L'article X est apparu en
  premier sur Y.") is removed from the end of summaries and contents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from ..errors import ParseError
from ..models import ParsedFeed
from .fast import Unsure, read_fast
from .finish import MAX_ITEMS, finish
from .jsonfeed import is_json, read_jsonfeed
from .raw import norm_lang
from .universal import FEEDPARSER_MAX_ITEMS, cut_items, read_feedparser
from .xmlguard import guard

__all__ = ["parse", "parse_fast", "parse_feedparser", "parse_jsonfeed"]

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


def _headers(url: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    """The response headers as the readers see them (lower-case names, policies applied)."""
    h = {k.lower(): v for k, v in (headers or {}).items()}
    h.setdefault("content-type", "application/xml")
    h["content-location"] = url
    h.pop("content-encoding", None)  # the fetcher already decoded the body
    return h


def parse_feedparser(
    content: bytes,
    url: str,
    headers: Mapping[str, str] | None = None,
    language_hint: str | None = None,
    *,
    now: datetime | None = None,
) -> ParsedFeed:
    """The reference reader: feedparser on the guarded bytes."""
    data, warning = guard(content, url)
    return _feedparser_guarded(data, warning, url, headers, language_hint, now)


def _feedparser_guarded(
    data: bytes,
    warning: str | None,
    url: str,
    headers: Mapping[str, str] | None,
    language_hint: str | None,
    now: datetime | None,
) -> ParsedFeed:
    data, cut = cut_items(data, FEEDPARSER_MAX_ITEMS)
    warning = cut or warning
    h = _headers(url, headers)
    try:
        raw, bozo, looks_like_feed = read_feedparser(data, url, h)
    except Exception as exc:  # feedparser on hostile bytes: any failure is this source's problem
        raise ParseError(url, f"not a feed: parser failed ({type(exc).__name__}: {exc})") from exc
    if not raw.items and (bozo or not looks_like_feed):
        raise ParseError(url, f"not a feed: {bozo or 'no feed elements found'}")
    return finish(raw, url, language_hint, bozo or warning, now)


def parse_fast(
    content: bytes,
    url: str,
    headers: Mapping[str, str] | None = None,
    language_hint: str | None = None,
    *,
    now: datetime | None = None,
) -> ParsedFeed | None:
    """The lxml reader, or None when it cannot promise feedparser's reading of the document."""
    data, warning = guard(content, url)
    return _fast_guarded(data, warning, url, headers, language_hint, now)


def _fast_guarded(
    data: bytes,
    warning: str | None,
    url: str,
    headers: Mapping[str, str] | None,
    language_hint: str | None,
    now: datetime | None,
) -> ParsedFeed | None:
    h = _headers(url, headers)
    try:
        raw = read_fast(data, url, h["content-type"], h.get("content-language"), MAX_ITEMS)
    except Unsure:
        return None
    return finish(raw, url, language_hint, warning, now)


def parse_jsonfeed(
    content: bytes,
    url: str,
    headers: Mapping[str, str] | None = None,
    language_hint: str | None = None,
    *,
    now: datetime | None = None,
) -> ParsedFeed:
    """A JSON Feed (1.0 or 1.1), through the same finishing step as the XML readers."""
    h = _headers(url, headers)
    charset = _CHARSET.search(h["content-type"])
    try:
        raw, warning = read_jsonfeed(content, url, charset.group(1) if charset else None)
    except ParseError:
        raise
    except Exception as exc:  # hostile JSON: any failure is this source's problem
        raise ParseError(
            url, f"not a feed: JSON Feed reader failed ({type(exc).__name__})"
        ) from exc
    raw.language = raw.language or norm_lang(h.get("content-language"))
    return finish(raw, url, language_hint, warning, now)


def parse(
    content: bytes,
    url: str,
    headers: Mapping[str, str] | None = None,
    language_hint: str | None = None,
    *,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse a fetched body. ``url`` is the final URL (after redirects); ``headers`` the response
    headers (Content-Type with charset, Content-Language); ``language_hint`` the source's
    configured language, which every item takes unless its script contradicts it (see
    ``finish.item_language``). Raises ParseError and nothing else."""
    ctype = next((v for k, v in (headers or {}).items() if k.lower() == "content-type"), None)
    if is_json(content, ctype):
        return parse_jsonfeed(content, url, headers, language_hint, now=now)
    data, warning = guard(content, url)  # once, for whichever reader takes the document
    try:
        fast = _fast_guarded(data, warning, url, headers, language_hint, now)
    except ParseError:
        raise
    except Exception:
        fast = None
    if fast is not None:
        return fast
    return _feedparser_guarded(data, warning, url, headers, language_hint, now)
