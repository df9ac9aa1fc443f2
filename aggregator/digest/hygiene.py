"""What may reach an email from a feed: one-line header text and http(s) links only.

Shared by the selection (the subject), the templates' entries and the message headers, so a
CR/LF or a control character in a title can never become a header of its own.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..text import one_line


def header_text(value: str, limit: int = 200) -> str:
    """One line of text safe for a header (see ``text.one_line``), at most ``limit`` characters."""
    return one_line(value, limit)


def safe_link(url: str | None) -> str | None:
    """Only http(s) links reach the email."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") and not any(c.isspace() for c in url) else None
