"""Where things live on the published site, and what tags are called: one owner for both.

The publisher writes these paths, the front page links to them and the digest points readers at
them ("and 25 more in Africa →"), so the three cannot be allowed to disagree. Paths are relative
to ``output.dir``; ``url()`` joins them to ``output.base_url``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin

#: Names of the built-in tags; a config topic's ``name`` or the slug title-cased otherwise.
DEFAULT_TAG_NAMES = {"ai": "AI", "africa": "Africa", "ai-africa": "AI & Africa"}

#: File names of the combined feed, and suffixes of a tag's files under ``tags/``, by kind.
COMBINED = {"rss": "feed.xml", "atom": "atom.xml", "json": "feed.json", "html": "index.html"}
TAG_SUFFIX = {"rss": "xml", "atom": "atom", "json": "json", "html": "html"}

#: The feed of past digest issues published as web pages.
ISSUES_FEED = "issues.xml"


def tag_name(tag: str, names: Mapping[str, str] | None = None) -> str:
    """What readers see for ``tag``: the operator's name, the built-in one, or the slug."""
    if names and tag in names:
        return names[tag]
    if tag in DEFAULT_TAG_NAMES:
        return DEFAULT_TAG_NAMES[tag]
    return tag.replace("-", " ").title()


def feed_path(tag: str | None, kind: str) -> str:
    """``feed.xml`` / ``tags/morocco.xml``... for ``kind`` in rss, atom, json, html."""
    return f"tags/{tag}.{TAG_SUFFIX[kind]}" if tag else COMBINED[kind]


def tag_page(tag: str) -> str:
    return feed_path(tag, "html")


def archive_page(week: str) -> str:
    """The page of one past week's stories, e.g. ``archive/2026-W50.html``."""
    return f"archive/{week}.html"


def issue_page(week: str) -> str:
    """A past digest issue as a web page, e.g. ``issues/2026-W50.html``."""
    return f"issues/{week}.html"


def base(base_url: str) -> str:
    """``base_url`` with exactly one trailing slash, so relative paths join below it."""
    return base_url if base_url.endswith("/") else base_url + "/"


def url(base_url: str, path: str) -> str:
    """The absolute address of ``path`` on the site at ``base_url``."""
    return urljoin(base(base_url), path)


__all__ = [
    "COMBINED",
    "DEFAULT_TAG_NAMES",
    "ISSUES_FEED",
    "TAG_SUFFIX",
    "archive_page",
    "base",
    "feed_path",
    "issue_page",
    "tag_name",
    "tag_page",
    "url",
]
