"""Fetched bytes + response headers -> ParsedFeed, with the same items whichever reader ran.

Every body first passes ``guard`` (no DOCTYPE, so no entity, reaches a parser). Then two readers:
the lxml fast path answers when it can promise feedparser's reading of the document, feedparser
reads everything else; one finishing step turns either reading into sanitised ParsedItems.
``parse`` is the entry point; ``parse_fast`` and ``parse_feedparser`` run one reader alone.
"""

from .dispatch import parse, parse_fast, parse_feedparser
from .finish import MAX_ITEMS
from .universal import FEEDPARSER_MAX_ITEMS
from .xmlguard import guard

__all__ = ["FEEDPARSER_MAX_ITEMS", "MAX_ITEMS", "guard", "parse", "parse_fast", "parse_feedparser"]
