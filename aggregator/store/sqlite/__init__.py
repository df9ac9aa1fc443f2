"""The SQLite backend: every SQL statement and SQLite-only construct of the store.

One ``Connection`` (WAL, the writer lock, transactions, bulk groups, the schema and its
migrations) shared by one object per table family.
"""

from ..catalog import Catalog
from ..dedupe_index import DedupeIndex
from ..ledger import Ledger
from ..meta import Meta
from ..sources import Sources
from .connection import Connection
from .schema import MIGRATIONS
from .subscribers import Subscribers

__all__ = [
    "MIGRATIONS",
    "Catalog",
    "Connection",
    "DedupeIndex",
    "Ledger",
    "Meta",
    "Sources",
    "Subscribers",
]
