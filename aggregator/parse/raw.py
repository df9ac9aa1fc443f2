"""The raw item both readers produce, before sanitising, and the conventions they share.

``RawItem``/``RawFeed`` hold exactly the fields ParsedItem is built from, as feedparser would
have read them; both readers fill them and one finishing step (``finish.py``) turns them into
ParsedItems, so the two paths cannot drift apart after reading. The helpers are feedparser's
rules for authors, categories and language tags, applied by both readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["RawFeed", "RawItem", "add_tag", "author_name", "norm_lang", "tag_names"]


@dataclass
class RawItem:
    """One entry as read, before sanitising: the fields both paths must agree on."""

    guid: str | None = None
    link: str | None = None
    title: str = ""
    summary: str = ""
    summary_type: str = "text/html"
    content: str = ""
    content_type: str = "text/html"
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    language: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    enclosures: list[tuple[str, str | None, str | None]] = field(default_factory=list)


@dataclass
class RawFeed:
    """The feed as read: its channel fields and its items, in document order."""

    title: str = ""
    link: str | None = None
    language: str | None = None
    ttl: str | None = None
    items: list[RawItem] = field(default_factory=list)


def author_name(detail: dict) -> str:
    """What we keep of an author: the name, else the e-mail address."""
    return (detail.get("name") or detail.get("email") or "").strip()


def add_tag(tags: list[tuple], term, scheme, label) -> None:
    """A (term, scheme, label) triple appended unless empty or already there."""
    if not term and not scheme and not label:
        return
    value = (term, scheme, label)
    if value not in tags:
        tags.append(value)


def tag_names(tags) -> list[str]:
    """Category names from feedparser-style (term, scheme, label) triples: term, else label."""
    out: list[str] = []
    for term, _scheme, label in tags:
        name = (term or label or "").strip()
        if name and name not in out:
            out.append(name)
    return out


def norm_lang(lang: str | None) -> str | None:
    """A language tag lower-cased with ``-`` separators (``fr_FR`` -> ``fr-fr``), or None."""
    if not lang:
        return None
    lang = lang.strip().replace("_", "-").lower()
    return lang or None
