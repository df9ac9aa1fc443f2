"""``publish()``: choose the stories of each feed, render every format, write what changed.

One entry per cluster, newest first by the item's own date (first-seen time when it has none,
or one in the future), then first seen, then cluster id; the combined feed plus one feed per tag
(``ai``, ``africa`` and ``ai-africa`` always exist). Files go through
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

from ..files import write_atomic
from ..models import Story
from ..settings import OutputSettings
from ..site import tag_name
from ..templating import environment
from .entries import _Entry, _entry, _Feed
from .feeds import _atom, _json, _rss
from .page import _html

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
) -> PublishReport:
    """Write every output for ``stories`` into ``settings.dir`` and say what changed.

    Each feed holds its ``settings.max_items`` newest stories by date (``_Entry.order``).
    ``now`` is only logged: the files must not change when the stories do not. Tags become
    feeds when a story carries them; ``ai``, ``africa`` and ``ai-africa`` (stories with both)
    always exist. Entry ids use ``id_authority`` (default: the base URL's host).
    """
    names = dict(tag_names or {})
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
        len(feeds[0].entries),
        len(feeds) - 1,
        len(written),
        len(unchanged),
        now.isoformat(),
    )
    return PublishReport(
        tuple(written), tuple(unchanged), len(feeds[0].entries), tuple(core + others)
    )
