"""The weekly digest: pick the week's stories, rank them, render them, build the email.

Pure functions over models: no store, no SMTP; ``service.sending`` wires this to the store and the
mailer. ``issue`` chooses the week and its sections, ``render`` turns them into text and HTML,
``message`` into MIME bytes per recipient; ``hygiene`` keeps header text and links safe.
"""

from .hygiene import header_text, safe_link
from .issue import (
    AFRICA,
    AI,
    BUILTIN_SECTIONS,
    build_digest,
    date_range,
    rank_key,
    resolve_week,
    section_keys,
    section_of,
    section_title,
    select_sections,
)
from .message import (
    WIRE_POLICY,
    MessageFactory,
    address_domain,
    compose,
    list_id,
    message_id,
)
from .message import _qp as _qp
from .render import EXCERPT_CHARS, HTML_TEMPLATE, TEXT_TEMPLATE, Entry, Renderer, entries

__all__ = [
    "AFRICA",
    "AI",
    "BUILTIN_SECTIONS",
    "EXCERPT_CHARS",
    "HTML_TEMPLATE",
    "TEXT_TEMPLATE",
    "WIRE_POLICY",
    "Entry",
    "MessageFactory",
    "Renderer",
    "address_domain",
    "build_digest",
    "compose",
    "date_range",
    "entries",
    "header_text",
    "list_id",
    "message_id",
    "rank_key",
    "resolve_week",
    "safe_link",
    "section_keys",
    "section_of",
    "section_title",
    "select_sections",
]
