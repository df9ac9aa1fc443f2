"""The HTML front page and per-tag pages, rendered with ``index.html.j2``.

The environment comes from ``aggregator.templating`` (operator folder first, then the packaged
default; autoescape on). Links are relative, so the site works from any folder or host.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import jinja2

from ..site import tag_name, tag_page
from .entries import GENERATOR, _Feed, _rfc3339, _utc

INDEX_TEMPLATE = "index.html.j2"


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
        {
            "slug": "",
            "name": "All",
            "href": rel("index.html"),
            "count": None,
            "current": feed.tag is None,
        }
    ] + [
        {
            "slug": t,
            "name": tag_name(t, tag_names),
            "href": rel(tag_page(t)),
            "count": n,
            "current": feed.tag == t,
        }
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
                {"slug": t, "name": tag_name(t, tag_names), "href": rel(tag_page(t))}
                for t in e.tags
            ],
            "time_iso": _rfc3339(e.time),
            "time_label": _fmt_time(e.time),  # undated: the first-seen time
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
        tag_name=tag_name(feed.tag, tag_names) if feed.tag else "",
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
