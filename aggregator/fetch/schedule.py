"""Which download starts next in ``Fetcher.fetch_many``: hosts take turns, at most ``per_host``
downloads per host (or that host's own limit, from a source's ``per_host``) and ``workers`` in
all, counting bodies the consumer has not taken yet.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from ..models import SourceState


def host_key(url: str) -> tuple[str, int]:
    """What ``per_host`` counts: host name and port of a URL."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ("", 0)
    return ((parts.hostname or "").lower(), port)


class _Schedule:
    """Which download starts next: hosts with queued sources and a free slot take turns; at most
    ``workers`` downloads in flight or bodies not yet consumed (``held``). Loop thread only."""

    def __init__(
        self,
        queues: dict[tuple[str, int], deque[SourceState]],
        per_host: int,
        workers: int,
        limits: Mapping[tuple[str, int], int] | None = None,
    ):
        self.queues = queues
        self.per_host = per_host
        self.limits = {k: max(1, n) for k, n in (limits or {}).items()}
        self.workers = workers
        self.active = dict.fromkeys(queues, 0)
        self.ready = deque(queues)  # hosts with queued work and a free slot
        self.in_ready = set(queues)
        self.running = 0
        self.held = 0

    def take(self) -> Iterator[tuple[tuple[str, int], SourceState]]:
        while self.running + self.held < self.workers and self.ready:
            key = self.ready.popleft()
            self.in_ready.discard(key)
            self.active[key] += 1
            self.running += 1
            if len(self.queues[key]) > 1 and self.active[key] < self.limits.get(key, self.per_host):
                self.ready.append(key)
                self.in_ready.add(key)
            yield key, self.queues[key].popleft()

    def ended(self, key: tuple[str, int]) -> None:
        self.active[key] -= 1
        self.running -= 1
        if self.queues[key] and key not in self.in_ready:
            self.ready.append(key)
            self.in_ready.add(key)

    def stop(self) -> None:
        self.ready.clear()
        self.in_ready.clear()
