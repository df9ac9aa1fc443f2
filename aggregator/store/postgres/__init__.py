"""The PostgreSQL backend: the store's families over a small pool of psycopg connections
(``Connection``, whose ``db`` takes the families' ``?`` statements), with the same numbered
migrations (``MIGRATIONS``). The family subclasses here hold only what PostgreSQL does
otherwise or alone: COPY and array writes of a batch, a fleet's claims on sources and
deliveries, session advisory locks (``locks.py``).

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
