"""Dates as a reader of the digest writes them, in its time zone and language (``digest.locale``).

Month and weekday names come from CLDR through Babel, so any locale it knows works. The span of
the week is phrased by hand for English ("7 to 13 December 2026") and French ("7 au 13 décembre
2026"), whose editors write it that way rather than CLDR's "7–13"; other locales get CLDR's own
interval ("7–13 ديسمبر 2026").

A story's own date is ``Item.own_date``, the rule the published feeds use; an undated story shows
when it was first seen, marked as such.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval

from ..errors import ConfigError
from ..models import Story

#: How the span of two days is joined, for the languages whose editors do not write CLDR's dash.
_SPAN = {"en": "{a} to {b}", "fr": "{a} au {b}"}


@functools.cache
def locale(name: str) -> Locale:
    """The Babel locale of ``name`` ("en", "fr", "ar", "fr-MA"); a ConfigError if unknown."""
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"digest.locale {name!r}: unknown locale (use a language code such as en, fr, ar)"
        ) from exc


def story_date(story: Story) -> tuple[datetime, bool]:
    """``(when, dated)``: the story's own date, or ``(first seen, False)`` when it has none."""
    own = story.item.own_date
    if own is not None:
        return own, True
    return _utc(story.first_seen or story.item.first_seen), False


def day(moment: datetime | date, timezone: str, loc: str, *, year: bool = True) -> str:
    """One day as a reader writes it: "5 December 2026", "5 décembre" (``year=False``)."""
    d = moment.astimezone(ZoneInfo(timezone)).date() if isinstance(moment, datetime) else moment
    return _day(d, locale(loc), year)


def date_range(start: datetime, end: datetime, timezone: str, loc: str = "en") -> str:
    """The days of [start, end) in ``timezone``: "7 to 13 December 2026", "30 November to 6
    December 2026", "29 December 2026 to 4 January 2027"; "7 au 13 décembre 2026" in French."""
    zone = ZoneInfo(timezone)
    first = start.astimezone(zone).date()
    last = (end.astimezone(zone) - timedelta(microseconds=1)).date()
    lc = locale(loc)
    span = _SPAN.get(lc.language)
    if span is None:
        return format_interval(first, last, "yMMMMd", locale=lc)
    if first.year != last.year:
        head = _day(first, lc, True)
    elif first.month != last.month:
        head = _day(first, lc, False)
    else:
        head = _ordinal(first.day, lc)
    return span.format(a=head, b=_day(last, lc, True))


def _day(d: date, lc: Locale, year: bool) -> str:
    text = format_date(d, "d MMMM y" if year else "d MMMM", locale=lc)
    if d.day == 1 and lc.language == "fr" and text.startswith("1 "):
        text = "1er" + text[1:]  # le 1er décembre
    return text


def _ordinal(n: int, lc: Locale) -> str:
    return "1er" if n == 1 and lc.language == "fr" else str(n)


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
