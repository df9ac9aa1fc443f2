"""Session advisory locks: what a fleet's roles hold in PostgreSQL instead of lock files.

A lock is ``pg_try_advisory_lock`` on a 64-bit key derived from a name (``digest:2026-W48``),
held by a connection of its own (not the pool's: it lives as long as the holder wants, across
transactions). The server drops it when that session ends, including when the process is
killed (its socket closes), so a crash never leaves a stale lock behind, as ``flock`` does.
The holder's ``application_name`` carries its pid and host for the message of the refused.
"""

from __future__ import annotations

import hashlib
import os
import socket
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from ...errors import StorageError
from .connection import display, reason


def lock_key(name: str) -> int:
    """A signed 64-bit key for ``name`` (the lock's namespace is the database)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


class SessionLock:
    """One named advisory lock of the database at ``url``: ``try_acquire``, ``holder``,
    ``release``."""

    def __init__(self, url: str, name: str, *, password: str | None = None, timeout: float = 10):
        self.name = name
        self.key = lock_key(name)
        self.where = display(url)
        me = f"aggregator pid {os.getpid()} on {socket.gethostname()}: {name}"[:63]
        extra: dict[str, Any] = {"application_name": me}
        if password:
            extra["password"] = password
        self._conninfo = make_conninfo(url, **extra)
        self._timeout = max(1, int(timeout))
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        """Take the lock if no other session holds it; False (at once) if one does."""
        if self._conn is not None:
            raise RuntimeError(f"advisory lock {self.name} is already held by this object")
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self._timeout)
        except psycopg.Error as exc:
            raise StorageError(f"{self.where}: cannot connect: {reason(exc)}") from exc
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if row and row[0]:
            self._conn = conn
            return True
        conn.close()
        return False

    def holder(self) -> str:
        """Who holds the lock (its ``application_name``), "?" when unknown or free."""
        try:
            with psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=self._timeout
            ) as conn:
                row = conn.execute(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                    " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                    " AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid"
                    " AND l.objsubid = 1 LIMIT 1",
                    ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF),
                ).fetchone()
        except psycopg.Error:
            return "?"
        return str(row[0]) if row and row[0] else "?"

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except psycopg.Error:
            pass  # the session ends below, which drops the lock anyway
        finally:
            conn.close()
