"""Reading response headers: Retry-After and freshness (max-age, Expires) as times, Location,
repeated lines joined, and header bytes that are not UTF-8 made storable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any


def _text(value: str) -> str:
    """A header value as storable text. aiohttp decodes header bytes as UTF-8 with surrogate
    escapes; bytes that are not UTF-8 come back as Latin-1 characters (what http.client gave),
    never as surrogates, which SQLite and every encoder refuse."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")
    return value


def _joined(headers: Any, *names: str) -> dict[str, str]:
    """Repeated header lines joined with commas, as HTTP defines (``Cache-Control: public`` and
    ``Cache-Control: max-age=600`` on two lines mean both)."""
    return {n: ", ".join(headers.getall(n)) for n in names if n in headers}


def _redirect_target(headers: Mapping[str, str]) -> str | None:
    """The Location header (a Latin-1 one comes back to its characters)."""
    location = headers.get("location")
    return _text(location) if location else None


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """``Retry-After: 120`` or an HTTP date → an absolute UTC time; garbage → None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=min(int(value), 10 * 365 * 86400))
    return _http_date(value)


def parse_max_age(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """Freshness the server grants: Cache-Control max-age, else Expires - Date. None if none."""
    cache_control = headers.get("cache-control") or ""
    if re.search(r"\b(no-cache|no-store)\b", cache_control, re.IGNORECASE):
        return None
    m = re.search(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", cache_control, re.IGNORECASE)
    if m:
        seconds = int(m.group(1))
        return timedelta(seconds=min(seconds, 10 * 365 * 86400)) if seconds > 0 else None
    expires = _http_date(headers.get("expires"))
    if expires is None:
        return None
    age = expires - (_http_date(headers.get("date")) or now)
    return age if age > timedelta(0) else None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
