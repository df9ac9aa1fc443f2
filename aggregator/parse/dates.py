"""Dates as feedparser reads them, shared by both readers so they agree to the second.

``parse_date`` takes the two shapes nearly every feed uses (W3C-DTF and RFC 822) without
feedparser's chain of handlers, and hands anything else to feedparser's own ``_parse_date``.
``newest`` is the item cap's rule: the newest entries by raw date, kept in document order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from feedparser.datetimes import _parse_date  # the reference date parser, shared by both paths
from feedparser.datetimes.rfc822 import timezone_names as _RFC822_ZONES

__all__ = ["newest", "parse_date", "struct_to_datetime"]


def struct_to_datetime(value: Sequence[int] | None) -> datetime | None:
    """A ``time.struct_time`` from feedparser (UTC) as an aware datetime, or None."""
    if not value:
        return None
    try:
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError):
        return None


# The two date shapes nearly every feed uses, read without feedparser's chain of handlers. For
# these exact shapes its first handlers (W3C-DTF, then RFC 822) give the same instant; anything
# else, or a value out of range, goes through ``_parse_date`` itself.
_RFC822_DATE = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun), )?([0-9]{1,2}) "
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) (gmt|utc|ut|z|[+-][0-9]{4}|[ecmp][sd]t)",
    re.IGNORECASE,
)
_W3C_DATE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})t([0-9]{2}):([0-9]{2}):([0-9]{2})(z|[+-][0-9]{2}:[0-9]{2})",
    re.IGNORECASE,
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def parse_date(text: str) -> datetime | None:
    """feedparser's reading of a date (``_parse_date``) as a UTC datetime, or None."""
    if not text:
        return None
    try:
        m = _W3C_DATE.fullmatch(text)
        if m:
            y, mo, d, hh, mm, ss, tz = m.groups()
            stamp = datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss), tzinfo=UTC)
            if tz in "zZ":
                return stamp
            sign = -1 if tz[0] == "-" else 1
            return stamp - timedelta(hours=sign * int(tz[1:3]), minutes=sign * int(tz[4:]))
        m = _RFC822_DATE.fullmatch(text)
        if m:
            d, mon, y, hh, mm, ss, tz = m.groups()
            stamp = datetime(
                int(y), _MONTHS[mon.lower()], int(d), int(hh), int(mm), int(ss), tzinfo=UTC
            )
            tz = tz.lower()
            if tz[0] in "+-":
                sign = -1 if tz[0] == "-" else 1
                return stamp - timedelta(hours=sign * int(tz[1:3]), minutes=sign * int(tz[3:]))
            return stamp - timedelta(hours=_RFC822_ZONES.get(tz, 0))
    except (ValueError, OverflowError):
        pass  # out of range: feedparser's later handlers may still read something
    return struct_to_datetime(_parse_date(text))


def newest(dates: list[tuple[datetime | None, datetime | None]], limit: int) -> list[int]:
    """Indices of the ``limit`` newest entries (published, else updated; undated ones last, in
    document order), in document order."""
    if len(dates) <= limit:
        return list(range(len(dates)))
    floor = datetime.min.replace(tzinfo=UTC)
    order = sorted(
        range(len(dates)), key=lambda i: dates[i][0] or dates[i][1] or floor, reverse=True
    )
    return sorted(order[:limit])
