"""Editions: the part of a frozen issue that one subscriber's choice of topics and languages asks
for. A pure function of (issue, choice): every subscriber with the same choice gets the same
edition, so the sender renders once per distinct choice, however many subscribers share it.

**Topics.** A story is in an edition when the subscriber chose its section (``ai-africa`` counts
as both ``ai`` and ``africa``) or one of its tags or countries (a country tag such as
``morocco``). The "other" section has no tag of its own: only its tagged stories can match.
**Languages.** A story is in when its primary language is one chosen; a story of unknown
language is left out of an edition that names languages (it may be in none of them).
No topics means every section, no languages every language; both empty is the issue itself.
Sections keep their order, titles and "more" links (to the tag page, which lists everything);
sections left with no story are dropped. The subject is the same template with ``{count}`` and
``{top}`` of the edition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..models import Digest, Story
from .issue import AFRICA, AI, language_of, render_subject

FULL = "all"


@dataclass(frozen=True)
class Choice:
    """A normalised choice: sorted, lower-case, without repeats; empty means everything."""

    topics: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The edition's name in the ledger: ``all``, or ``topics=ai+morocco;languages=fr``."""
        if not self.topics and not self.languages:
            return FULL
        parts = []
        if self.topics:
            parts.append("topics=" + "+".join(self.topics))
        if self.languages:
            parts.append("languages=" + "+".join(self.languages))
        return ";".join(parts)


def choice(topics: Iterable[str] = (), languages: Iterable[str] = ()) -> Choice:
    """The normalised choice of a subscriber (languages by primary subtag: ``fr-MA`` is ``fr``)."""
    t = sorted({x.strip().lower() for x in topics if x.strip()})
    langs = sorted({x.strip().lower().split("-")[0] for x in languages if x.strip()})
    return Choice(tuple(t), tuple(langs))


def _wanted_topic(section: str, story: Story, topics: frozenset[str]) -> bool:
    keys = {AI, AFRICA} if section == "ai-africa" else {section}
    return bool(topics & (keys | set(story.tags) | set(story.countries)))


def edition(
    digest: Digest, chosen: Choice, *, subject: str, timezone: str = "UTC", locale: str = "en"
) -> Digest:
    """The edition of ``digest`` for ``chosen`` (``digest`` itself for the full choice);
    ``subject`` is the subject template (``digest.subject``), filled for the edition."""
    if chosen.key == FULL:
        return digest
    topics, languages = frozenset(chosen.topics), frozenset(chosen.languages)
    sections = []
    for section in digest.sections:
        kept = tuple(
            s
            for s in section.stories
            if (not topics or _wanted_topic(section.key, s, topics))
            and (not languages or language_of(s) in languages)
        )
        if kept:
            sections.append(replace(section, stories=kept))
    text = render_subject(
        subject, digest.issue, digest.start, digest.end, sections, timezone, locale
    )
    return replace(digest, subject=text, sections=tuple(sections))


__all__ = ["FULL", "Choice", "choice", "edition"]
