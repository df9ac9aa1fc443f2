"""Dedupe: one story, one cluster, across outlets and languages' boilerplate.

Each new item joins the cluster of an item with the same URL, or of a recent item from another
source that tells the same story (found through hashed text keys, verified on the neutralised
text), or starts a cluster of its own. The pure half (:func:`prepare`) runs in worker
processes; the :class:`Deduper` assigns clusters through the :class:`ClusterIndex` the store
implements.
"""

from __future__ import annotations

from .cluster import (
    MAX_CANDIDATES,
    MIN_BAND_HITS,
    PRUNE_MARGIN,
    REP_GAIN,
    WINDOW,
    Candidate,
    ClusterIndex,
    Deduper,
)
from .fingerprint import (
    BODY_WORDS,
    Fingerprint,
    Similarity,
    fingerprint,
    from_record,
    record,
    same_story,
    similarity,
)
from .keys import (
    BODY_BANDS,
    BODY_ROWS,
    LEAD_KEY_WORDS,
    LEAD_WORDS,
    TITLE_BANDS,
    TITLE_PREFIX,
    TITLE_ROWS,
    Prepared,
    pack_keys,
    prepare,
    text_keys,
    text_record,
    unpack_keys,
    url_key,
    url_keys,
)
from .neutral import neutral_body, neutral_title

__all__ = [
    "BODY_BANDS",
    "BODY_ROWS",
    "BODY_WORDS",
    "LEAD_KEY_WORDS",
    "LEAD_WORDS",
    "MAX_CANDIDATES",
    "MIN_BAND_HITS",
    "PRUNE_MARGIN",
    "REP_GAIN",
    "TITLE_BANDS",
    "TITLE_PREFIX",
    "TITLE_ROWS",
    "WINDOW",
    "Candidate",
    "ClusterIndex",
    "Deduper",
    "Fingerprint",
    "Prepared",
    "Similarity",
    "fingerprint",
    "from_record",
    "neutral_body",
    "neutral_title",
    "pack_keys",
    "prepare",
    "record",
    "same_story",
    "similarity",
    "text_keys",
    "text_record",
    "unpack_keys",
    "url_key",
    "url_keys",
]
