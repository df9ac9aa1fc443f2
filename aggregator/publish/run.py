"""``publish()``: choose the stories of each feed, render every format, write what changed.

One entry per cluster, newest first by the item's own date (first-seen time when it has none,
or one in the future), then first seen, then cluster id; the combined feed plus one feed per tag
(``ai``, ``africa`` and ``ai-africa`` always exist). The pages: the front page (the newest week
in sections), ``archive/<week>.html`` for every week with stories, the tag pages, and each
frozen digest issue as ``issues/<week>.html`` with ``issues.xml``. Files go through
``aggregator.files.write_atomic`` with ``skip_same``: a reader never sees half a file, and a file
whose bytes did not change keeps its mtime (hence its ETag/Last-Modified).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .. import i18n
from ..files import write_atomic
from ..models import Digest, Story
from ..settings import OutputSettings
from ..site import ISSUES_FEED, archive_page, issue_page, tag_name
from ..templating import environment
from .entries import _Entry, _entry, _Feed
from .feeds import _atom, _json, _rss
from .issues import issue_html, issues_feed
from .page import Site, tag_list_page, week_page
from .weeks import Archive, section_keys, week_of

log = logging.getLogger("aggregator.publish")

#: Tags that always get feeds, even when empty.
CORE_TAGS = ("ai-africa", "ai", "africa")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PublishReport:
    """What one publish did; paths are relative to ``output.dir``."""

    written: tuple[Path, ...]
    unchanged: tuple[Path, ...]
    stories: int  # stories in the combined feed
    tags: tuple[str, ...]  # tags that got feeds
    weeks: tuple[str, ...] = ()  # weeks that got a page (archive/<week>.html), newest first
    issues: tuple[str, ...] = ()  # digest issues published as pages, newest first

    @property
    def files(self) -> tuple[Path, ...]:
        return self.written + self.unchanged


def default_id_authority(base_url: str) -> str:
    """The authority of entry ids (``tag:AUTHORITY,2025:story/ID``) a first publish to
    ``base_url`` would choose: its host. Keep it once chosen (the service stores it) so that
    moving the site does not make every story new to every subscriber."""
    return (urlsplit(base_url).hostname or "aggregator.invalid").lower()


def _newest(entries: Sequence[_Entry]) -> datetime | None:
    return max((max(e.updated, e.first_seen) for e in entries), default=None)


def publish(
    stories: Sequence[Story],
    settings: OutputSettings,
    now: datetime,
    templates_dir: Path | None = None,
    tag_names: Mapping[str, str] | None = None,
    id_authority: str | None = None,
    *,
    timezone: str = "UTC",
    topics: Sequence[str] = (),
    archive: Archive | None = None,
    issues: Sequence[Digest] = (),
    locale: str = "en",
    subscribe_url: str = "",
) -> PublishReport:
    """Write every output for ``stories`` into ``settings.dir`` and say what changed.

    Each feed holds its ``settings.max_items`` newest stories by date (``_Entry.order``).
    ``now`` is only logged: the files must not change when the stories do not. Tags become
    feeds when a story carries them; ``ai``, ``africa`` and ``ai-africa`` (stories with both)
    always exist. Entry ids use ``id_authority`` (default: the base URL's host).

    Pages show dates in ``timezone`` and put stories in its ISO weeks; ``topics`` (config
    order) are the front page's sections after AI & Africa, AI and Africa. ``archive`` lists
    every week's stories (the service reads them from the store); without it the weeks are
    those of ``stories``. ``issues`` are the frozen digests to publish, newest first.

    The pages' words and dates are in ``locale`` (an issue's page in the issue's own); the
    built-in tags are named in it. ``subscribe_url`` (``serve``'s form) is linked from every
    page when given.
    """
    i18n.locale(locale)  # a ConfigError now rather than a half-written site
    names = {**i18n.tag_names(locale), **(tag_names or {})}
    base_url = settings.base_url if settings.base_url.endswith("/") else settings.base_url + "/"
    authority = id_authority or default_id_authority(base_url)
    # One entry per cluster, newest first; a stable tie-break keeps the bytes stable.
    by_cluster: dict[int, Story] = {}
    for s in stories:
        by_cluster.setdefault(s.cluster_id, s)
    entries = sorted(
        (_entry(s, authority) for s in by_cluster.values()), key=lambda e: e.order, reverse=True
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
        title = f"{settings.title} — {tag_name(tag, names)}" if tag else settings.title
        return _Feed(tag, title, kept, _newest(kept) or fallback, base_url, settings.title)

    feeds = [make(None, entries)]
    core = list(CORE_TAGS)
    others = sorted((t for t in tagged if t not in CORE_TAGS), key=lambda t: (-len(tagged[t]), t))
    for t in core + others:
        feeds.append(make(t, tagged[t]))
    tag_counts = {t: len(tagged[t]) for t in core + others}

    # The weeks: from the archive the service read, else from the stories at hand.
    if archive is None:
        zone = ZoneInfo(timezone)
        grouped: dict[str, list[_Entry]] = {}
        for e in entries:
            grouped.setdefault(week_of(e.time, zone), []).append(e)
        week_ids = {w: [e.cluster_id for e in grouped[w]] for w in sorted(grouped, reverse=True)}
    else:
        week_ids = {w: list(ids) for w, ids in archive.weeks.items() if ids}

    def week_entries(week: str) -> list[_Entry]:
        if archive is None:
            return grouped[week]  # already newest first
        loaded = (_entry(s, authority) for s in archive.load(week_ids[week]))
        return sorted(loaded, key=lambda e: e.order, reverse=True)

    digests = sorted({d.issue: d for d in issues}.values(), key=lambda d: d.issue, reverse=True)
    site = Site(
        env=environment(templates_dir),
        title=settings.title,
        names=names,
        timezone=timezone,
        sections=tuple(section_keys(topics)),
        tag_counts=tag_counts,
        primary_tags=tuple(dict.fromkeys([*CORE_TAGS, *topics])),
        weeks={w: len(ids) for w, ids in week_ids.items()},
        issues={d.issue: d.subject for d in digests},
        locale=locale,
        subscribe_url=subscribe_url,
    )
    out = Path(settings.dir)
    written: list[Path] = []
    unchanged: list[Path] = []

    def write(rel: str, data: bytes) -> None:
        path = Path(rel)
        (written if write_atomic(out / path, data, skip_same=True) else unchanged).append(path)

    for feed in feeds:
        write(feed.path("rss"), _rss(feed, names))
        write(feed.path("atom"), _atom(feed, names))
        write(feed.path("json"), _json(feed, names))
        if feed.tag:
            write(feed.path("html"), tag_list_page(site, feed))
    weeks = list(week_ids)
    for i, week in enumerate(weeks):
        chosen = week_entries(week)
        if i == 0:
            front = week_page(site, week, chosen, front=True, updated=feeds[0].updated)
            write(feeds[0].path("html"), front)
        write(archive_page(week), week_page(site, week, chosen, front=False))
    if not weeks:
        write(feeds[0].path("html"), week_page(site, None, [], front=True))
    for d in digests:
        write(issue_page(d.issue), issue_html(site, d, authority, list(site.issues)))
    write(ISSUES_FEED, issues_feed(digests, settings.title, base_url, authority, fallback, locale))
    log.info(
        "publish: %d stories, %d tag feeds, %d files written, %d unchanged (at %s)",
        len(feeds[0].entries),
        len(feeds) - 1,
        len(written),
        len(unchanged),
        now.isoformat(),
    )
    return PublishReport(
        tuple(written),
        tuple(unchanged),
        len(feeds[0].entries),
        tuple(core + others),
        tuple(weeks),
        tuple(site.issues),
    )
