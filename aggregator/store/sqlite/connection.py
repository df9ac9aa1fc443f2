"""One SQLite connection, its transactions, and the grouped commits of a bulk refresh.

WAL mode, foreign keys on, one connection shared by the pipeline's threads and serialised by a
lock. ``transaction()`` is one atomic unit; inside ``bulk()`` units become SAVEPOINTs of a group
committed every so often while a second connection checkpoints the WAL in the background.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ...errors import StorageError
from ..backend import SQLITE, Dialect
from .schema import migrate


class Connection:
    """The store's SQLite connection: opened, migrated, and the lock every writer holds."""

    #: seconds between the background WAL checkpoints of ``bulk()``
    checkpoint_every = 1.0
    #: the families' statements run on ``db`` itself (``?`` is SQLite's own placeholder)
    dialect: Dialect = SQLITE

    def __init__(self, path: str | Path, *, timeout: float = 30.0):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            migrate(self.db, self.path)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot open database: {exc}") from exc
        self.lock = threading.RLock()
        self._timeout = timeout
        self._depth = 0
        self._grouping = 0.0  # inside bulk(): seconds between group commits (0: no grouping)
        self._group_began: float | None = None  # monotonic start of the open group transaction

    def close(self) -> None:
        self.db.close()

    def integrity_check(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    # ---- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; nested uses join the outer one. Inside ``bulk()`` a unit is
        a SAVEPOINT of the group's transaction: it rolls back alone and commits with the group,
        so a crash loses whole units (sources), never part of one."""
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
                self.db.execute("SAVEPOINT unit")
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
                self.db.execute("COMMIT")
                return
            self.db.execute("RELEASE unit")
            if time.monotonic() - (self._group_began or 0.0) >= self._grouping:
                self.commit_group()

    def _begin(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StorageError(f"{self.path}: database is busy: {exc}") from exc

    def _rollback(self, unit: bool) -> None:
        """Undo the failed unit (or transaction). SQLite may already have rolled the whole
        transaction back (an I/O error, a full disk): then the group is gone too."""
        try:
            if unit and self.db.in_transaction:
                self.db.execute("ROLLBACK TO unit")
                self.db.execute("RELEASE unit")
            elif self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            if not self.db.in_transaction:
                self._group_began = None

    def commit_group(self) -> None:
        """Commit the units of the open group (a no-op outside ``bulk()`` or between groups)."""
        with self.lock:
            if self._group_began is not None and not self._depth:
                self._group_began = None
                if self.db.in_transaction:
                    self.db.execute("COMMIT")

    @contextmanager
    def bulk(self, commit_every: float = 0.5) -> Iterator[None]:
        """Many small transactions in a row (a refresh), grouped: each ``transaction()`` becomes
        a SAVEPOINT and one COMMIT covers the units of ``commit_every`` seconds (a page written
        by several sources goes to the WAL once, not once per source). No WAL checkpoint per
        commit: a second connection checkpoints committed frames in the background (see
        ``_Checkpointer``), and one more at the end. The lock is held throughout: no other
        thread may slip a statement into the open group."""
        with self.lock:
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            # The dedupe keys and items indexes are written at random places: with the default
            # 2 MB page cache most of those pages are re-read from the OS on every transaction.
            self.db.execute("PRAGMA cache_size=-65536")
            self._grouping = max(commit_every, 1e-9)
            checkpointer = _Checkpointer(self.path, self._timeout, self.checkpoint_every)
            try:
                yield
            finally:
                checkpointer.stop()
                # Units are whole once released: commit them even when leaving on an error.
                self._grouping = 0.0
                try:
                    self.commit_group()
                finally:
                    self._group_began = None
                    if self.db.in_transaction and not self._depth:
                        self.db.execute("ROLLBACK")
                    self.db.execute("PRAGMA cache_size=-2000")
                    self.db.execute("PRAGMA wal_autocheckpoint=1000")
                    self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # ---- queries over long lists ----------------------------------------------------------------

    def select_in(self, sql: str, values: Sequence, *after: object) -> Iterator[tuple]:
        """Rows of ``sql`` whose ``{in}`` (``WHERE id {in}``) is the list ``values``, 500 at a
        time (``after``: the parameters that follow the list)."""
        for chunk in chunks(list(values), 500):
            yield from self.db.execute(
                sql.replace("{in}", f"IN ({','.join('?' * len(chunk))})"), (*chunk, *after)
            )


def chunks(seq: list, n: int) -> Iterator[list]:
    """``seq`` in slices of ``n`` (SQLite caps the parameters of one statement)."""
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class _Checkpointer:
    """Copies committed WAL frames into the database from a second connection while a bulk
    refresh goes on (PASSIVE: it never blocks the writer nor waits for it), so the checkpoint
    at the end has little left: its page writes, scattered over a big store's indexes, overlap
    the refresh instead of following it."""

    def __init__(self, path: Path, timeout: float, every: float = 1.0):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(path, timeout, every), name="checkpoint", daemon=True
        )
        self._thread.start()

    def _run(self, path: Path, timeout: float, every: float) -> None:
        try:
            db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            while not self._stop.wait(every):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # the final checkpoint on the main connection does the rest
        finally:
            db.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
