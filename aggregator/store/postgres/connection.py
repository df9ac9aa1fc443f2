"""A small pool of PostgreSQL connections, the store's transactions and a refresh's groups.

The same contract as ``store.sqlite.Connection``: ``transaction()`` is one atomic unit (nested
uses join it), ``bulk()`` groups units as SAVEPOINTs of a transaction committed every so often.
The table families' statements, written once with SQLite's ``?`` parameters, reach the server
through ``Connection.db`` (``qmark`` rewrites them, once per statement text).
A write transaction first takes one transaction-level advisory lock, PostgreSQL's counterpart
of SQLite's ``BEGIN IMMEDIATE``: writers queue (in this process and in others), so the ids
given as ``max(id) + 1`` stay free until the commit. Reads outside a transaction run at once on
any pooled connection (autocommit), beside a writer, as SQLite's WAL readers do.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import StorageError
from ..backend import POSTGRESQL, Dialect
from .schema import migrate

#: ``pg_advisory_xact_lock`` key of the store's writers ("aggw" in ASCII).
WRITER_LOCK = 0x61676777


def is_url(database: object) -> bool:
    """Whether ``database`` names a PostgreSQL database (else: a SQLite file)."""
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


def display(url: str) -> str:
    """The URL for messages: user, host, port and database, never a password."""
    try:
        d = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://?"
    host = str(d.get("host") or "localhost")
    port = f":{d['port']}" if d.get("port") else ""
    user = f"{d['user']}@" if d.get("user") else ""
    if host.startswith("/"):  # a unix socket's folder
        return f"postgresql://{user}/{d.get('dbname', '')}?host={host}"
    return f"postgresql://{user}{host}{port}/{d.get('dbname', '')}"


def reason(exc: Exception) -> str:
    """A driver error as one line."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text or type(exc).__name__


@functools.lru_cache(maxsize=1024)
def qmark(sql: str) -> str:
    """``sql`` written with ``?`` parameters in psycopg's ``%s`` style: a ``?`` outside a quoted
    literal becomes ``%s``, and every ``%`` is doubled (psycopg reads them all)."""
    out: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        out.append("%%" if ch == "%" else "%s" if ch == "?" and not quoted else ch)
    return "".join(out)


class Statements:
    """The families' statements (``?`` parameters) on the pool: ``Connection.execute`` and
    ``executemany`` after ``qmark``."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection):
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Result:
        return self._conn.execute(qmark(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> int:
        return self._conn.executemany(qmark(sql), parameters)


class Result:
    """The rows of one statement, read in full (the connection may go back to the pool)."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, cur: psycopg.Cursor[Any]):
        self.rowcount = cur.rowcount
        self.rows: list[tuple] = cur.fetchall() if cur.description is not None else []

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        return self.rows

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """JSON columns come back as their text, as SQLite's TEXT did: ``store.codecs`` decodes
    both backends' values the same way (and key order is the one written)."""
    conn.adapters.register_loader("json", TextLoader)
    conn.adapters.register_loader("jsonb", TextLoader)


class Connection:
    """The store's PostgreSQL pool: opened, migrated, and the lock every writer holds.
    ``execute`` takes psycopg's ``%s`` parameters (this backend's own statements), ``db`` the
    ``?`` ones of the table families."""

    dialect: Dialect = POSTGRESQL

    def __init__(
        self, url: str, *, password: str | None = None, timeout: float = 30.0, size: int = 4
    ):
        self.url = url
        self.password = password  # for the sessions of their own (advisory locks)
        self.display = display(url)
        extra: dict[str, Any] = {"application_name": "aggregator"}
        if password:
            extra["password"] = password
        try:
            conninfo = make_conninfo(url, **extra)
        except psycopg.ProgrammingError as exc:
            raise StorageError(f"{self.display}: not a PostgreSQL URL: {exc}") from exc
        # One connection first: a clear error at once when the server is unreachable (a pool
        # would retry until its timeout), and the migrations.
        try:
            with psycopg.connect(
                conninfo, autocommit=True, connect_timeout=max(1, int(min(timeout, 10)))
            ) as first:
                _configure(first)
                migrate(first, self.display)
        except psycopg.OperationalError as exc:
            raise StorageError(f"{self.display}: cannot connect: {reason(exc)}") from exc
        except psycopg.Error as exc:
            raise StorageError(f"{self.display}: cannot open database: {exc}") from exc
        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True},
            configure=_configure,
            timeout=timeout,
            open=False,
            name="aggregator",
        )
        try:
            self.pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            raise StorageError(f"{self.display}: cannot connect: {exc}") from exc
        self.lock = threading.RLock()
        self._timeout = timeout
        self._tx: psycopg.Connection[Any] | None = None  # the connection of the open transaction
        self._owner: int | None = None  # the thread that holds it
        self._depth = 0
        self._grouping = 0.0
        self._group_began: float | None = None
        self.db = Statements(self)

    def close(self) -> None:
        with self.lock:
            if self._tx is not None:
                self._end("ROLLBACK")
            self.pool.close()

    def integrity_check(self) -> str:
        """ "ok" when the server answers and the schema is the current one (PostgreSQL checks
        its pages itself; amcheck is an operator's tool)."""
        self.execute("SELECT 1 FROM aggregator_schema")
        return "ok"

    # ---- statements -----------------------------------------------------------------------------

    def _mine(self) -> psycopg.Connection[Any] | None:
        return self._tx if self._tx is not None and self._owner == threading.get_ident() else None

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Result:
        """One statement: in this thread's open transaction, else alone (a write becomes its own
        transaction, behind the writers' lock; a read runs on any pooled connection)."""
        tx = self._mine()
        if tx is not None:
            return Result(tx.execute(sql, params))
        if _writes(sql):
            with self.transaction():
                return self.execute(sql, params)
        with self.pool.connection() as conn:
            return Result(conn.execute(sql, params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """``sql`` once per row (pipelined), in a transaction; returns the rows changed."""
        rows = list(rows)
        if not rows:
            return 0
        tx = self._mine()
        if tx is None:
            with self.transaction():
                return self.executemany(sql, rows)
        with tx.cursor() as cur:
            cur.executemany(sql, rows)
            return cur.rowcount

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """``COPY table (columns) FROM STDIN`` with ``rows``, in this thread's transaction
        (SQLite's 0/1 flags are valid booleans in COPY's text format)."""
        tx = self._mine()
        if tx is None:
            raise StorageError("copy_rows: call inside transaction()")
        names = ", ".join(columns)
        with tx.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    # ---- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; nested uses join the outer one. Inside ``bulk()`` a unit is
        a SAVEPOINT of the group's transaction: it rolls back alone and commits with the group."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            grouped = bool(self._grouping)
            if grouped and self._group_began is None:
                self._begin()
                self._group_began = time.monotonic()
            if grouped:
                self._conn_of_tx().execute("SAVEPOINT unit")
            else:
                self._begin()
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._rollback(grouped)
                raise
            self._depth = 0
            if not grouped:
                self._end("COMMIT")
                return
            self._conn_of_tx().execute("RELEASE SAVEPOINT unit")
            if time.monotonic() - (self._group_began or 0.0) >= self._grouping:
                self.commit_group()

    def _conn_of_tx(self) -> psycopg.Connection[Any]:
        assert self._tx is not None
        return self._tx

    def _begin(self) -> None:
        conn = self.pool.getconn()
        try:
            conn.execute("BEGIN")
            conn.execute(f"SET LOCAL lock_timeout = {int(self._timeout * 1000)}")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
        except psycopg.errors.LockNotAvailable as exc:
            _quietly_rollback(conn)
            self.pool.putconn(conn)
            raise StorageError(f"{self.display}: database is busy: {exc}") from exc
        except BaseException:
            _quietly_rollback(conn)
            self.pool.putconn(conn)
            raise
        conn.execute("SET LOCAL lock_timeout = 0")
        self._tx, self._owner = conn, threading.get_ident()

    def _end(self, how: str) -> None:
        conn = self._conn_of_tx()
        self._tx, self._owner, self._group_began = None, None, None
        try:
            conn.execute(how)
        finally:
            if how != "COMMIT" or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                _quietly_rollback(conn)
            self.pool.putconn(conn)

    def _rollback(self, unit: bool) -> None:
        """Undo the failed unit (or transaction); a broken connection loses the group too."""
        conn = self._tx
        if conn is None:
            return
        if unit and not conn.closed and not conn.broken:
            try:
                conn.execute("ROLLBACK TO SAVEPOINT unit")
                conn.execute("RELEASE SAVEPOINT unit")
                return
            except psycopg.Error:
                pass
        self._end("ROLLBACK")

    def commit_group(self) -> None:
        """Commit the units of the open group (a no-op outside ``bulk()`` or between groups)."""
        with self.lock:
            if self._group_began is not None and not self._depth and self._tx is not None:
                self._end("COMMIT")

    @contextmanager
    def bulk(self, commit_every: float = 0.5) -> Iterator[None]:
        """Many small transactions in a row (a refresh), grouped: each ``transaction()`` becomes
        a SAVEPOINT and one COMMIT covers the units of ``commit_every`` seconds. The lock is held
        throughout: no other thread of this process may slip a statement into the open group."""
        with self.lock:
            outer = self._grouping
            self._grouping = commit_every
            try:
                yield
            finally:
                self._grouping = outer
                if not outer:
                    try:
                        self.commit_group()
                    finally:
                        if self._tx is not None and not self._depth:
                            self._end("ROLLBACK")

    # ---- queries over long lists ----------------------------------------------------------------

    def select_in(self, sql: str, values: Sequence, *after: object) -> Iterator[tuple]:
        """Rows of ``sql`` (``?`` parameters) whose ``{in}`` (``WHERE id {in}``) is the list
        ``values``, as one array parameter."""
        if not values:
            return iter(())
        return iter(self.db.execute(sql.replace("{in}", "= ANY(?)"), (list(values), *after)))


def _writes(sql: str) -> bool:
    return sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")


def _quietly_rollback(conn: psycopg.Connection[Any]) -> None:
    if conn.closed or conn.broken:
        return
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
    except psycopg.Error:
        pass
