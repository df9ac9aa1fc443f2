"""Past digest issues on the web: ``issues/2026-W50.html`` per frozen issue, and ``issues.xml``
(RSS 2.0), so an issue can be read and shared without the mail.

An issue page shows exactly what was frozen and sent (subject, the editor's intro, the sections
with their "and N more" links), with the front page's look (``issue.html.j2`` extends the same
base), in the locale the issue was sent in (``Digest.locale``; for older issues, which did not
record it, the language of their section titles), whatever the site's locale is now. The feed's
ids are ``tag:AUTHORITY,2025:issue/2026-W50``, stable when the site moves; its dates come from
the issues, never from the clock.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from feedgen.feed import FeedGenerator

from .. import i18n
from ..models import Digest
from ..site import ISSUES_FEED, issue_page, url
from .entries import GENERATOR, TAG_URI_DATE, _entry, _uri
from .page import Site, common, rel, story_view
from .weeks import week_label

ISSUE_TEMPLATE = "issue.html.j2"


def paragraphs(text: str) -> list[str]:
    """The editor's intro: paragraphs separated by blank lines, lines inside joined."""
    blocks = [" ".join(b.split()) for b in text.replace("\r\n", "\n").split("\n\n")]
    return [b for b in blocks if b]


def issue_locale(digest: Digest, default: str) -> str:
    """The locale ``digest`` was sent in: recorded since it is frozen with the issue; for an
    older issue, the language whose titles its built-in sections carry, else ``default``."""
    if digest.locale:
        return digest.locale
    builtin = [s for s in digest.sections if s.key in i18n.SECTION_TITLES["en"]]
    for lang, titles in i18n.SECTION_TITLES.items():
        if builtin and all(titles[s.key] == s.title for s in builtin):
            return default if i18n.language(default) == lang else lang
    return default


def issue_html(site: Site, digest: Digest, authority: str, order: Sequence[str]) -> bytes:
    """The page of one issue, in its own locale; ``order`` lists the published weeks, newest
    first."""
    site = replace(site, locale=issue_locale(digest, site.locale))
    page = issue_page(digest.issue)
    ctx = common(site, page, digest.subject)
    i = order.index(digest.issue) if digest.issue in order else -1
    older = order[i + 1] if 0 <= i < len(order) - 1 else None
    newer = order[i - 1] if i > 0 else None
    sections: list[dict[str, Any]] = []
    for sec in digest.sections:
        if not sec.stories:
            continue
        sections.append(
            {
                "key": sec.key,
                "id": f"s-{sec.key}",
                "title": sec.title,
                "count": len(sec.stories) + sec.more,
                "stories": [story_view(_entry(s, authority), page, site) for s in sec.stories],
                "more": sec.more,
                "more_href": (_uri(sec.more_url) or "") if sec.more else "",
            }
        )
    ctx.update(
        issue=digest.issue,
        subject=digest.subject,
        week_label=week_label(digest.issue, site.locale),
        intro=paragraphs(digest.intro),
        sections=sections,
        stories=[s for sec in sections for s in sec["stories"]],
        older={"label": site.issues[older], "href": rel(issue_page(older), page)}
        if older
        else None,
        newer={"label": site.issues[newer], "href": rel(issue_page(newer), page)}
        if newer
        else None,
    )
    return site.env.get_template(ISSUE_TEMPLATE).render(**ctx).encode("utf-8")


def _summary_html(digest: Digest, page_url: str, words: i18n.Words) -> str:
    """An issue as the feed's ``<description>``: the intro, then each section's headlines."""
    esc = html.escape
    parts = [f"<p>{esc(p)}</p>" for p in paragraphs(digest.intro)]
    for sec in digest.sections:
        if not sec.stories:
            continue
        parts.append(f"<h3>{esc(sec.title)}</h3><ul>")
        for st in sec.stories:
            link = _uri(st.item.link)
            title = esc(" ".join(st.item.title.split()) or link or words.untitled)
            head = f'<a href="{esc(link)}">{title}</a>' if link else title
            parts.append(f"<li>{head} — {esc(st.item.source)}</li>")
        parts.append("</ul>")
        more = _uri(sec.more_url)
        if sec.more and more:
            label = esc(words.say("more_in", n=sec.more, name=sec.title))
            parts.append(f'<p><a href="{esc(more)}">{label}</a></p>')
    if not any(s.stories for s in digest.sections):
        parts.append(f"<p>{esc(words.no_stories_week)}</p>")
    parts.append(f'<p><a href="{esc(page_url)}">{esc(words.read_on_web)}</a></p>')
    return "".join(parts)


def issues_feed(
    digests: Sequence[Digest],
    site_title: str,
    base_url: str,
    authority: str,
    empty: datetime,
    locale: str = "en",
) -> bytes:
    """``issues.xml``: one item per published issue, newest first. Its date is the newest
    issue's end, else ``empty`` (feedgen would write the clock: the bytes must not change).
    The channel speaks the site's ``locale``; each item's summary its issue's."""
    fg = FeedGenerator()
    words = i18n.wording(locale)
    fg.title(words.say("issues_title", site=site_title))
    fg.description(words.say("issues_description", site=site_title))
    fg.language(locale)
    fg.link(href=url(base_url, ISSUES_FEED), rel="self", type="application/rss+xml")
    fg.link(href=url(base_url, issue_page(digests[0].issue)) if digests else base_url)
    fg.generator(GENERATOR)
    newest = max((d.end for d in digests), default=empty)
    fg.lastBuildDate(newest)
    fg.pubDate(newest)
    for d in digests:  # newest first
        page_url = url(base_url, issue_page(d.issue))
        fe = fg.add_entry(order="append")
        fe.guid(f"tag:{authority},{TAG_URI_DATE}:issue/{d.issue}", permalink=False)
        fe.title(d.subject)
        fe.link(href=page_url)
        fe.description(_summary_html(d, page_url, i18n.wording(issue_locale(d, locale))))
        fe.pubDate(d.end)
    return fg.rss_str(pretty=True)
