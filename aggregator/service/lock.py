"""Who may write to a database, as fcntl locks on files beside it that die with their process.

Two locks, so that a long-lived service and a one-off command can share a database:

* ``InstanceLock`` (``<database>.lock``): held while refreshing. ``fetch`` and ``run --once``
  take it (``fetch`` waits for a refresh in progress, ``run --once`` refuses); the ``run``
  service takes it for each refresh tick, so two refreshes never interleave.
* ``ServiceLock`` (``<database>.run.lock``): held by ``aggregator run`` for its whole life, so
  a second service on the same database refuses at once.

``flock`` is released by the kernel when the holder exits or is killed, so a crash never
leaves a stale lock behind; the file only records the holder's pid for the message.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Self

from ..errors import AggregatorError

log = logging.getLogger("aggregator.lock")


class AlreadyRunning(AggregatorError):
    """Another process holds the lock (exit code 3, distinct from config and run errors)."""

    exit_code = 3


def lock_file(database: Path | str, suffix: str) -> Path:
    """The lock file of ``database``: beside a SQLite file; for a PostgreSQL URL, in the
    temporary folder, named after the URL (one holder per host until the locks move into
    PostgreSQL, issue 20)."""
    if "://" not in str(database):
        return Path(str(database) + suffix)
    digest = hashlib.sha256(str(database).encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"aggregator-{digest}{suffix}"


class InstanceLock:
    """The refresh lock of one database.

    ``wait=False``: refuse at once if another process holds it. ``wait=True``: wait up to
    ``timeout`` seconds (``None``: for ever) for the holder to finish.
    """

    suffix = ".lock"
    what = "refreshing"

    def __init__(self, database: Path | str, *, wait: bool = False, timeout: float | None = 600.0):
        self.database = database if "://" in str(database) else Path(database)
        self.path = lock_file(database, self.suffix)
        self.wait = wait
        self.timeout = timeout
        self.fd: int | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def acquire(self) -> None:
        if self.fd is not None:
            raise RuntimeError(f"{self.path} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        started = time.monotonic()
        announced = False
        try:
            while not _try_flock(fd):
                holder = _holder(fd)
                waited = time.monotonic() - started
                if not self.wait or (self.timeout is not None and waited >= self.timeout):
                    raise AlreadyRunning(self._message(holder, waited))
                if not announced:
                    log.info("waiting for pid %s, which is %s %s", holder, self.what, self.database)
                    announced = True
                time.sleep(0.1)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def try_acquire(self) -> bool:
        """Take the lock if it is free; ``False`` (no exception, no wait) if it is not."""
        wait, self.wait = self.wait, False
        try:
            self.acquire()
            return True
        except AlreadyRunning:
            return False
        finally:
            self.wait = wait

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.ftruncate(fd, 0)  # the next reader of the pid sees no stale holder
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _message(self, holder: str, waited: float) -> str:
        after = f" (waited {waited:.0f} s)" if self.wait else ""
        return (
            f"another aggregator (pid {holder}) is {self.what} {self.database}{after}; "
            "try again later"
        )

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ServiceLock(InstanceLock):
    """Held by ``aggregator run`` for its life: one service per database."""

    suffix = ".run.lock"
    what = "running as a service on"

    def _message(self, holder: str, waited: float) -> str:
        return (
            f"aggregator run is already running on {self.database} (pid {holder}); "
            "stop it first (it exits cleanly on SIGTERM)"
        )


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(fd: int) -> str:
    return os.pread(fd, 32, 0).decode("ascii", errors="replace").strip() or "?"
