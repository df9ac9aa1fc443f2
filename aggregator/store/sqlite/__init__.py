"""The SQLite backend: the store's SQLite-only constructs.

One ``Connection`` (WAL, the writer lock, transactions, bulk groups, the schema and its
migrations) shared by one object per table family. The families are the store's own
(``store/sources.py``...), written once for both backends; ``subscribers.py`` adds the one
statement only SQLite has (UPDATE OR IGNORE).
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
