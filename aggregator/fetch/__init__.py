"""HTTP for feeds: polite, bounded, and unable to reach private networks.

``Fetcher.fetch`` does one conditional GET of a source and returns a ``FetchResult`` or raises
``FetchError``; ``Fetcher.fetch_many`` runs many of them concurrently with a per-host limit.
``after_success`` / ``after_failure`` / ``is_due`` are pure: they turn an outcome and a clock
value into the source's next ``SourceState`` (backoff, Retry-After, redirects, 410).
Downloads share one asyncio loop thread with aiohttp (cheap per request, a C parser); what its
parser refuses is read once more with http.client. aiohttp loads on the first download only.
``discover`` finds the feeds of a site's home page (its links, then the usual paths).
"""

from .client import MAX_REDIRECTS, Fetcher
from .decode import CHUNK_SIZE, human_size
from .discover import Candidate, Discovery, discover, feed_kind
from .guard import address_allowed, is_public_address, parse_networks
from .headers import parse_max_age, parse_retry_after
from .policy import (
    JITTER,
    MAX_BACKOFF,
    MAX_LENGTHEN,
    MAX_RETRY_AFTER,
    MOVE_CONFIRMATIONS,
    after_failure,
    after_success,
    backoff_delay,
    is_due,
)
from .schedule import host_key

__all__ = [
    "CHUNK_SIZE",
    "JITTER",
    "MAX_BACKOFF",
    "MAX_LENGTHEN",
    "MAX_REDIRECTS",
    "MAX_RETRY_AFTER",
    "MOVE_CONFIRMATIONS",
    "Candidate",
    "Discovery",
    "Fetcher",
    "address_allowed",
    "after_failure",
    "after_success",
    "backoff_delay",
    "discover",
    "feed_kind",
    "host_key",
    "human_size",
    "is_due",
    "is_public_address",
    "parse_max_age",
    "parse_networks",
    "parse_retry_after",
]
