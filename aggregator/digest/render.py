"""The issue as text and HTML: the entries the templates see, and the Jinja2 renderer.

Templates come from ``aggregator.templating`` (the operator's folder first, then the packaged
defaults; autoescape for HTML, StrictUndefined everywhere). Entries are plain text cleaned by
``aggregator.text``; links are http(s) only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import markupsafe

from ..errors import ConfigError
from ..models import Digest, DigestSection
from ..templating import environment
from ..text import excerpt, is_rtl
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
    date: str  # first seen, local date, YYYY-MM-DD
    dir: str  # "rtl" | "ltr"
    lang: str
    coverage: int  # number of outlets
    also_in: tuple[tuple[str, str | None], ...]  # (source, link)
    countries: tuple[str, ...]


def entries(section: DigestSection, zone: ZoneInfo) -> list[Entry]:
    out = []
    for story in section.stories:
        it = story.item
        title = header_text(it.title, limit=300) or "(untitled)"
        seen = (story.first_seen or it.first_seen).astimezone(zone)
        rtl = is_rtl(title, it.language)
        out.append(
            Entry(
                title=title,
                link=safe_link(it.link),
                source=header_text(it.source, limit=100),
                excerpt=excerpt(it.summary or it.content, EXCERPT_CHARS),
                date=seen.date().isoformat(),
                dir="rtl" if rtl else "ltr",
                lang=(it.language or ("ar" if rtl else "")).split("-")[0],
                coverage=len(story.sources),
                also_in=tuple(
                    (header_text(o.source, limit=100), safe_link(o.link)) for o in story.also_in
                ),
                countries=story.countries,
            )
        )
    return out


_R_MARK = "rcpt0q7x3k9mark"
_U_MARK = "https://unsub0q7x3k9mark.invalid/"


class Renderer:
    """Jinja2 templates: the operator's folder first, then the packaged defaults. Autoescape for
    HTML and StrictUndefined everywhere, so a typo in a template fails loudly, not silently."""

    def __init__(self, override_dir: Path | None, timezone: str, *, title: str = ""):
        self.env = environment(override_dir)
        self.zone = ZoneInfo(timezone)
        self.title = title
        try:
            self.html = self.env.get_template(HTML_TEMPLATE)
            self.text = self.env.get_template(TEXT_TEMPLATE)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"digest template: {exc}") from exc

    def context(self, digest: Digest) -> dict:
        """The recipient-independent part of the template context."""
        last_day = (digest.end - timedelta(seconds=1)).astimezone(self.zone).date()
        sections = [
            {"key": s.key, "title": s.title, "entries": entries(s, self.zone)}
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
            "sections": sections,
            "story_count": sum(len(s["entries"]) for s in sections),
            "empty": digest.empty,
        }

    def render(self, context: Mapping, *, recipient: str, unsubscribe_url: str) -> tuple[str, str]:
        """(text, html) for one recipient."""
        ctx = {**context, "recipient": recipient, "unsubscribe_url": unsubscribe_url}
        try:
            return self.text.render(ctx), self.html.render(ctx)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"digest template: {exc}") from exc

    def personaliser(self, context: Mapping) -> Callable[[str, str], tuple[str, str]]:
        """``f(recipient, unsubscribe_url) -> (text, html)`` for many recipients. Renders once
        with placeholders and substitutes (escaped for HTML) when a probe shows that gives
        exactly what rendering would; a template that transforms those values (a filter, say)
        is rendered for every recipient instead."""
        text, html = self.render(context, recipient=_R_MARK, unsubscribe_url=_U_MARK)

        def fast(recipient: str, url: str) -> tuple[str, str]:
            return (
                text.replace(_R_MARK, recipient).replace(_U_MARK, url),
                html.replace(_R_MARK, str(markupsafe.escape(recipient))).replace(
                    _U_MARK, str(markupsafe.escape(url))
                ),
            )

        def slow(recipient: str, url: str) -> tuple[str, str]:
            return self.render(context, recipient=recipient, unsubscribe_url=url)

        probe = ("o'k+<x>@example.org", "https://example.org/u?a=1&token=x.y")
        return fast if fast(*probe) == slow(*probe) else slow
