"""The few words of the digest around the stories, in the digest's language (``digest.locale``).

English and French are written here (a dozen phrases do not call for a message catalogue); any
other locale gets the English words, with its own dates and month names from CLDR. Operators
who want other words override the templates (``digest.templates``). Section titles and the
built-in tags' names are ``aggregator.i18n``'s, shared with the published site.
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import i18n

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


def language(locale_language: str) -> str:
    """The language whose words the digest uses: the locale's, when written here, else "en"."""
    return locale_language if locale_language in LABELS else "en"


def section_title(key: str, lang: str = "en") -> str:
    """A section's heading: the built-in ones in ``lang``; a topic by its tag name."""
    return i18n.section_title(key, language(lang))


def short_name(key: str, lang: str = "en") -> str:
    """What "and 25 more in Africa" calls the section: "AI", "Africa", "Afrique", a topic's name."""
    return i18n.short_name(key, language(lang))
