"""Who may write to a database, as fcntl locks on files beside it that die with their process.

Two locks, so that a long-lived service and a one-off command can share a database:

* ``InstanceLock`` (``<database>.lock``): held while refreshing. ``fetch`` and ``run --once``
  take it (``fetch`` waits for a refresh in progress, ``run --once`` refuses); the ``run``
  service takes it for each refresh tick, so two refreshes never interleave.
* ``ServiceLock`` (``<database>.run.lock``): held by ``aggregator run`` for its whole life, so
  a second service on the same database refuses at once.

``flock`` is released by the kernel when the holder exits or is killed, so a crash never
leaves a stale lock behind; the file only records the holder's pid for the message.

On a PostgreSQL store (a fleet: several processes, maybe several hosts) the locks are per role.
Refreshing is shared: any number of processes refresh at once, coordinated by their claims on
sources (``store.claim_sources``), so ``InstanceLock`` and ``ServiceLock`` hold nothing there.
A role that must have one holder (``exclusive_in_fleet``: sending a digest issue) takes a
session advisory lock on its key in the database (``store.role_lock``), which the server drops
when the holder's process dies.
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
from ..store import role_lock

log = logging.getLogger("aggregator.lock")


class AlreadyRunning(AggregatorError):
    """Another process holds the lock (exit code 3, distinct from config and run errors)."""

    exit_code = 3


def lock_file(database: Path | str, suffix: str) -> Path:
    """The lock file of ``database``: beside a SQLite file; for a PostgreSQL URL, a name in the
    temporary folder (unused: PostgreSQL's roles are shared or advisory locks)."""
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
    #: On a PostgreSQL store: one holder per key (an advisory lock), or shared (nothing held).
    exclusive_in_fleet = False

    def __init__(
        self,
        database: Path | str,
        *,
        wait: bool = False,
        timeout: float | None = 600.0,
        key: str = "",
    ):
        fleet = "://" in str(database)
        self.database = database if fleet else Path(database)
        self.path = lock_file(database, self.suffix)
        self.wait = wait
        self.timeout = timeout
        self.fd: int | None = None
        # PostgreSQL: the role's advisory lock (``key``: e.g. the issue), or none (shared)
        role = f"{self.suffix.strip('.')}:{key}"
        self._advisory = role_lock(database, role) if fleet and self.exclusive_in_fleet else None
        self._shared = fleet and not self.exclusive_in_fleet
        self._shared_held = False

    @property
    def held(self) -> bool:
        if self._advisory is not None:
            return self._advisory.held
        return self.fd is not None or self._shared_held

    def acquire(self) -> None:
        if self._shared:  # a fleet shares this role: the store's claims coordinate it
            if self._shared_held:
                raise RuntimeError(f"{self.suffix} of {self.database} is already held")
            self._shared_held = True
            return
        if self._advisory is not None:
            self._acquire_advisory(self._advisory)
            return
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

    def _acquire_advisory(self, lock) -> None:
        started = time.monotonic()
        announced = False
        while not lock.try_acquire():
            waited = time.monotonic() - started
            if not self.wait or (self.timeout is not None and waited >= self.timeout):
                raise AlreadyRunning(self._message(_pid_of(lock.holder()), waited))
            if not announced:
                holder = _pid_of(lock.holder())
                log.info("waiting for pid %s, which is %s %s", holder, self.what, self.database)
                announced = True
            time.sleep(0.5)

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
        self._shared_held = False
        if self._advisory is not None:
            self._advisory.release()
            return
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


def _pid_of(application_name: str) -> str:
    """ "123 on host" of an advisory lock holder's "aggregator pid 123 on host: role:key"."""
    head = application_name.split(":", 1)[0]
    return head.removeprefix("aggregator pid ").strip() or "?"
