"""Dates as a reader of the digest writes them, in its time zone and language (``digest.locale``).

The formatting itself (Babel, CLDR names, the hand-written spans of English and French) lives in
``aggregator.i18n``, shared with the published site; here is what only the digest needs.

A story's own date is ``Item.own_date``, the rule the published feeds use; an undated story shows
when it was first seen, marked as such.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..i18n import date_range, day, locale
from ..models import Story

__all__ = ["date_range", "day", "locale", "story_date"]


def story_date(story: Story) -> tuple[datetime, bool]:
    """``(when, dated)``: the story's own date, or ``(first seen, False)`` when it has none."""
    own = story.item.own_date
    if own is not None:
        return own, True
    return _utc(story.first_seen or story.item.first_seen), False


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
