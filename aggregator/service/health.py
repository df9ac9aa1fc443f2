"""How each source has been doing over time, for ``aggregator status``: the success rate of its
recent fetch attempts, the time since its last new item, and whether it has gone quiet for much
longer than it usually does (the way Miniflux lists feeds with errors and FreshRSS lists idle
feeds, but measured against each source's own pace).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median

#: Silent: quiet for this many times the source's median gap between items...
SILENT_FACTOR = 10
#: ... and for at least this long (a source publishing hourly is not "silent" overnight).
SILENT_FLOOR = timedelta(days=2)
#: Fewest items whose gaps make a median worth comparing against.
MIN_ITEMS = 5


@dataclass(frozen=True)
class Health:
    attempts: int  # recorded fetch attempts (at most the store's kept number, 30)
    successes: int
    last_item: datetime | None  # the newest item's time (its own date, or when first seen)
    median_gap: timedelta | None  # between consecutive items, newest ones
    silent: bool

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None

    def since_last_item(self, now: datetime) -> timedelta | None:
        return now - self.last_item if self.last_item else None


def source_health(
    counts: tuple[int, int] | None, item_times: list[datetime] | None, now: datetime
) -> Health:
    """``counts``: (attempts, successes); ``item_times``: the newest items' times, newest
    first. Silent: quiet longer than ``SILENT_FACTOR`` x the median gap (and ``SILENT_FLOOR``)."""
    attempts, successes = counts or (0, 0)
    times = sorted(item_times or (), reverse=True)
    last = times[0] if times else None
    gap = None
    if len(times) >= MIN_ITEMS:
        gap = timedelta(seconds=median((a - b).total_seconds() for a, b in pairwise(times)))
    silent = (
        last is not None and gap is not None and now - last > max(SILENT_FACTOR * gap, SILENT_FLOOR)
    )
    return Health(attempts, successes, last, gap, silent)


def human_age(delta: timedelta | None) -> str:
    """``"45 min"``, ``"5 h"``, ``"12 d"``: a duration at a glance (``"-"`` when unknown)."""
    if delta is None:
        return "-"
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"
