"""The one clock: timezone-aware UTC now.

Every stage that needs the time takes a ``now`` argument or a ``Clock`` (so tests pass a fixed
one); when none is given, this is the default. ``tests/test_architecture.py`` keeps
``datetime.now`` out of every other module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


__all__ = ["Clock", "utcnow"]
