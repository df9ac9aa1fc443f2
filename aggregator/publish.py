"""Republish stories as RSS 2.0, Atom 1.0, JSON Feed 1.1 and HTML pages, combined and per tag.

Subscribers poll these files with conditional GETs, so every output is a pure function of the
stories: no wall-clock time in the bytes (feed dates come from the newest entry), entry ids come
from the story's cluster id (``tag:HOST,2025:story/ID``), which survives a change of the
representative item, and a file whose bytes did not change is not rewritten (its mtime, hence
its ETag/Last-Modified, stays). New bytes go to a temp file in the same folder, are fsynced and
renamed over the old file, so a reader never sees half a file.

Item HTML is sanitised again here (``aggregator.sanitize``, nh3) whatever the parser did: no
script, no event handlers, no javascript:/data: URLs, no iframes in any format. Our own wrapper
(language, direction, source and also-in links) is built from escaped values after that pass.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import jinja2
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .files import write_atomic
from .models import Story
from .sanitize import as_uri, safe_url, sanitize_html
from .settings import OutputSettings
from .templating import environment
from .text import clean_chars, excerpt, is_rtl, plain_text

log = logging.getLogger(__name__)

GENERATOR = "aggregator"
#: Date part of the ``tag:`` URIs used as entry ids (RFC 4151). Never change it: ids would change.
TAG_URI_DATE = "2025"
#: Tags that always get feeds, even when empty.
CORE_TAGS = ("ai-africa", "ai", "africa")
DEFAULT_TAG_NAMES = {"ai": "AI", "africa": "Africa", "ai-africa": "AI & Africa"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXCERPT_CHARS = 320
INDEX_TEMPLATE = "index.html.j2"

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_LANG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")




@dataclass(frozen=True)
class PublishReport:
    """What one publish did; paths are relative to ``output.dir``."""

    written: tuple[Path, ...]
    unchanged: tuple[Path, ...]
    stories: int  # stories in the combined feed
    tags: tuple[str, ...]  # tags that got feeds

    @property
    def files(self) -> tuple[Path, ...]:
        return self.written + self.unchanged


# ---- entries: one view of a story shared by every format --------------------------------------


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
    published: datetime  # item published, else first seen
    updated: datetime  # item updated, else published, else first seen
    first_seen: datetime
    has_date: bool  # the item carried its own date


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


def _entry(story: Story, host: str) -> _Entry:
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
    published = _utc(item.published) if item.published else first_seen
    updated = _utc(item.updated) if item.updated else published
    return _Entry(
        cluster_id=story.cluster_id,
        id=f"tag:{host},{TAG_URI_DATE}:story/{story.cluster_id}",
        title=title,
        link=link,
        source=source,
        also_in=also_in,
        tags=_safe_tags(story.tags),
        language=lang,
        rtl=rtl,
        body_html=_body_html(sanitize_html(raw, base_url=link), lang, rtl, source, link, also_in),
        excerpt=excerpt(item.summary or item.content, EXCERPT_CHARS),
        published=published,
        updated=max(updated, published),
        first_seen=first_seen,
        has_date=item.published is not None or item.updated is not None,
    )


def _uri(url: str | None) -> str | None:
    """A safe http(s) link written as a strict URI (JSON Feed's ``uri`` format, RFC 3986)."""
    safe = safe_url(url)
    return as_uri(safe) if safe else None


def _a(text: str, url: str | None) -> str:
    label = html.escape(text, quote=False)
    return f'<a href="{html.escape(url)}">{label}</a>' if url else label


def _body_html(
    clean: str, lang: str | None, rtl: bool, source: str, link: str | None,
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
    tag: str | None
    title: str
    entries: tuple[_Entry, ...]
    updated: datetime
    base_url: str
    site_title: str

    def path(self, kind: str) -> str:
        if self.tag:
            return {"rss": f"tags/{self.tag}.xml", "atom": f"tags/{self.tag}.atom",
                    "json": f"tags/{self.tag}.json", "html": f"tags/{self.tag}.html"}[kind]
        return {"rss": "feed.xml", "atom": "atom.xml", "json": "feed.json",
                "html": "index.html"}[kind]

    def url(self, kind: str) -> str:
        if kind == "html" and not self.tag:
            return self.base_url
        return urljoin(self.base_url, self.path(kind))

    @property
    def description(self) -> str:
        if self.tag:
            return f"{self.title}: stories tagged {self.tag}, merged across outlets"
        return f"{self.title}: stories merged across outlets"


class _AtomEntryExtension(BaseEntryExtension):
    """Adds what feedgen 1.0 cannot write on an Atom entry: ``xml:lang``, and links with their
    ``rel``/``type``/``title`` (its ``atom_entry`` drops those attributes)."""

    def __init__(self) -> None:
        self.lang: str | None = None
        self.links: list[dict[str, str]] = []

    def extend_atom(self, entry):  # type: ignore[no-untyped-def]
        if self.lang:
            entry.set("{http://www.w3.org/XML/1998/namespace}lang", self.lang)
        for attrs in self.links:
            etree.SubElement(entry, "link", attrs)
        return entry


_SELF_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


def _generator(feed: _Feed, tag_names: Mapping[str, str], kind: str) -> FeedGenerator:
    """A feedgen feed for ``kind`` ("rss" or "atom"); RSS categories carry the slug itself."""
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
        fe.published(e.published)
        fe.pubDate(e.published)
        fe.updated(e.updated)
        for t in e.tags:
            scheme = urljoin(feed.base_url, "tags/")
            if kind == "atom":
                fe.category(term=t, label=_tag_name(t, tag_names), scheme=scheme)
            else:
                fe.category(term=t, scheme=scheme)
        fe.agg.lang = e.language or ("ar" if e.rtl else None)
    return fg


def _rss(feed: _Feed, tag_names: Mapping[str, str]) -> bytes:
    return _generator(feed, tag_names, "rss").rss_str(pretty=True)


def _atom(feed: _Feed, tag_names: Mapping[str, str]) -> bytes:
    return _generator(feed, tag_names, "atom").atom_str(pretty=True)


def _rfc3339(dt: datetime) -> str:
    return _utc(dt).isoformat().replace("+00:00", "Z")


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
        item["date_published"] = _rfc3339(e.published)
        if e.updated != e.published:
            item["date_modified"] = _rfc3339(e.updated)
        item["authors"] = [{"name": e.source}]
        if e.tags:
            item["tags"] = list(e.tags)
        if e.language:
            item["language"] = e.language
        item["_aggregator"] = {
            "cluster": e.cluster_id,
            "sources": list(dict.fromkeys([e.source, *(o.source for o in e.also_in)])),
            "also_in": [{"source": o.source, "url": o.url} for o in e.also_in],
            "tag_names": {t: _tag_name(t, tag_names) for t in e.tags},
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


# ---- HTML pages ----------------------------------------------------------------------------


def _fmt_time(dt: datetime) -> str:
    return _utc(dt).strftime("%Y-%m-%d %H:%M UTC")


def _html(
    env: jinja2.Environment,
    feed: _Feed,
    site_title: str,
    tag_counts: Mapping[str, int],
    tag_names: Mapping[str, str],
) -> bytes:
    root = "../" if feed.tag else ""
    here = Path(feed.path("html")).parent

    def rel(path: str) -> str:
        return os.path.relpath(path, here).replace(os.sep, "/") if feed.tag else path

    nav = [
        {"slug": "", "name": "All", "href": rel("index.html"), "count": None,
         "current": feed.tag is None}
    ] + [
        {"slug": t, "name": _tag_name(t, tag_names), "href": rel(f"tags/{t}.html"), "count": n,
         "current": feed.tag == t}
        for t, n in tag_counts.items()
    ]
    stories = [
        {
            "id": f"story-{e.cluster_id}",
            "title": e.title,
            "url": e.link,
            "source": e.source,
            "also_in": [{"source": o.source, "url": o.url} for o in e.also_in],
            "tags": [
                {"slug": t, "name": _tag_name(t, tag_names), "href": rel(f"tags/{t}.html")}
                for t in e.tags
            ],
            "time_iso": _rfc3339(e.published),
            "time_label": _fmt_time(e.published),
            "dated": e.has_date,
            "lang": e.language or ("ar" if e.rtl else ""),
            "dir": "rtl" if e.rtl else ("ltr" if e.language else "auto"),
            "excerpt": e.excerpt,
        }
        for e in feed.entries
    ]
    page = env.get_template(INDEX_TEMPLATE).render(
        site_title=site_title,
        page_title=feed.title,
        tag=feed.tag or "",
        tag_name=_tag_name(feed.tag, tag_names) if feed.tag else "",
        root=root,
        home_href=rel("index.html"),
        feeds={
            "rss": rel(feed.path("rss")),
            "atom": rel(feed.path("atom")),
            "json": rel(feed.path("json")),
        },
        nav=nav,
        stories=stories,
        updated_iso=_rfc3339(feed.updated),
        updated_label=_fmt_time(feed.updated),
        generator=GENERATOR,
    )
    return page.encode("utf-8")


# ---- writing --------------------------------------------------------------------------------


# ---- entry point ----------------------------------------------------------------------------


def _tag_name(tag: str, tag_names: Mapping[str, str]) -> str:
    if tag in tag_names:
        return tag_names[tag]
    if tag in DEFAULT_TAG_NAMES:
        return DEFAULT_TAG_NAMES[tag]
    return tag.replace("-", " ").title()


def _host(base_url: str) -> str:
    return (urlsplit(base_url).hostname or "aggregator.invalid").lower()


def _newest(entries: Sequence[_Entry]) -> datetime | None:
    return max((max(e.updated, e.first_seen) for e in entries), default=None)


def publish(
    stories: Sequence[Story],
    settings: OutputSettings,
    now: datetime,
    templates_dir: Path | None = None,
    tag_names: Mapping[str, str] | None = None,
) -> PublishReport:
    """Write every output for ``stories`` into ``settings.dir`` and say what changed.

    Each feed holds its ``settings.max_items`` newest stories by first seen. ``now`` is only
    logged: the files must not change when the stories do not. Tags become feeds when a story
    carries them; ``ai``, ``africa`` and ``ai-africa`` (stories with both) always exist.
    """
    names = dict(tag_names or {})
    base_url = settings.base_url if settings.base_url.endswith("/") else settings.base_url + "/"
    host = _host(base_url)
    # One entry per cluster, newest first; a stable tie-break keeps the bytes stable.
    by_cluster: dict[int, Story] = {}
    for s in stories:
        by_cluster.setdefault(s.cluster_id, s)
    entries = sorted(
        (_entry(s, host) for s in by_cluster.values()),
        key=lambda e: (e.first_seen, min(e.published, e.first_seen), e.cluster_id),
        reverse=True,
    )
    limit = max(settings.max_items, 0)
    fallback = _newest(entries) or EPOCH

    tagged: dict[str, list[_Entry]] = {t: [] for t in CORE_TAGS}
    for e in entries:
        tags = set(e.tags)
        if {"ai", "africa"} <= tags:
            tags.add("ai-africa")
        for t in sorted(tags):
            tagged.setdefault(t, []).append(e)

    def make(tag: str | None, chosen: Sequence[_Entry]) -> _Feed:
        kept = tuple(chosen[:limit])
        title = f"{settings.title}: {_tag_name(tag, names)}" if tag else settings.title
        return _Feed(tag, title, kept, _newest(kept) or fallback, base_url, settings.title)

    feeds = [make(None, entries)]
    core = [t for t in CORE_TAGS]
    others = sorted((t for t in tagged if t not in CORE_TAGS), key=lambda t: (-len(tagged[t]), t))
    for t in core + others:
        feeds.append(make(t, tagged[t]))
    tag_counts = {t: len(tagged[t]) for t in core + others}

    env = environment(templates_dir)
    out = Path(settings.dir)
    written: list[Path] = []
    unchanged: list[Path] = []
    for feed in feeds:
        rendered = {
            "rss": _rss(feed, names),
            "atom": _atom(feed, names),
            "json": _json(feed, names),
            "html": _html(env, feed, settings.title, tag_counts, names),
        }
        for kind, data in rendered.items():
            rel = Path(feed.path(kind))
            (written if write_atomic(out / rel, data, skip_same=True) else unchanged).append(rel)
    log.info(
        "publish: %d stories, %d tag feeds, %d files written, %d unchanged (at %s)",
        len(feeds[0].entries), len(feeds) - 1, len(written), len(unchanged), now.isoformat(),
    )
    return PublishReport(tuple(written), tuple(unchanged), len(feeds[0].entries),
                         tuple(core + others))
