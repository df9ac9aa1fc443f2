"""The store: the only package that speaks SQL.

``Store`` is the service layer's one object; behind it, one object per table family (sources,
items and stories, the dedupe index, the digest ledger, meta) implements the Protocols the
stages declare. ``codecs`` holds what any backend shares; ``sqlite`` is today's backend.
"""

from .facade import Store
from .sqlite import MIGRATIONS, Catalog, Connection, DedupeIndex, Ledger, Meta, Sources
from .sqlite.ledger import Sent

__all__ = [
    "MIGRATIONS",
    "Catalog",
    "Connection",
    "DedupeIndex",
    "Ledger",
    "Meta",
    "Sent",
    "Sources",
    "Store",
]
