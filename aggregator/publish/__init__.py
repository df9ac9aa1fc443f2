"""Republish stories as RSS 2.0, Atom 1.0, JSON Feed 1.1 and HTML pages, combined and per tag;
a front page of this week in sections, a page per past week, past digest issues on the web.

Subscribers poll these files with conditional GETs, so every output is a pure function of the
stories and a file whose bytes did not change is not rewritten. ``entries`` builds the one view
of a story every format shares, ``feeds`` writes RSS/Atom/JSON Feed, ``weeks`` places stories
in weeks and sections, ``page`` the HTML pages, ``issues`` the digest issues and their feed,
and ``run`` holds ``publish()``, which picks each feed's stories and writes the files.
"""

from ..files import write_atomic as write_atomic  # imported from here by older callers
from .entries import _entry as _entry
from .entries import _uri as _uri
from .page import chrome
from .run import CORE_TAGS, PublishReport, default_id_authority, publish
from .weeks import Archive, StoryTimes, archive_weeks

__all__ = [
    "CORE_TAGS",
    "Archive",
    "PublishReport",
    "StoryTimes",
    "archive_weeks",
    "chrome",
    "default_id_authority",
    "publish",
]
