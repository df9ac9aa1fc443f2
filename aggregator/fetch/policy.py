"""What a fetch outcome does to a source's ``SourceState`` (pure functions of the outcome and a
clock value): validators kept, next attempt scheduled, backoff with jitter, Retry-After obeyed,
permanent redirects confirmed before a move, 410 retires the source.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ..errors import FetchError
from ..models import FetchResult, SourceState

MOVE_CONFIRMATIONS = 3  # consecutive fetches seeing the same permanent redirect
MAX_LENGTHEN = timedelta(hours=24)  # TTL / max-age may lengthen the interval up to this
MAX_BACKOFF = timedelta(days=1)
MAX_RETRY_AFTER = timedelta(days=7)
JITTER = 0.2  # backoff delay is drawn from [(1 - JITTER) * d, d]


def after_success(
    state: SourceState,
    result: FetchResult,
    now: datetime,
    interval: float,
    ttl: timedelta | None = None,
    body_hash: str | None = None,
    warning: str | None = None,
) -> SourceState:
    """The state after a 2xx or 304: validators stored, errors cleared, next attempt scheduled
    (the server's max-age or the feed's TTL may lengthen the interval, up to ``MAX_LENGTHEN``),
    and a permanent redirect counted towards a move."""
    lengthen = max((d for d in (ttl, result.max_age) if d is not None), default=timedelta(0))
    delay = max(timedelta(seconds=interval), min(lengthen, MAX_LENGTHEN))
    fetch_url, moved_to, moved_count = state.fetch_url, state.moved_to, state.moved_count
    target = result.permanent_redirect
    if target and target != state.fetch_url:
        moved_count = moved_count + 1 if target == moved_to else 1
        moved_to = target
        if moved_count >= MOVE_CONFIRMATIONS or _is_https_upgrade(state.fetch_url, target):
            fetch_url = target
    else:
        moved_count = 0
        if moved_to != fetch_url:  # an unconfirmed candidate is forgotten; a confirmed move kept
            moved_to = None
    if fetch_url != state.url:
        new_state = "moved"  # fetched from a new address: the operator should update config.yaml
    else:
        new_state = "not-modified" if result.status == 304 else "ok"
    return replace(
        state,
        fetch_url=fetch_url,
        state=new_state,
        etag=result.etag,
        last_modified=result.last_modified,
        http_status=result.status,
        error_count=0,
        last_error=None,
        last_fetch=now,
        last_success=now,
        next_attempt=now + delay,
        moved_to=moved_to,
        moved_count=moved_count,
        gone=False,
        body_hash=body_hash if body_hash is not None else state.body_hash,
        warning=warning,
    )


def _is_https_upgrade(old: str, new: str) -> bool:
    a, b = urlsplit(old), urlsplit(new)
    return (
        a.scheme == "http"
        and b.scheme == "https"
        and (a.hostname or "").lower() == (b.hostname or "").lower()
        and a.port in (None, 80)
        and b.port in (None, 443)
    )


def after_failure(
    state: SourceState,
    error: BaseException,
    now: datetime,
    interval: float,
    rng: random.Random | None = None,
) -> SourceState:
    """The state after a failed fetch or parse: 410 retires the source; 429/503 with Retry-After
    wait as told (at most ``MAX_RETRY_AFTER``); anything else backs off exponentially with jitter,
    ``interval * 2**previous_errors`` capped at ``MAX_BACKOFF``. Never abandoned."""
    status = getattr(error, "status", None) if isinstance(error, FetchError) else None
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    errors = state.error_count + 1
    common: dict[str, Any] = {
        "last_error": message,
        "last_fetch": now,
        "error_count": errors,
        "http_status": status if isinstance(error, FetchError) else state.http_status,
    }
    if status == 410:
        return replace(state, state="gone", gone=True, next_attempt=None, **common)
    retry_after = getattr(error, "retry_after", None) if isinstance(error, FetchError) else None
    if status in (429, 503) and isinstance(retry_after, datetime):
        when = min(max(retry_after, now), now + MAX_RETRY_AFTER)
        return replace(state, state="backing-off", next_attempt=when, **common)
    return replace(
        state,
        state="backing-off",
        next_attempt=now + backoff_delay(state.error_count, interval, rng),
        **common,
    )


def backoff_delay(
    previous_errors: int, interval: float, rng: random.Random | None = None
) -> timedelta:
    """``interval * 2**previous_errors``, capped at ``MAX_BACKOFF``, times a draw from
    ``[1 - JITTER, 1]`` so that sources failing together do not retry together."""
    base = min(interval * 2.0 ** min(previous_errors, 40), MAX_BACKOFF.total_seconds())
    factor = (rng or random).uniform(1.0 - JITTER, 1.0)
    return timedelta(seconds=base * factor)


def is_due(state: SourceState, now: datetime) -> bool:
    """Should this source be fetched at ``now``? Gone sources never are."""
    return not state.gone and (state.next_attempt is None or state.next_attempt <= now)
