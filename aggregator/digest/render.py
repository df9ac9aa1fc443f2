"""The issue as text and HTML: the entries the templates see, and the Jinja2 renderer.

Templates come from ``aggregator.templating`` (the operator's folder first, then the packaged
defaults; autoescape for HTML, StrictUndefined everywhere). Entries are plain text cleaned by
``aggregator.text``; links are http(s) only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import markupsafe
from babel import Locale, UnknownLocaleError

from ..errors import ConfigError
from ..models import Digest, DigestSection
from ..templating import environment
from ..text import display_excerpt, is_rtl
from . import dates, words
from .hygiene import header_text, safe_link

EXCERPT_CHARS = 280
HTML_TEMPLATE, TEXT_TEMPLATE = "digest.html.j2", "digest.txt.j2"


@dataclass(frozen=True)
class Entry:
    """One story as the templates see it: plain text, already cleaned."""

    title: str
    link: str | None
    source: str
    excerpt: str
    date: str  # its own date, in the digest's zone and locale ("5 December"); else first seen
    dated: bool  # False: ``date`` is when we first saw it (the feed gave none we believe)
    dir: str  # "rtl" | "ltr"
    lang: str
    language: str  # the story's language by name in the digest's locale, "" when it is the same
    coverage: int  # number of outlets
    also_in: tuple[tuple[str, str | None], ...]  # (source, link)
    countries: tuple[str, ...]


def entries(
    section: DigestSection, zone: ZoneInfo | str, locale: str = "en", year: int | None = None
) -> list[Entry]:
    """The section's stories for the templates; dates in ``zone`` and ``locale``, the year
    written only when it is not ``year`` (the issue's)."""
    timezone = str(zone)
    home = Locale.parse(words.language(dates.locale(locale).language))
    out = []
    for story in section.stories:
        it = story.item
        title = header_text(it.title, limit=300) or "(untitled)"
        when, dated = dates.story_date(story)
        local = when.astimezone(ZoneInfo(timezone))
        rtl = is_rtl(title, it.language)
        lang = (it.language or ("ar" if rtl else "")).split("-")[0].lower()
        out.append(
            Entry(
                title=title,
                link=safe_link(it.link),
                source=header_text(it.source, limit=100),
                excerpt=display_excerpt(it.summary, it.content, EXCERPT_CHARS),
                date=dates.day(local.date(), timezone, locale, year=local.year != year),
                dated=dated,
                dir="rtl" if rtl else "ltr",
                lang=lang,
                language=_language_name(lang, home),
                coverage=len(story.sources),
                also_in=tuple(
                    (header_text(o.source, limit=100), safe_link(o.link)) for o in story.also_in
                ),
                countries=story.countries,
            )
        )
    return out


def _language_name(lang: str, home: Locale) -> str:
    """ "French" for ``fr`` in an English digest; "" for the digest's own or an unknown language."""
    if not lang or lang == home.language:
        return ""
    try:
        return Locale.parse(lang).get_language_name(home) or ""
    except (UnknownLocaleError, ValueError):
        return ""


_R_MARK = "rcpt0q7x3k9mark"
_U_MARK = "https://unsub0q7x3k9mark.invalid/"
_P_MARK = "https://prefs0q7x3k9mark.invalid/"


class Renderer:
    """Jinja2 templates: the operator's folder first, then the packaged defaults. Autoescape for
    HTML and StrictUndefined everywhere, so a typo in a template fails loudly, not silently."""

    def __init__(
        self, override_dir: Path | None, timezone: str, *, title: str = "", locale: str = "en"
    ):
        self.env = environment(override_dir)
        self.timezone, self.zone = timezone, ZoneInfo(timezone)
        self.title = title
        self.locale = locale
        dates.locale(locale)  # an unknown locale fails here, before anything is sent
        try:
            self.html = self.env.get_template(HTML_TEMPLATE)
            self.text = self.env.get_template(TEXT_TEMPLATE)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"digest template: {exc}") from exc

    def context(self, digest: Digest) -> dict:
        """The recipient-independent part of the template context."""
        last_day = (digest.end - timedelta(seconds=1)).astimezone(self.zone).date()
        lang = words.language(dates.locale(self.locale).language)
        sections: list[dict] = [
            {
                "key": s.key,
                "title": s.title,
                "entries": entries(s, self.timezone, self.locale, last_day.year),
                "more": s.more,
                "more_url": safe_link(s.more_url) or "",
                "more_name": "" if s.key == "other" else words.short_name(s.key, lang),
            }
            for s in digest.sections
            if s.stories
        ]
        return {
            "issue": digest.issue,
            "week": digest.issue,
            "subject": digest.subject,
            "title": self.title or digest.subject,
            "start": digest.start.astimezone(self.zone).date().isoformat(),
            "end": last_day.isoformat(),
            "dates": dates.date_range(digest.start, digest.end, self.timezone, self.locale),
            "locale": self.locale,
            "lang": lang,  # of the words below (the locale's, or en)
            "labels": words.LABELS[lang],
            "intro": [p for p in digest.intro.split("\n\n") if p.strip()],
            "sections": sections,
            "story_count": sum(len(s["entries"]) for s in sections),
            "empty": digest.empty,
        }

    def render(
        self, context: Mapping, *, recipient: str, unsubscribe_url: str, preferences_url: str = ""
    ) -> tuple[str, str]:
        """(text, html) for one recipient; ``preferences_url`` is their signed preferences page
        ("" for recipients who are not subscribers, such as previews)."""
        ctx = {
            **context,
            "recipient": recipient,
            "unsubscribe_url": unsubscribe_url,
            "preferences_url": preferences_url,
        }
        try:
            return self.text.render(ctx), self.html.render(ctx)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"digest template: {exc}") from exc

    def personaliser(self, context: Mapping) -> Personaliser:
        """``f(recipient, unsubscribe_url, preferences_url) -> (text, html)`` for many
        recipients. Renders once with placeholders and substitutes (escaped for HTML) when a
        probe shows that gives exactly what rendering would; a template that transforms those
        values (a filter, say) is rendered for every recipient instead."""
        return Personaliser(self, context)


class Personaliser:
    """One edition's text and HTML rendered once with placeholders (``marked``), filled per
    recipient; ``substitutes`` says whether filling equals rendering (the probe), so that
    ``MessageFactory.prebuilt`` may also fill the encoded message instead of the text."""

    MARKS = (_R_MARK, _U_MARK, _P_MARK)  # recipient, unsubscribe URL, preferences URL

    def __init__(self, renderer: Renderer, context: Mapping):
        self.renderer, self.context = renderer, context
        self.marked = renderer.render(
            context, recipient=_R_MARK, unsubscribe_url=_U_MARK, preferences_url=_P_MARK
        )
        probe = (
            "o'k+<x>@example.org",
            "https://example.org/u?a=1&token=x.y",
            "https://example.org/preferences?token=p.q",
        )
        self.substitutes = self._fill(*probe) == self._render(*probe)

    def __call__(self, recipient: str, url: str, prefs: str = "") -> tuple[str, str]:
        if self.substitutes and prefs:  # the template may show a preferences line only if set
            return self._fill(recipient, url, prefs)
        return self._render(recipient, url, prefs)

    def _fill(self, recipient: str, url: str, prefs: str) -> tuple[str, str]:
        text, html = self.marked
        esc = markupsafe.escape
        return (
            text.replace(_R_MARK, recipient).replace(_U_MARK, url).replace(_P_MARK, prefs),
            html.replace(_R_MARK, str(esc(recipient)))
            .replace(_U_MARK, str(esc(url)))
            .replace(_P_MARK, str(esc(prefs))),
        )

    def _render(self, recipient: str, url: str, prefs: str) -> tuple[str, str]:
        return self.renderer.render(
            self.context, recipient=recipient, unsubscribe_url=url, preferences_url=prefs
        )
