"""The few words of the digest around the stories, in the digest's language (``digest.locale``).

English and French are written here (a dozen phrases do not call for a message catalogue); any
other locale gets the English words, with its own dates and month names from CLDR. Operators
who want other words override the templates (``digest.templates``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import site

#: Phrases the default templates use; ``{n}``, ``{date}``, ``{language}``, ``{name}`` are filled
#: in the templates with ``str.format``.
LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "story": "story",
        "stories": "stories",
        "first_seen": "first seen {date}",
        "in_language": "in {language}",
        "outlets": "{n} outlets",
        "also_in": "Also in:",
        "more_in": "and {n} more in {name}",
        "more": "and {n} more",
        "empty": "No stories were collected this week.",
        "receive": "You receive this weekly digest at",
        "unsubscribe": "Unsubscribe",
        "preferences": "Choose topics and languages, or pause",
    },
    "fr": {
        "story": "article",
        "stories": "articles",
        "first_seen": "repéré le {date}",
        "in_language": "en {language}",
        "outlets": "{n} médias",
        "also_in": "Aussi dans :",
        "more_in": "et {n} autres dans la rubrique {name}",
        "more": "et {n} autres",
        "empty": "Aucun article n’a été collecté cette semaine.",
        "receive": "Vous recevez cette lettre hebdomadaire à l’adresse",
        "unsubscribe": "Se désabonner",
        "preferences": "Choisir les rubriques et les langues, ou faire une pause",
    },
}
#: Section titles (kept in the frozen issue) and the short names of "more in ..." links.
SECTION_TITLES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "ai-africa": "AI & Africa",
        "ai": "AI",  # as on the site (tag pages, chips) and in "and 3 more in AI"
        "africa": "Africa",
        "other": "Other stories",
    },
    "fr": {
        "ai-africa": "IA & Afrique",
        "ai": "IA",
        "africa": "Afrique",
        "other": "Autres articles",
    },
}
SHORT_NAMES: Mapping[str, Mapping[str, str]] = {
    "en": {},
    "fr": {"ai": "IA", "africa": "Afrique", "ai-africa": "IA & Afrique"},
}


def language(locale_language: str) -> str:
    """The language whose words the digest uses: the locale's, when written here, else "en"."""
    return locale_language if locale_language in LABELS else "en"


def section_title(key: str, lang: str = "en") -> str:
    """A section's heading: the built-in ones in ``lang``; a topic by its tag name."""
    return SECTION_TITLES[language(lang)].get(key) or site.tag_name(key)


def short_name(key: str, lang: str = "en") -> str:
    """What "and 25 more in Africa" calls the section: "AI", "Africa", "Afrique", a topic's name."""
    return SHORT_NAMES[language(lang)].get(key) or site.tag_name(key)
