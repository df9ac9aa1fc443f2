"""Fetched bytes + response headers -> ParsedFeed, with the same items whichever reader ran.

Every body first passes ``guard`` (no DOCTYPE, so no entity, reaches a parser). Then two readers:
the lxml fast path answers when it can promise feedparser's reading of the document, feedparser
reads everything else; a JSON Feed (1.0, 1.1) goes to its own reader (``jsonfeed``); one finishing
step turns any reading into sanitised ParsedItems. ``parse`` is the entry point;
``parse_fast``, ``parse_feedparser`` and ``parse_jsonfeed`` run one reader alone.
"""

from .dispatch import parse, parse_fast, parse_feedparser, parse_jsonfeed
from .finish import MAX_ITEMS
from .universal import FEEDPARSER_MAX_ITEMS
from .xmlguard import guard

__all__ = [
    "FEEDPARSER_MAX_ITEMS",
    "MAX_ITEMS",
    "guard",
    "parse",
    "parse_fast",
    "parse_feedparser",
    "parse_jsonfeed",
]
