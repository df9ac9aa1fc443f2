"""One instance per database: an fcntl lock on ``<database>.lock`` that dies with its process."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .errors import AggregatorError


class AlreadyRunning(AggregatorError):
    exit_code = 3


class InstanceLock:
    """``wait=False``: refuse at once if another process holds the lock; ``wait=True``: wait up
    to ``timeout`` seconds (a ``fetch`` started while ``run`` is fetching waits its turn)."""

    def __init__(self, database: Path, *, wait: bool = False, timeout: float = 600.0):
        self.path = Path(str(database) + ".lock")
        self.wait = wait
        self.timeout = timeout
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not self.wait or time.monotonic() > deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise AlreadyRunning(
                        f"another aggregator (pid {holder}) is using {self.path.with_suffix('')}; "
                        "stop it first"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "InstanceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
