"""RSS 2.0 and Atom 1.0 (through feedgen) and JSON Feed 1.1 for one feed.

Pure functions of the feed view: no wall-clock time in the bytes (feed dates come from the
newest entry), so an unchanged feed renders to the same bytes and is not rewritten. An undated
entry says so: no RSS ``<pubDate>``, no JSON Feed ``date_published``, and in Atom only the
required ``<updated>`` (first seen), no ``<published>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urljoin

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from ..site import tag_name
from .entries import GENERATOR, _Feed, _rfc3339


class _AtomEntryExtension(BaseEntryExtension):
    """Adds what feedgen 1.0 cannot write on an Atom entry: ``xml:lang``, and links with their
    ``rel``/``type``/``title`` (its ``atom_entry`` drops those attributes)."""

    def __init__(self) -> None:
        self.lang: str | None = None
        self.links: list[dict[str, str]] = []

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        if self.lang:
            entry.set("{http://www.w3.org/XML/1998/namespace}lang", self.lang)
        for attrs in self.links:
            etree.SubElement(entry, "link", attrs)
        return entry


_SELF_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


def _generator(feed: _Feed, tag_names: Mapping[str, str], kind: str) -> FeedGenerator:
    """A feedgen feed for ``kind`` ("rss" or "atom"). Categories carry the tag's name: Atom as
    ``label`` beside the slug ``term``, RSS as the text with the slug as ``domain``."""
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("agg", BaseExtension, _AtomEntryExtension, atom=True, rss=False)
    fg.id(feed.url("atom"))
    fg.title(feed.title)
    fg.subtitle(feed.description)
    fg.description(feed.description)
    fg.author({"name": feed.site_title})
    # self first: feedgen uses the last feed link as the RSS <link>
    fg.link(href=feed.url(kind), rel="self", type=_SELF_TYPES[kind])
    fg.link(href=feed.url("html"), rel="alternate", type="text/html")
    fg.generator(GENERATOR)
    fg.updated(feed.updated)
    fg.lastBuildDate(feed.updated)
    fg.pubDate(feed.updated)
    for e in feed.entries:
        fe = fg.add_entry(order="append")
        fe.id(e.id)
        fe.guid(e.id, permalink=False)
        fe.title(e.title)
        if kind == "rss":
            if e.link:
                fe.link(href=e.link, rel="alternate")
        else:
            if e.link:
                fe.agg.links.append({"rel": "alternate", "type": "text/html", "href": e.link})
            for o in e.also_in:
                if o.url and o.url != e.link:
                    fe.agg.links.append(
                        {"rel": "related", "type": "text/html", "href": o.url, "title": o.source}
                    )
        fe.content(e.body_html, type="html")  # RSS: the escaped <description>
        fe.author({"name": e.source})
        fe.dc.dc_creator(e.source)
        if e.published:
            fe.published(e.published)  # Atom <published>, RSS <pubDate>
        fe.updated(e.updated)
        for t in e.tags:
            scheme = urljoin(feed.base_url, "tags/") if kind == "atom" else t
            fe.category(term=t, label=tag_name(t, tag_names), scheme=scheme)
        fe.agg.lang = e.language or ("ar" if e.rtl else None)
    return fg


def _rss(feed: _Feed, tag_names: Mapping[str, str]) -> bytes:
    return _generator(feed, tag_names, "rss").rss_str(pretty=True)


def _atom(feed: _Feed, tag_names: Mapping[str, str]) -> bytes:
    return _generator(feed, tag_names, "atom").atom_str(pretty=True)


def _json(feed: _Feed, tag_names: Mapping[str, str]) -> bytes:
    items = []
    for e in feed.entries:
        item: dict[str, object] = {"id": e.id}
        if e.link:
            item["url"] = e.link
        item["title"] = e.title
        item["content_html"] = e.body_html
        if e.excerpt:
            item["summary"] = e.excerpt
        if e.published:
            item["date_published"] = _rfc3339(e.published)
        if e.published and e.updated != e.published:
            item["date_modified"] = _rfc3339(e.updated)
        item["authors"] = [{"name": e.source}]
        if e.tags:
            item["tags"] = list(e.tags)
        if e.language:
            item["language"] = e.language
        item["_aggregator"] = {
            "cluster": e.cluster_id,
            "first_seen": _rfc3339(e.first_seen),
            "sources": list(dict.fromkeys([e.source, *(o.source for o in e.also_in)])),
            "also_in": [{"source": o.source, "url": o.url} for o in e.also_in],
            "tag_names": {t: tag_name(t, tag_names) for t in e.tags},
        }
        items.append(item)
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.url("html"),
        "feed_url": feed.url("json"),
        "description": feed.description,
        "authors": [{"name": feed.site_title}],
        "_aggregator": {"generator": GENERATOR, "updated": _rfc3339(feed.updated)},
        "items": items,
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
