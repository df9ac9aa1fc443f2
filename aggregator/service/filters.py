"""A source's ``include`` / ``exclude``: which of its items are stored as excluded.

Excluded items are kept (so the next fetch does not take them for new) but are never published or
mailed. The expressions were compiled once already by the config loader, which reported any bad
one with its line; here they are matched, case-insensitively, against the item's title and the
plain text of its summary.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from ..models import Source
from ..text import plain_text

#: ``excluded(title, summary)``: is this item left out?
Excluder = Callable[[str, str], bool]


def excluder(source: Source) -> Excluder | None:
    """The test of ``source``'s include/exclude, or None when it has neither."""
    if not source.include and not source.exclude:
        return None
    include, exclude = _compiled(source.include), _compiled(source.exclude)

    def excluded(title: str, summary: str) -> bool:
        text = f"{title}\n{plain_text(summary)}" if summary else title
        if include and not any(p.search(text) for p in include):
            return True
        return any(p.search(text) for p in exclude)

    return excluded


def never(title: str, summary: str) -> bool:
    """The excluder of a source without include/exclude."""
    return False


@functools.cache
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)
