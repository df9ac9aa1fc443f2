"""Bytes + response headers -> ParsedFeed: safe XML, absolute http(s) links, plain titles,
sanitised HTML, UTC dates.

Two readers produce the same raw items: the lxml fast path (``_fastparse``) for well-formed
RSS/Atom, and feedparser (never its own HTTP) for everything else and as the reference. Both
see the bytes only after ``guard`` has removed the DOCTYPE, so no entity is ever declared,
expanded or fetched (feedparser's loose parser expands internal entities: a 160 KB
"quadratic blowup" feed reached 1.9 GB).

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
- Refused before any parser runs: empty and JSON bodies, and bodies with no feed element
  (rss, feed, channel, RDF, item, entry) anywhere. Character references to lone surrogates or
  beyond U+10FFFF (feedparser crashes on them) become U+FFFD.
- The WordPress/Yoast footer ("The post X appeared first on Y.", "L'article X est apparu en
  premier sur Y.") is removed from the end of summaries and contents.
"""

from __future__ import annotations

import codecs
import functools
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import feedparser

from ._fastparse import (
    RawFeed,
    RawItem,
    Unsure,
    add_tag,
    author_name,
    newest,
    norm_lang,
    struct_to_datetime,
    tag_names,
)
from ._fastparse import (
    parse_fast as _parse_fast_raw,
)
from .clock import utcnow
from .errors import ParseError
from .models import Enclosure, ParsedFeed, ParsedItem
from .sanitize import MAX_HTML, MAX_TITLE, safe_url, sanitize_html, text_to_html
from .text import plain_text, script_language, strip_footer

__all__ = ["MAX_ITEMS", "guard", "parse", "parse_fast", "parse_feedparser"]

MAX_ITEMS = 1_000
FEEDPARSER_MAX_ITEMS = 4 * MAX_ITEMS  # items feedparser reads from one (ill-formed) document
EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)
TTL_RANGE = (timedelta(minutes=1), timedelta(days=7))

_WS = rb" \t\r\n"
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_DOCTYPE_DELIMS = re.compile(rb"[\"'\[\]>]")
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_XML_DECL = re.compile(rb"^<\?xml[^>]*\?>")
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["'][^"']*["']""")
# A character reference to a lone surrogate (U+D800-DFFF) or beyond U+10FFFF: feedparser crashes
# on it (it cannot encode or even create the character) and the whole feed would be lost.
# Rewritten to U+FFFD. The pattern only matches candidates (4+ significant hex digits starting
# D8-DF, 6+ hex digits, 5+ decimal digits); the callback decides.
_BAD_CHAR_REF = re.compile(
    rb"&#(?:[xX]0*([dD][89a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{5,})(?![0-9a-fA-F])"
    rb"|0*([1-9][0-9]{4,})(?![0-9]));?"
)


# Without one of these anywhere, feedparser can find no item and no feed version: the document
# is refused at once instead of after its loose parser walked all of it (10 MB of tag soup took
# feedparser 43 s).
_FEED_MARKER = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:rss|feed|channel|rdf|item|entry)[\s/>]"
    rb"|purl\.org/rss/1\.0|w3\.org/2005/atom|my\.netscape\.com/rdf",
    re.IGNORECASE,
)
_ITEM_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]", re.IGNORECASE)
_EBCDIC = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC: feedparser reads it, our byte scan cannot


def _bad_char_ref(m: re.Match[bytes]) -> bytes:
    hexa, dec = m.groups()
    digits = hexa or dec
    value = int(digits, 16 if hexa else 10) if len(digits) <= 8 else 0x110000
    if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
        return b"&#xFFFD;"
    return m.group(0)


# ---------------------------------------------------------------- guard


def _to_utf8_if_wide(data: bytes) -> bytes:
    """UTF-16/32 documents (BOM or a ``<`` padded with zero bytes) re-encoded as UTF-8, so the
    DOCTYPE scan below sees every document as bytes it can read."""
    enc = None
    for bom, name in (
        (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF16_LE, "utf-16"),
    ):  # fmt: skip
        if data.startswith(bom):
            enc = name
            break
    else:
        head = data[:4]
        if head == b"\x00\x00\x00<":
            enc = "utf-32-be"
        elif head == b"<\x00\x00\x00":
            enc = "utf-32-le"
        elif head[:2] == b"\x00<":
            enc = "utf-16-be"
        elif head[:2] == b"<\x00":
            enc = "utf-16-le"
    if enc is None:
        return data
    try:
        text = data.decode(enc)
    except UnicodeDecodeError:
        text = data.decode(enc, "replace")
    out = text.lstrip("\ufeff").encode("utf-8")
    m = _XML_DECL.match(out)
    if m:
        out = _DECL_ENCODING.sub(b'encoding="utf-8"', m.group(0)) + out[m.end() :]
    return out


def _prolog_end(data: bytes) -> int:
    """Index where the root element starts (or len(data)), skipping the XML declaration,
    comments, processing instructions and DOCTYPEs (with their internal subset)."""
    i, n = 0, len(data)
    while i < n:
        c = data[i : i + 1]
        if c in (b" ", b"\t", b"\r", b"\n") or data.startswith(codecs.BOM_UTF8, i):
            i += 3 if data.startswith(codecs.BOM_UTF8, i) else 1
        elif data.startswith(b"<?", i):
            j = data.find(b"?>", i + 2)
            i = n if j < 0 else j + 2
        elif data.startswith(b"<!--", i):
            j = data.find(b"-->", i + 4)
            i = n if j < 0 else j + 3
        elif data[i : i + 9].upper() == b"<!DOCTYPE":
            i = _doctype_end(data, i)
        else:
            return i
    return n


def _doctype_end(data: bytes, start: int) -> int:
    """End of the DOCTYPE at ``start``: the ``>`` after its internal subset, quotes respected."""
    depth, quote = 0, None
    for m in _DOCTYPE_DELIMS.finditer(data, start + 9):
        c = m.group()
        if quote is not None:
            if c == quote:
                quote = None
        elif c in (b'"', b"'"):
            quote = c
        elif c == b"[":
            depth += 1
        elif c == b"]":
            depth -= 1
        elif depth <= 0:  # ">"
            return m.end()
    return len(data)


def guard(content: bytes, url: str) -> tuple[bytes, str | None]:
    """Make ``content`` safe for any XML parser: UTF-16/32 re-encoded as UTF-8, every DOCTYPE
    before the root element removed (so no entity can be declared, expanded or fetched).
    Returns the bytes and a warning when a DOCTYPE declared entities or an external DTD.
    Raises ParseError for bodies that are plainly not feeds (empty, JSON)."""
    data = _to_utf8_if_wide(content)
    stripped = data.lstrip(_WS).removeprefix(codecs.BOM_UTF8).lstrip(_WS)
    if not stripped:
        raise ParseError(url, "not a feed: empty body")
    if stripped[:1] in (b"{", b"["):
        raise ParseError(url, "not a feed: a JSON body")
    if not _FEED_MARKER.search(data) and not stripped.startswith(_EBCDIC):
        raise ParseError(url, "not a feed: no feed elements found")
    end = _prolog_end(data)
    if _ENTITY_DECL.search(data, end) and _DOCTYPE.search(data, end):
        # a DOCTYPE after leading junk: no parser we use would honour it, but refuse anyway
        raise ParseError(url, "not a feed: entity declarations outside the prolog")
    if b"&#" in data:
        data = _BAD_CHAR_REF.sub(_bad_char_ref, data)
    if not _DOCTYPE.search(data, 0, end + 9):
        return data, None
    head, body = data[:end], data[end:]
    warning = None
    out, i = bytearray(), 0
    for m in _DOCTYPE.finditer(head):
        if m.start() < i:
            continue
        stop = _doctype_end(head, m.start())
        decl = head[m.start() : stop]
        if b"<!ENTITY" in decl.upper() or b"SYSTEM" in decl.upper() or b"PUBLIC" in decl.upper():
            warning = "DOCTYPE with entity declarations or an external DTD removed"
        out += head[i : m.start()]
        i = stop
    out += head[i:]
    return bytes(out) + body, warning


# ---------------------------------------------------------------- feedparser path


def _headers(url: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    h = {k.lower(): v for k, v in (headers or {}).items()}
    h.setdefault("content-type", "application/xml")
    h["content-location"] = url
    h.pop("content-encoding", None)  # the fetcher already decoded the body
    return h


def _detail_type(detail) -> str:
    t = (detail or {}).get("type") or "text/html"
    return "text/plain" if t == "text/plain" else "text/html"


def _read_feedparser(
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


# ---------------------------------------------------------------- finishing


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


def _finish_item(
    raw: RawItem, base: str | None, feed_lang: str | None, now: datetime, hint: str | None = None
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
    language = script_language(raw.language or feed_lang, title + " " + summary[:300], hint)
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


def _finish(
    raw: RawFeed, url: str, hint: str | None, warning: str | None, now: datetime | None
) -> ParsedFeed:
    now = now or utcnow()
    base = safe_url(url)
    feed_lang = raw.language or norm_lang(hint)
    return ParsedFeed(
        title=plain_text(raw.title, MAX_TITLE),
        link=safe_url(raw.link, base),
        language=feed_lang,
        ttl=_ttl(raw.ttl),
        items=tuple(
            _finish_item(r, base, feed_lang, now, norm_lang(hint)) for r in _cap(raw.items)
        ),
        warning=warning,
    )


# ---------------------------------------------------------------- entry points


def _cut_items(data: bytes, limit: int) -> tuple[bytes, str | None]:
    """``data`` cut before its ``limit + 1``-th item, with a warning, or unchanged. Bounds
    feedparser's time on a giant ill-formed document (95,000 items took it 20 s); its loose
    parser reads the truncated document like any cut-off feed."""
    for n, m in enumerate(_ITEM_START.finditer(data)):
        if n == limit:
            return data[: m.start()], f"document cut at {limit:,} items (too large to read whole)"
    return data, None


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
    data, cut = _cut_items(data, FEEDPARSER_MAX_ITEMS)
    warning = cut or warning
    h = _headers(url, headers)
    try:
        raw, bozo, looks_like_feed = _read_feedparser(data, url, h)
    except Exception as exc:  # feedparser on hostile bytes: any failure is this source's problem
        raise ParseError(url, f"not a feed: parser failed ({type(exc).__name__}: {exc})") from exc
    if not raw.items and (bozo or not looks_like_feed):
        raise ParseError(url, f"not a feed: {bozo or 'no feed elements found'}")
    return _finish(raw, url, language_hint, bozo or warning, now)


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
        raw = _parse_fast_raw(data, url, h["content-type"], h.get("content-language"), MAX_ITEMS)
    except Unsure:
        return None
    return _finish(raw, url, language_hint, warning, now)


def parse(
    content: bytes,
    url: str,
    headers: Mapping[str, str] | None = None,
    language_hint: str | None = None,
    *,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse a fetched body. ``url`` is the final URL (after redirects); ``headers`` the response
    headers (Content-Type with charset, Content-Language). Raises ParseError and nothing else."""
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
