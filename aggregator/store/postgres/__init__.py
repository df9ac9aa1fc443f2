"""The PostgreSQL backend: the same family objects as ``store.sqlite``, over a small pool of
psycopg connections (``Connection``), with the same numbered migrations (``MIGRATIONS``).

Chosen by ``Store`` when ``database:`` is a ``postgresql://`` URL.
"""

from ..meta import Meta
from . import schema
from .catalog import Catalog
from .connection import Connection, display, is_url
from .dedupe_index import DedupeIndex
from .ledger import Ledger
from .locks import SessionLock
from .schema import MIGRATIONS
from .sources import Sources
from .subscribers import Subscribers

__all__ = [
    "MIGRATIONS",
    "Catalog",
    "Connection",
    "DedupeIndex",
    "Ledger",
    "Meta",
    "SessionLock",
    "Sources",
    "Subscribers",
    "display",
    "is_url",
    "schema",
]
