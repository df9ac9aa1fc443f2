"""JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/) -> RawFeed, for ``finish``.

A body is read as JSON when it starts with ``{`` (after a BOM and white space), or when the
Content-Type says JSON and the body is not markup (``is_json``). The document is untrusted like
any feed: every field is taken only when it has the type the specification gives it (a title that
is a list, an id that is an object, an author that is a number are ignored, never an exception),
nesting deeper than Python's parser allows and broken JSON are a ParseError naming the line and
column, and at most ``MAX_JSON_ITEMS`` items are read (the first ones, with a warning) before
``finish`` keeps the newest ``MAX_ITEMS``. Titles go through the finishing step's one title rule
(entities decoded once, as for RSS and Atom: publishers write ``&#8217;`` in JSON titles too);
``summary`` and ``content_text`` are plain text (escaped), ``content_html`` is HTML, and
``content_text`` is used only without ``content_html``. An item without ``summary``
takes its content as summary, as feedparser does for RSS and Atom. ``url`` is the item's link,
``external_url`` when there is no ``url``; ``authors`` (1.1) or ``author`` (1.0), else the feed's;
``attachments`` become enclosures; dates go through ``dates.parse_date``.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import Any

from ..errors import ParseError
from .dates import parse_date
from .raw import RawFeed, RawItem, author_name, norm_lang

__all__ = ["MAX_JSON_ITEMS", "is_json", "read_jsonfeed"]

#: Items read from one document at most (``finish`` then keeps the newest ``MAX_ITEMS``).
MAX_JSON_ITEMS = 10_000
_JSON_TYPE = re.compile(r"^\s*(?:application|text)/(?:[\w.+-]*\+)?json\s*(?:;|$)", re.I)
_WS = b" \t\r\n"


def _head(content: bytes) -> bytes:
    """The first significant bytes: after white space and a UTF-8 BOM (UTF-16/32 decoded)."""
    head = content[:64]
    for bom, enc in (
        (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF16_LE, "utf-16"),
    ):  # fmt: skip
        if head.startswith(bom):
            head = head.decode(enc, "replace").encode("utf-8", "replace")
            break
    return head.lstrip(_WS).removeprefix(codecs.BOM_UTF8).lstrip(_WS)


def is_json(content: bytes, content_type: str | None) -> bool:
    """True when the body is to be read as JSON: it starts with ``{``, or the Content-Type is a
    JSON type and the body does not start with ``<`` (servers label XML feeds ``application/json``
    too, and the other way round)."""
    head = _head(content)
    if head.startswith(b"{"):
        return True
    return bool(content_type and _JSON_TYPE.match(content_type)) and not head.startswith(b"<")


def _load(content: bytes, url: str, charset: str | None) -> Any:
    try:
        return json.loads(content)  # detects UTF-8 (with or without BOM), UTF-16 and UTF-32
    except UnicodeDecodeError:
        pass
    except RecursionError:
        raise ParseError(url, "not a feed: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ParseError(
            url, f"not a feed: broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise ParseError(url, f"not a feed: unreadable JSON ({exc})") from None
    # Not valid UTF-8: the declared charset if Python knows it, else UTF-8 with replacements.
    try:
        text = content.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        text = content.decode("utf-8", "replace")
    try:
        return json.loads(text.lstrip("\ufeff"))
    except RecursionError:
        raise ParseError(url, "not a feed: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ParseError(
            url, f"not a feed: broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise ParseError(url, f"not a feed: unreadable JSON ({exc})") from None


def _str(obj: dict, key: str) -> str:
    """``obj[key]`` when it is a string (stripped), else ""."""
    value = obj.get(key)
    return value.strip() if isinstance(value, str) else ""


def _id(value: object) -> str | None:
    """An item id: a string, or a number written as text (1.0 feeds use numbers); else None."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def _authors(obj: dict) -> list[str]:
    """Names from ``authors`` (1.1, a list of objects) or ``author`` (1.0, one object)."""
    value = obj.get("authors")
    if not isinstance(value, list):
        value = [obj.get("author")]
    out: list[str] = []
    for a in value[:20]:
        if isinstance(a, dict):
            name = author_name({k: v for k, v in a.items() if isinstance(v, str)})
            if name and name not in out:
                out.append(name)
    return out


def _item(obj: dict, feed_authors: list[str]) -> RawItem:
    link = _str(obj, "url") or _str(obj, "external_url") or None
    content_html = _str(obj, "content_html")
    content_text = _str(obj, "content_text")
    if content_html:
        content, ctype = content_html, "text/html"
    elif content_text:
        content, ctype = content_text, "text/plain"
    else:
        content, ctype = "", "text/html"
    summary = _str(obj, "summary")
    tags = obj.get("tags")
    enclosures: list[tuple[str, str | None, str | None]] = []
    attachments = obj.get("attachments")
    for a in attachments[:50] if isinstance(attachments, list) else ():
        if not isinstance(a, dict) or not _str(a, "url"):
            continue
        size = a.get("size_in_bytes")
        length = str(size) if isinstance(size, int) and not isinstance(size, bool) else None
        enclosures.append((_str(a, "url"), _str(a, "mime_type") or None, length))
    return RawItem(
        guid=_id(obj.get("id")),
        link=link,
        title=_str(obj, "title"),
        summary=summary if summary else content,
        summary_type="text/plain" if summary else ctype,
        content=content,
        content_type=ctype,
        authors=_authors(obj) or list(feed_authors),
        categories=[t for t in tags[:100] if isinstance(t, str)] if isinstance(tags, list) else [],
        language=norm_lang(_str(obj, "language")),
        published=parse_date(_str(obj, "date_published")),
        updated=parse_date(_str(obj, "date_modified")),
        enclosures=enclosures,
    )


def read_jsonfeed(
    content: bytes, url: str, charset: str | None = None
) -> tuple[RawFeed, str | None]:
    """The feed and its items as read, and a warning (items left out), or a ParseError when the
    body is not a JSON Feed."""
    doc = _load(content, url, charset)
    if not isinstance(doc, dict):
        raise ParseError(url, f"not a feed: a JSON {type(doc).__name__}, not a JSON Feed object")
    version = doc.get("version")
    items = doc.get("items")
    is_feed = isinstance(version, str) and "jsonfeed.org/version/" in version
    if not isinstance(items, list):
        what = "no items list" if items is None else f"'items' is a {type(items).__name__}"
        if is_feed:
            raise ParseError(url, f"not a feed: a JSON Feed with {what}")
        raise ParseError(
            url, "not a feed: a JSON body that is not a JSON Feed (no version, no items)"
        )
    warnings = []
    if not is_feed:
        warnings.append("JSON Feed without its version (https://jsonfeed.org/version/1.1)")
    if len(items) > MAX_JSON_ITEMS:
        warnings.append(f"only the first {MAX_JSON_ITEMS} of {len(items)} items read")
    feed_authors = _authors(doc)
    raws: list[RawItem] = []
    skipped = 0
    for obj in items[:MAX_JSON_ITEMS]:
        if not isinstance(obj, dict):
            skipped += 1
            continue
        raw = _item(obj, feed_authors)
        if raw.guid or raw.link or raw.title or raw.content:
            raws.append(raw)
        else:
            skipped += 1
    if skipped:
        warnings.append(f"{skipped} item{'s' if skipped != 1 else ''} with nothing usable skipped")
    feed = RawFeed(
        title=_str(doc, "title"),
        link=_str(doc, "home_page_url") or None,
        language=norm_lang(_str(doc, "language")),
        items=raws,
    )
    return feed, "; ".join(warnings) or None
