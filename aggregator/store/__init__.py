"""The store: the only package that speaks SQL.

``Store`` is the service layer's one object; behind it, one object per table family (sources,
items and stories, the dedupe index, the digest ledger, meta) implements the Protocols the
stages declare. ``codecs`` holds what any backend shares; ``sqlite`` (the embedded default)
and ``postgres`` (a ``postgresql://`` database, for several processes or hosts) are the two
backends; ``copy`` moves a SQLite store into PostgreSQL.
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
