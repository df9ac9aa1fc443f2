"""The store: the only package that speaks SQL.

``Store`` is the service layer's one object; behind it, one object per table family (sources,
items and stories, the dedupe index, the digest ledger, subscribers, meta) implements the
Protocols the stages declare. Each family is written once (``sources.py``, ``catalog.py``,
``dedupe_index.py``, ``ledger.py``, ``subscribers.py``, ``meta.py``) over ``backend.Backend``:
statements with ``?`` parameters and the few dialect words that differ. ``codecs`` holds the
conversions; ``sqlite`` (the embedded default) and ``postgres`` (a ``postgresql://`` database,
for several processes or hosts) are the two backends (connection, schema and migrations, and
the little SQL only one of them has); ``copy`` moves a SQLite store into PostgreSQL.
"""

from .codecs import Sent
from .copy import copy_store
from .facade import Probe, Store, probe, role_lock
from .sqlite import MIGRATIONS, Catalog, Connection, DedupeIndex, Ledger, Meta, Sources

__all__ = [
    "MIGRATIONS",
    "Catalog",
    "Connection",
    "DedupeIndex",
    "Ledger",
    "Meta",
    "Probe",
    "Sent",
    "Sources",
    "Store",
    "copy_store",
    "probe",
    "role_lock",
]
