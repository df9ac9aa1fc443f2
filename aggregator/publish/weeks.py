"""Weeks and sections of the web pages: which ISO week a story belongs to, in which section of
the front page it appears, and how dates read in the configured time zone.

A story belongs to the ISO week, in the site's time zone, of its display date: its own
publication date when believable, else when it was first seen (``entries.display_time``). The
front page shows the newest such week; ``archive/2026-W50.html`` every week that has stories.
Sections follow the digest's order (AI & Africa, AI, Africa, the operator's topics, then the
rest), each story in the first that fits, so the page and the mail read alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .. import i18n
from ..models import Story
from ..site import tag_name
from .entries import _Entry, display_time

#: ``(cluster id, published, updated, item first seen, item last seen, story first seen)``, as
#: ``Store.story_times()`` gives them.
StoryTimes = tuple[int, datetime | None, datetime | None, datetime, datetime, datetime]

OTHER = "other"


@dataclass(frozen=True)
class Archive:
    """Every week that has stories (newest first) with its stories' cluster ids, and how to load
    stories: the service reads them from the store one week at a time."""

    weeks: Mapping[str, Sequence[int]]
    load: Callable[[Sequence[int]], Sequence[Story]]


def week_of(when: datetime, zone: ZoneInfo) -> str:
    """The ISO week of ``when`` in ``zone``, e.g. ``2026-W50``."""
    year, week, _ = when.astimezone(zone).isocalendar()
    return f"{year:04d}-W{week:02d}"


def archive_weeks(times: Iterable[StoryTimes], timezone: str) -> dict[str, list[int]]:
    """Cluster ids by week, newest week first (ids ascending inside a week)."""
    zone = ZoneInfo(timezone)
    weeks: dict[str, list[int]] = {}
    for cid, published, updated, first, last, story_first in times:
        when = display_time(published, updated, first, last, story_first)
        weeks.setdefault(week_of(when, zone), []).append(cid)
    return {w: sorted(weeks[w]) for w in sorted(weeks, reverse=True)}


def _monday(week: str) -> date:
    year, num = week.split("-W")
    return date.fromisocalendar(int(year), int(num), 1)


def week_label(week: str, loc: str = "en") -> str:
    """The days of ``week`` as a reader writes them: "7 to 13 December 2026", "30 November to 6
    December 2026", "7 au 13 décembre 2026" (``i18n.days``)."""
    first = _monday(week)
    return i18n.days(first, first + timedelta(days=6), loc)


def short_week_label(week: str, loc: str = "en") -> str:
    """A compact label for lists of weeks: "7–13 Dec 2026", "30 Nov – 6 Dec 2026"."""
    first = _monday(week)
    return i18n.short_days(first, first + timedelta(days=6), loc)


def local_label(when: datetime, zone: ZoneInfo, loc: str = "en") -> str:
    """A date and time as readers of the site read it, in its time zone and language: "Sat 12
    Dec 2026, 14:05", "sam. 12 déc. 2026, 14:05" (whatever the machine's locale)."""
    return i18n.moment(when, str(zone), loc)


def section_keys(topics: Iterable[str]) -> list[str]:
    """AI & Africa, AI, Africa, the operator's topics in config order, then the rest."""
    keys = ["ai-africa", "ai", "africa"]
    keys += [t for t in topics if t not in keys and t != OTHER]
    return [*keys, OTHER]


def section_of(entry: _Entry, keys: Sequence[str]) -> str:
    """The first section of ``keys`` that fits ``entry`` (a story appears once on a page)."""
    tags = set(entry.tags)
    for key in keys:
        if key == "ai-africa":
            if {"ai", "africa"} <= tags:
                return key
        elif key in tags:
            return key
    return OTHER


def section_title(key: str, names: Mapping[str, str], loc: str = "en") -> str:
    """A section's heading on the pages: "Other stories" in ``loc``, else the tag's name."""
    return i18n.section_title(OTHER, loc) if key == OTHER else tag_name(key, names)


def in_sections(entries: Sequence[_Entry], keys: Sequence[str]) -> list[tuple[str, list[_Entry]]]:
    """``entries`` (already newest first) split into non-empty sections, in ``keys`` order."""
    buckets: dict[str, list[_Entry]] = {k: [] for k in keys}
    for e in entries:
        buckets[section_of(e, keys)].append(e)
    return [(k, v) for k, v in buckets.items() if v]
