"""One issue's content: the week window, what is news, the sections, who makes the cut, the subject.

**Window.** A story belongs to the ISO week (in the digest's time zone) in which it was first
seen, because first-seen never changes while publisher dates shift. One exception: a story whose
own publication date is older than the week's start by more than ``grace`` is *backlog* (a feed's
archive seen for the first time, typically right after a source is added) and stays out.

**Sections.** A story appears in one section only, the first of: AI and Africa together, AI,
Africa, operator topics, other ("other" only when configured).

**Who makes the cut** (``rank_key``, ``pick``): within a section, most outlets first, then the
strongest evidence for the section's tags (``relevance``), then the newest by its own date;
cluster id last, so ties never follow fetch order. At most ``per_outlet`` stories of one outlet
per section; when a section's stories come in several languages, each language gets at least
one slot (the lowest-ranked story of a language with several picks gives way). What did not
make it is counted in ``DigestSection.more`` and linked to the tag's page.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from .. import i18n, site
from ..errors import ConfigError
from ..models import Digest, DigestSection, Story
from ..text import clean_chars, primary_language
from . import words
from .dates import date_range, story_date
from .dates import locale as babel_locale
from .hygiene import header_text

AI, AFRICA = "ai", "africa"
BUILTIN_SECTIONS = dict(i18n.SECTION_TITLES["en"])
#: The tags whose evidence ranks a section's stories (a topic section: the topic itself).
_SECTION_TAGS = {"ai-africa": (AI, AFRICA), "other": ()}
#: Relevance weights, mirroring the tagger's features (tagging/features.py): distinct terms
#: found in the title (at most 2 count) weigh twice a mention in the summary (present or not).
TITLE_WEIGHT, TITLE_TERMS, SUMMARY_WEIGHT = 2, 2, 1
INTRO_CHARS = 2000

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


def backlog_cutoff(start: datetime, grace: timedelta) -> datetime:
    """Stories published before this instant are backlog in the week starting at ``start``."""
    return start - grace


def split_backlog(
    stories: Iterable[Story], start: datetime, grace: timedelta | None
) -> tuple[list[Story], list[Story]]:
    """``(news, backlog)`` of the stories first seen in the week starting at ``start``: backlog
    is what was published more than ``grace`` before the week (undated stories are news)."""
    news: list[Story] = []
    backlog: list[Story] = []
    for story in stories:
        when, dated = story_date(story)
        old = grace is not None and dated and when < backlog_cutoff(start, grace)
        (backlog if old else news).append(story)
    return news, backlog


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


def relevance(story: Story, key: str) -> int:
    """How strongly the representative item is about section ``key``'s tags, from the reasons
    the tagger stored (``Item.why``, "title:term" / "summary:term" / "source:tag"); the tagger
    keeps no numeric score, so this proxy reads where the evidence is: ``TITLE_WEIGHT`` per
    distinct title term (at most ``TITLE_TERMS``) plus ``SUMMARY_WEIGHT`` if the summary names
    it. A tag applied by the source ("source:") is no evidence about this story: it counts 0."""
    score = 0
    for tag in _SECTION_TAGS.get(key, (key,)):
        reasons = story.item.why.get(tag, ())
        title = {r.partition(":")[2].casefold() for r in reasons if r.startswith("title:")}
        summary = any(r.startswith("summary:") for r in reasons)
        score += TITLE_WEIGHT * min(len(title), TITLE_TERMS) + SUMMARY_WEIGHT * summary
    return score


def rank_key(story: Story, key: str = "") -> tuple:
    """Most outlets first, then the strongest evidence for section ``key``, then the newest by
    its own date (first seen when undated), then the highest cluster id (never fetch order)."""
    when, _ = story_date(story)
    return (-len(story.sources), -relevance(story, key), -when.timestamp(), -story.cluster_id)


def language_of(story: Story) -> str:
    """The story's primary language subtag ("fr"), "" when unknown."""
    return primary_language(story.item.language)


def pick(ranked: Sequence[Story], n: int, per_outlet: int = 0) -> list[Story]:
    """The first ``n`` of ``ranked`` with at most ``per_outlet`` per outlet (0: no cap), then a
    slot for every language of ``ranked`` that got none: its best story that the outlet cap
    allows replaces the lowest-ranked pick of a language that has several. Ranked order kept."""
    if n <= 0:
        return []
    picked: list[Story] = []
    count: Counter[str] = Counter()

    def full(source: str) -> bool:
        return per_outlet > 0 and count[source] >= per_outlet

    for story in ranked:
        if len(picked) == n:
            break
        if not full(story.item.source):
            picked.append(story)
            count[story.item.source] += 1
    languages = list(dict.fromkeys(lang for s in ranked if (lang := language_of(s))))
    for lang in languages:
        if any(language_of(p) == lang for p in picked):
            continue
        same = [s for s in ranked if language_of(s) == lang]
        best = next((s for s in same if not full(s.item.source)), same[0])
        src = best.item.source
        if len(picked) >= n or full(src):
            per_lang = Counter(language_of(p) for p in picked)
            victim = next(
                (p for p in reversed(picked)
                 if per_lang[language_of(p)] > 1 and (not full(src) or p.item.source == src)),
                None,
            )  # fmt: skip
            if victim is None:  # fewer slots than languages
                continue
            picked.remove(victim)
            count[victim.item.source] -= 1
        picked.append(best)
        count[src] += 1
    order = {id(s): i for i, s in enumerate(ranked)}
    return sorted(picked, key=lambda s: order[id(s)])


def select_sections(
    stories: Iterable[Story],
    *,
    topics: Iterable[str],
    per_section: int,
    include_other: bool,
    per_outlet: int = 0,
    base_url: str = "",
    lang: str = "en",
) -> tuple[DigestSection, ...]:
    """The issue's sections (titled in ``lang``), each with its picks, how many more it had and
    (with ``base_url``) the address of the tag page that lists them all."""
    keys = section_keys(topics, include_other)
    buckets: dict[str, list[Story]] = {k: [] for k in keys}
    for story in stories:
        key = section_of(story, keys)
        if key is not None:
            buckets[key].append(story)
    out = []
    for key in keys:
        ranked = sorted(buckets[key], key=partial(rank_key, key=key))
        picked = pick(ranked, per_section, per_outlet)
        if not picked:
            continue
        more = len(ranked) - len(picked)
        linked = more and base_url and key != "other"
        link = site.url(base_url, site.tag_page(key)) if linked else ""
        out.append(DigestSection(key, section_title(key, lang), tuple(picked), more, link))
    return tuple(out)


def section_title(key: str, lang: str = "en") -> str:
    return words.section_title(key, lang)


def clean_intro(text: str) -> str:
    """The editor's note as kept in the issue: plain text, paragraphs split by a blank line,
    line ends normalised, invisible characters dropped, at most ``INTRO_CHARS``."""
    text = clean_chars(text.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)[:INTRO_CHARS].strip()


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
    grace: timedelta | None = None,
    per_outlet: int = 0,
    base_url: str = "",
    intro: str = "",
    locale: str = "en",
) -> Digest:
    """A digest of ``stories`` (those first seen in [start, end)), backlog left out when
    ``grace`` is given; ``subject`` is the template from config with ``{week}`` (2026-W50),
    ``{dates}`` ("7 to 13 December 2026", the week's days in ``timezone`` and ``locale``),
    ``{count}`` and ``{top}`` (the first story's title)."""
    news, _ = split_backlog(stories, start, grace)
    sections = select_sections(news, topics=topics, per_section=per_section,
                               include_other=include_other, per_outlet=per_outlet,
                               base_url=base_url,
                               lang=babel_locale(locale).language)  # fmt: skip
    text = render_subject(subject, issue, start, end, sections, timezone, locale)
    return Digest(issue, start, end, text, sections, clean_intro(intro), locale=locale)


def render_subject(
    template: str,
    issue: str,
    start: datetime,
    end: datetime,
    sections: Sequence[DigestSection],
    timezone: str = "UTC",
    locale: str = "en",
) -> str:
    """The subject line: ``template`` with ``{week}``, ``{dates}``, ``{count}`` (the stories of
    ``sections``: an edition counts its own) and ``{top}`` (its first story's title)."""
    first = next((s.stories[0] for s in sections if s.stories), None)
    values = {
        "week": issue,
        "dates": date_range(start, end, timezone, locale),
        "count": str(sum(len(s.stories) for s in sections)),
        "top": first.item.title if first else "",
    }
    text = _SUBJECT_FIELD.sub(lambda m: values[m[1]], template)
    return header_text(text) or issue
