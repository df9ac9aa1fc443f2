"""How each source has been doing over time, for ``aggregator status``: the success rate of its
recent fetch attempts, the time since its last new item, and whether it has gone quiet for much
longer than it usually does (the way Miniflux lists feeds with errors and FreshRSS lists idle
feeds, but measured against each source's own pace).

``standing()`` is the one answer to "what state is this source in" (paused, failing, gone,
fresh, silent, due) for ``status``, ``sources list`` and fetch's "nothing due" line, which
used to decide it each on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import Source, SourceState

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


#: The stored fetch states of a source that is failing (it backs off and is retried).
FAILING_STATES = ("error", "backing-off")


@dataclass(frozen=True)
class Standing:
    """A source's state as the operator is shown it.

    ``state``: ``paused`` (``enabled: false`` in config.yaml) or the stored fetch state (new, ok,
    not-modified, moved, error, backing-off, gone). ``since``: the moment that explains it, as
    far as the store knows: the last success of a fresh, failing or gone source (None: never
    succeeded), the last new item of a silent one; None when paused or new. ``next_due``: the
    scheduled next fetch; None when none is scheduled (a new source: at once; a paused or gone
    one: never, see ``stopped``). ``silent``: fetched fine but quiet for much longer than usual
    (a failing or stopped source's silence is explained by that)."""

    state: str
    since: datetime | None = None
    next_due: datetime | None = None
    silent: bool = False

    @property
    def stopped(self) -> bool:
        """Never fetched as things stand: paused, or retired by a 410."""
        return self.state in ("paused", "gone")

    @property
    def failing(self) -> bool:
        return self.state in FAILING_STATES

    @property
    def group(self) -> str:
        """``paused``, ``gone``, ``failing`` or ``fresh`` (new, ok, not-modified, moved)."""
        return self.state if self.stopped else "failing" if self.failing else "fresh"

    def due(self, now: datetime) -> bool:
        """Would a refresh at ``now`` fetch it (the rule of ``fetch.is_due``, plus paused)?"""
        return not self.stopped and (self.next_due is None or self.next_due <= now)


def standing(source: Source, state: SourceState | None, health: Health | None = None) -> Standing:
    """The state ``status``, ``sources list`` and fetch's "nothing due" line show for a
    configured ``source`` whose stored state is ``state`` (None: not in the store yet)."""
    if not source.enabled:
        return Standing("paused")
    if state is None:
        return Standing("new")
    name = "gone" if state.gone else state.state
    since = state.last_success
    silent = bool(health and health.silent) and name not in ("gone", *FAILING_STATES)
    if silent and health is not None:
        since = health.last_item
    next_due = None if name == "gone" else state.next_attempt
    return Standing(name, since, next_due, silent)
