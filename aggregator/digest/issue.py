"""One issue's content: the week window, the sections, the order inside a section, the subject.

The window is the ISO week in the digest's time zone measured by first-seen time, because
publisher dates are often wrong or shifting while first-seen never changes. A story appears
in one section only, the first of: AI and Africa together, AI, Africa, operator topics, other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..errors import ConfigError
from ..models import Digest, DigestSection, Story
from .hygiene import header_text

AI, AFRICA = "ai", "africa"
BUILTIN_SECTIONS = {
    "ai-africa": "AI & Africa",
    "ai": "Artificial intelligence",
    "africa": "Africa",
    "other": "Other stories",
}

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_SUBJECT_FIELD = re.compile(r"\{(week|dates|top|count)\}")


# ---- the issue window --------------------------------------------------------------------


def resolve_week(spec: str | None, tz: str, now: datetime) -> tuple[str, datetime, datetime]:
    """``(issue, start_utc, end_utc)`` of ISO week ``spec`` ("2026-W48") in time zone ``tz``;
    without ``spec``, the last complete week before ``now``. ``end`` is exclusive."""
    zone = ZoneInfo(tz)
    if spec is None:
        local = now.astimezone(zone).date() - timedelta(days=7)
        year, week, _ = local.isocalendar()
    else:
        m = _WEEK_RE.match(spec.strip())
        if not m:
            raise ConfigError(f"--week {spec!r}: expected an ISO week such as 2026-W48")
        year, week = int(m[1]), int(m[2])
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise ConfigError(f"--week {spec!r}: {year} has no week {week}") from exc
    start = datetime.combine(monday, time(0), zone).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), time(0), zone).astimezone(UTC)
    return f"{year:04d}-W{week:02d}", start, end


def date_range(start: datetime, end: datetime, timezone: str) -> str:
    """The days of [start, end) in ``timezone``, as a reader writes them: "7 to 13 December
    2026", "30 November to 6 December 2026", "29 December 2026 to 4 January 2027"."""
    zone = ZoneInfo(timezone)
    first = start.astimezone(zone).date()
    last = (end.astimezone(zone) - timedelta(microseconds=1)).date()
    if first.year != last.year:
        head = f"{first.day} {first:%B %Y}"
    elif first.month != last.month:
        head = f"{first.day} {first:%B}"
    else:
        head = str(first.day)
    return f"{head} to {last.day} {last:%B %Y}"


# ---- selection -----------------------------------------------------------------------------


def section_keys(topics: Iterable[str], include_other: bool) -> list[str]:
    """Section order: AI and Africa together, AI, Africa, operator topics, then "other"."""
    keys = ["ai-africa", AI, AFRICA]
    keys += [t for t in topics if t not in BUILTIN_SECTIONS and t not in keys]
    return keys + (["other"] if include_other else [])


def section_of(story: Story, keys: Sequence[str]) -> str | None:
    """The first section of ``keys`` that ``story`` belongs to (a story appears once)."""
    tags = set(story.tags)
    both = AI in tags and AFRICA in tags
    for key in keys:
        if key == "ai-africa":
            if both:
                return key
        elif key == "other" or key in tags:
            return key
    return None


def rank_key(story: Story) -> tuple:
    """Most outlets first, then most recent, then a stable tie-break."""
    seen = story.first_seen or story.item.first_seen
    return (-len(story.sources), -seen.timestamp(), -story.cluster_id)


def select_sections(
    stories: Iterable[Story], *, topics: Iterable[str], per_section: int, include_other: bool
) -> tuple[DigestSection, ...]:
    keys = section_keys(topics, include_other)
    buckets: dict[str, list[Story]] = {k: [] for k in keys}
    for story in stories:
        key = section_of(story, keys)
        if key is not None:
            buckets[key].append(story)
    out = []
    for key in keys:
        picked = sorted(buckets[key], key=rank_key)[: max(per_section, 0)]
        if picked:
            out.append(DigestSection(key, section_title(key), tuple(picked)))
    return tuple(out)


def section_title(key: str) -> str:
    return BUILTIN_SECTIONS.get(key) or key.replace("-", " ").replace("_", " ").capitalize()


def build_digest(
    issue: str,
    start: datetime,
    end: datetime,
    stories: Iterable[Story],
    *,
    subject: str,
    topics: Iterable[str] = (),
    per_section: int = 10,
    include_other: bool = False,
    timezone: str = "UTC",
) -> Digest:
    """A digest of ``stories`` (those first seen in [start, end)); ``subject`` is the template
    from config with ``{week}`` (2026-W50), ``{dates}`` ("7 to 13 December 2026", the week's
    days in ``timezone``), ``{count}`` and ``{top}`` (the first story's title)."""
    sections = select_sections(
        stories, topics=topics, per_section=per_section, include_other=include_other
    )
    first = next((s.stories[0] for s in sections if s.stories), None)
    values = {
        "week": issue,
        "dates": date_range(start, end, timezone),
        "count": str(sum(len(s.stories) for s in sections)),
        "top": first.item.title if first else "",
    }
    text = _SUBJECT_FIELD.sub(lambda m: values[m[1]], subject)
    return Digest(issue, start, end, header_text(text) or issue, sections)
