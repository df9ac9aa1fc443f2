"""What a family object needs of a backend, so that each table family is written once.

A family (``sources.py``, ``catalog.py``, ``dedupe_index.py``, ``ledger.py``,
``subscribers.py``, ``meta.py``) holds a ``Backend``: ``db`` runs statements written with ``?``
parameters (SQLite's own connection; on PostgreSQL an adapter that turns them into psycopg's
``%s``), ``transaction()`` is the connection's (every write runs in one: it holds the write
lock), ``select_in`` reads rows for a long list of values, and ``dialect`` names the few words
where the two SQL dialects differ. What differs more than a word (COPY, advisory locks, a
fleet's claims) is a hook of the family that a backend's subclass fills (``store/postgres/``,
``store/sqlite/subscribers.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Dialect:
    """The words of one SQL dialect that a portable statement takes from its backend."""

    #: "sqlite" or "postgresql"
    name: str
    #: a join whose left table stays the outer loop: SQLite's planner keeps a CROSS JOIN's
    #: order (the index lookups the statement was written for); PostgreSQL has no such hint
    join_in_order: str
    #: the larger of two values: SQLite's two-argument ``max``, PostgreSQL's ``greatest``
    greatest: str
    #: where a text first holds another (1-based, 0: nowhere): ``instr`` / ``strpos``
    instr: str


SQLITE = Dialect(name="sqlite", join_in_order="CROSS JOIN", greatest="max", instr="instr")
POSTGRESQL = Dialect(name="postgresql", join_in_order="JOIN", greatest="greatest", instr="strpos")


class Rows(Protocol):
    """A statement's result, as both drivers give it."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Statements(Protocol):
    """Statements with ``?`` parameters (``sqlite3.Connection`` is one)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Rows: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object: ...


class Backend(Protocol):
    """The connection a family is built on (``store.sqlite.Connection``,
    ``store.postgres.Connection``)."""

    @property
    def db(self) -> Statements: ...

    @property
    def dialect(self) -> Dialect: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def select_in(self, sql: str, values: Sequence, *after: object) -> Iterator[tuple]:
        """Rows of ``sql`` whose ``{in}`` (written after a column: ``WHERE id {in}``) is the
        list ``values``; ``after``: the parameters that follow the list."""
        ...
