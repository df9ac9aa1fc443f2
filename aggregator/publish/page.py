"""The HTML pages: the front page (this week in sections), one page per past week, the tag
pages (lists, newest first) and, in ``issues.py``, the digest issues; all rendered from one
base template (``base.html.j2``: the header, the tag chips, the style) and one story macro.

The environment comes from ``aggregator.templating`` (operator folder first, then the packaged
default; autoescape on). Links are relative, so the site works from any folder or host; every
path comes from ``aggregator.site``. Dates are shown in the site's time zone, and dates and words
in the site's locale (``aggregator.i18n``); a digest issue's page in the issue's own locale.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import jinja2

from .. import i18n
from ..site import (
    COMBINED,
    ISSUES_FEED,
    archive_page,
    feed_path,
    issue_page,
    tag_name,
    tag_page,
    url,
)
from .entries import GENERATOR, _Entry, _Feed, _rfc3339
from .weeks import in_sections, local_label, section_title, short_week_label, week_label

INDEX_TEMPLATE = "index.html.j2"  # the front page and the page of each past week
TAG_TEMPLATE = "tag.html.j2"
#: Stories per section on the front page; the week's page has them all.
FRONT_PER_SECTION = 12


@dataclass(frozen=True)
class Site:
    """What every page of one publish shares: names, time zone, the weeks and issues to link."""

    env: jinja2.Environment
    title: str
    names: Mapping[str, str]
    timezone: str
    sections: tuple[str, ...]  # section keys in order (weeks.section_keys)
    tag_counts: Mapping[str, int]  # tags with feeds, in nav order, with their story counts
    primary_tags: tuple[str, ...]  # tags shown as chips; the others fold under "More tags"
    weeks: Mapping[str, int]  # week -> stories, newest first
    issues: Mapping[str, str]  # week -> subject of the published digest issue, newest first
    locale: str = "en"  # the pages' language (output.locale); an issue page: the issue's
    subscribe_url: str = ""  # the form of ``serve`` (absolute), "" when none

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def wording(self) -> i18n.Words:
        return i18n.wording(self.locale)

    def name(self, tag: str) -> str:
        """What readers of this locale call ``tag``: the built-in tags in its words."""
        return tag_name(tag, {**self.names, **i18n.tag_names(self.locale)})


def rel(path: str, page: str) -> str:
    """``path`` (relative to the site root) as a link from the page at ``page``."""
    return posixpath.relpath(path, posixpath.dirname(page) or ".")


def story_view(e: _Entry, page: str, site: Site) -> dict:
    """One story as the templates see it (plain values; autoescape does the escaping)."""
    return {
        "id": f"story-{e.cluster_id}",
        "title": e.title,
        "url": e.link,
        "source": e.source,
        "also_in": [{"source": o.source, "url": o.url} for o in e.also_in],
        "tags": [{"slug": t, "name": site.name(t), "href": rel(tag_page(t), page)} for t in e.tags],
        "time_iso": _rfc3339(e.time),
        "time_label": local_label(e.time, site.zone, site.locale),  # undated: first seen
        "dated": e.has_date,
        "lang": e.language or ("ar" if e.rtl else ""),
        "dir": "rtl" if e.rtl else ("ltr" if e.language else "auto"),
        "excerpt": e.excerpt,
    }


def common(site: Site, page: str, title: str, current_tag: str | None = None) -> dict:
    """The variables of ``base.html.j2``: header, feeds, tag chips, where the weeks and issues
    are."""

    def chip(t: str) -> dict:
        return {
            "slug": t,
            "name": site.name(t),
            "href": rel(tag_page(t), page),
            "count": site.tag_counts[t],
            "current": current_tag == t,
        }

    kind_paths = {k: feed_path(current_tag, k) for k in ("rss", "atom", "json")}
    home = COMBINED["html"]
    words = site.wording
    latest = {"slug": "", "name": words.latest_week, "href": rel(home, page), "count": None,
              "current": page == home}  # fmt: skip
    primary = [t for t in site.tag_counts if t in site.primary_tags]
    more = [t for t in site.tag_counts if t not in site.primary_tags]
    return {
        "site_title": site.title,
        "page_title": title,
        "home_href": rel(COMBINED["html"], page),
        "feeds": {k: rel(p, page) for k, p in kind_paths.items()},
        "issues_feed": rel(ISSUES_FEED, page),
        "nav": [latest, *(chip(t) for t in primary)],
        "nav_more": [chip(t) for t in more],
        "nav_more_current": site.name(current_tag) if current_tag in more else "",
        "weeks": [
            {
                "week": w,
                "label": short_week_label(w, site.locale),
                "count": n,
                "href": rel(archive_page(w), page),
                "current": page == archive_page(w),
            }
            for w, n in site.weeks.items()
        ],
        "issues": [
            {
                "week": w,
                "subject": s,
                "href": rel(issue_page(w), page),
                "current": page == issue_page(w),
            }
            for w, s in site.issues.items()
        ],
        "timezone": site.timezone,
        "generator": GENERATOR,
        "w": words,  # the words of the pages, in the site's (or the issue's) language
        "lang": words.lang,
        "dir": words.dir,
        "subscribe_url": site.subscribe_url,
    }


def sections_view(
    entries: Sequence[_Entry], page: str, site: Site, week: str, limit: int | None
) -> list[dict]:
    """The week's stories in sections; past ``limit`` a section links to the week's page."""
    out = []
    for key, chosen in in_sections(entries, site.sections):
        shown = chosen if limit is None else chosen[:limit]
        more = len(chosen) - len(shown)
        out.append(
            {
                "key": key,
                "id": f"s-{key}",
                "title": section_title(key, {key: site.name(key)}, site.locale),
                "count": len(chosen),
                "stories": [story_view(e, page, site) for e in shown],
                "more": more,
                "more_href": f"{rel(archive_page(week), page)}#s-{key}" if more else "",
            }
        )
    return out


def week_page(
    site: Site,
    week: str | None,
    entries: Sequence[_Entry],
    *,
    front: bool,
    updated: datetime | None = None,
) -> bytes:
    """The front page (``front``: the newest week, sections capped) or a week's page (all of its
    stories, with links to the weeks before and after)."""
    page = COMBINED["html"] if front or week is None else archive_page(week)
    label = week_label(week, site.locale) if week else ""
    title = site.title if front else site.wording.say("site_week_of", site=site.title, label=label)
    order = list(site.weeks)
    i = order.index(week) if week in order else -1
    older = order[i + 1] if 0 <= i < len(order) - 1 else None
    newer = order[i - 1] if i > 0 else None
    sections = sections_view(entries, page, site, week or "", FRONT_PER_SECTION if front else None)
    ctx = common(site, page, title)
    ctx.update(
        tag="",  # tag, tag_name and root: what an operator's pre-0.2 index.html.j2 reads
        tag_name="",
        root="../" if "/" in page else "",
        front=front,
        week=week or "",
        week_label=label,
        week_href=rel(archive_page(week), page) if week and front else "",
        older={"label": week_label(older, site.locale), "href": rel(archive_page(older), page)}
        if older
        else None,
        newer={"label": week_label(newer, site.locale), "href": rel(archive_page(newer), page)}
        if newer
        else None,
        sections=sections,
        stories=[s for sec in sections for s in sec["stories"]],
        count=len(entries),
        updated_iso=_rfc3339(updated) if updated else "",
        updated_label=local_label(updated, site.zone, site.locale) if updated else "",
    )
    return site.env.get_template(INDEX_TEMPLATE).render(**ctx).encode("utf-8")


def tag_list_page(site: Site, feed: _Feed) -> bytes:
    """A tag's page: its newest stories, newest first."""
    assert feed.tag is not None
    page = tag_page(feed.tag)
    ctx = common(site, page, feed.title, current_tag=feed.tag)
    ctx.update(
        tag=feed.tag,
        tag_name=site.name(feed.tag),
        stories=[story_view(e, page, site) for e in feed.entries],
        updated_iso=_rfc3339(feed.updated),
        updated_label=local_label(feed.updated, site.zone, site.locale),
    )
    return site.env.get_template(TAG_TEMPLATE).render(**ctx).encode("utf-8")


def chrome(
    title: str,
    base_url: str,
    locale: str,
    tags: Sequence[tuple[str, str]],
    subscribe_url: str = "",
) -> dict:
    """The variables of ``base.html.j2`` for a page outside the published folder (the subscribe
    pages of ``serve``): the same header and tag chips, with absolute links to the site at
    ``base_url``; ``tags`` are ``(slug, name)`` of the chips. No side column, no counts."""
    words = i18n.wording(locale)
    home = url(base_url, "")
    nav = [{"slug": "", "name": words.latest_week, "href": home, "count": None, "current": False}]
    nav += [
        {"slug": t, "name": name, "href": url(base_url, tag_page(t)), "count": None,
         "current": False}
        for t, name in tags
    ]  # fmt: skip
    return {
        "site_title": title,
        "page_title": title,
        "home_href": home,
        "feeds": {k: url(base_url, feed_path(None, k)) for k in ("rss", "atom", "json")},
        "issues_feed": url(base_url, ISSUES_FEED),
        "nav": nav,
        "nav_more": [],
        "nav_more_current": "",
        "weeks": [],
        "issues": [],
        "timezone": "",
        "generator": GENERATOR,
        "w": words,
        "lang": words.lang,
        "dir": words.dir,
        "subscribe_url": subscribe_url,
    }
