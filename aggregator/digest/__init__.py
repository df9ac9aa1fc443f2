"""The weekly digest: pick the week's stories, rank them, render them, build the email.

Pure functions over models: no store, no SMTP; ``service.sending`` wires this to the store and the
mailer. ``issue`` chooses the week, what is news and its sections, ``dates`` writes dates in the
digest's zone and language, ``render`` turns them into text and HTML,
``message`` into MIME bytes per recipient; ``hygiene`` keeps header text and links safe.
"""

from .dates import date_range, day, locale, story_date
from .editions import FULL, Choice, choice, edition
from .hygiene import header_text, safe_link
from .issue import (
    AFRICA,
    AI,
    BUILTIN_SECTIONS,
    backlog_cutoff,
    build_digest,
    clean_intro,
    language_of,
    pick,
    rank_key,
    relevance,
    render_subject,
    resolve_week,
    section_keys,
    section_of,
    section_title,
    select_sections,
    split_backlog,
)
from .message import (
    WIRE_POLICY,
    MessageFactory,
    Prebuilt,
    address_domain,
    compose,
    list_id,
    message_id,
)
from .message import _qp as _qp
from .render import (
    EXCERPT_CHARS,
    HTML_TEMPLATE,
    TEXT_TEMPLATE,
    Entry,
    Personaliser,
    Renderer,
    entries,
)

__all__ = [
    "AFRICA",
    "AI",
    "BUILTIN_SECTIONS",
    "EXCERPT_CHARS",
    "FULL",
    "HTML_TEMPLATE",
    "TEXT_TEMPLATE",
    "WIRE_POLICY",
    "Choice",
    "Entry",
    "MessageFactory",
    "Personaliser",
    "Prebuilt",
    "Renderer",
    "address_domain",
    "backlog_cutoff",
    "build_digest",
    "choice",
    "clean_intro",
    "compose",
    "date_range",
    "day",
    "edition",
    "entries",
    "header_text",
    "language_of",
    "list_id",
    "locale",
    "message_id",
    "pick",
    "rank_key",
    "relevance",
    "render_subject",
    "resolve_week",
    "safe_link",
    "section_keys",
    "section_of",
    "section_title",
    "select_sections",
    "split_backlog",
    "story_date",
]
