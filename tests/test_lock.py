"""The database locks, held by real separate processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aggregator.service.lock import AlreadyRunning, InstanceLock, ServiceLock

ROOT = Path(__file__).resolve().parents[1]

HOLDER = """
import sys, subprocess
from aggregator.service.lock import InstanceLock, ServiceLock
cls = ServiceLock if sys.argv[2] == "service" else InstanceLock
lock = cls(sys.argv[1]); lock.acquire()
if sys.argv[3] == "spawn":  # a long-lived child must not inherit the lock
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(child.pid, flush=True)
print("held", flush=True)
sys.stdin.readline()  # release when told (or when killed)
lock.release()
print("released", flush=True)
sys.stdin.readline()
"""


class Holder:
    """Another process holding a lock on ``db``."""

    def __init__(self, db: Path, kind: str = "instance", spawn: bool = False):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db), kind, "spawn" if spawn else "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        self.child = int(self.proc.stdout.readline()) if spawn else None
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        if self.child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signal.SIGKILL)


@pytest.fixture
def holders():
    made: list[Holder] = []

    def make(*args, **kw) -> Holder:
        h = Holder(*args, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def test_second_process_refuses_at_once_naming_the_holder(tmp_path, holders):
    db = tmp_path / "aggregator.db"
    h = holders(db)
    with pytest.raises(AlreadyRunning) as err:
        InstanceLock(db, wait=False).acquire()
    assert f"pid {h.proc.pid}" in str(err.value)
    assert str(db) in str(err.value)
    assert err.value.exit_code == 3


def test_lock_dies_with_a_killed_holder(tmp_path, holders):
    db = tmp_path / "aggregator.db"
    h = holders(db)
    h.kill()  # SIGKILL: no chance to release
    with InstanceLock(db) as lock:
        assert lock.held
        assert (tmp_path / "aggregator.db.lock").read_text().strip() == str(os.getpid())


def test_a_child_of_the_holder_does_not_keep_the_lock(tmp_path, holders):
    db = tmp_path / "aggregator.db"
    h = holders(db, spawn=True)
    h.kill()  # its child lives on
    os.kill(h.child, 0)  # still running
    assert InstanceLock(db).try_acquire()


def test_waiting_lock_gets_it_when_the_holder_releases(tmp_path, holders):
    db = tmp_path / "aggregator.db"
    h = holders(db)
    waiter = InstanceLock(db, wait=True, timeout=60)
    done = threading.Event()
    t = threading.Thread(target=lambda: (waiter.acquire(), done.set()), daemon=True)
    t.start()
    assert not done.wait(0.3)  # still waiting while the other process holds it
    h.release()
    assert done.wait(30)
    assert waiter.held
    waiter.release()


def test_waiting_lock_gives_up_after_its_timeout(tmp_path, holders):
    db = tmp_path / "aggregator.db"
    holders(db)
    with pytest.raises(AlreadyRunning, match=r"waited"):
        InstanceLock(db, wait=True, timeout=0.2).acquire()


def test_service_lock_and_refresh_lock_are_independent(tmp_path, holders):
    """A running service (ServiceLock) does not stop a manual fetch between its ticks, but a
    second service is refused with a message that says so."""
    db = tmp_path / "aggregator.db"
    h = holders(db, "service")
    with InstanceLock(db, wait=False):
        pass
    with pytest.raises(
        AlreadyRunning, match=rf"aggregator run is already running .*pid {h.proc.pid}"
    ):
        ServiceLock(db).acquire()


def test_release_is_idempotent_and_try_acquire_does_not_raise(tmp_path):
    db = tmp_path / "x.db"
    a, b = InstanceLock(db), InstanceLock(db)
    assert a.try_acquire()
    assert not b.try_acquire()  # a second open file description in the same process conflicts
    a.release()
    a.release()
    assert b.try_acquire()
    b.release()
    with pytest.raises(RuntimeError), InstanceLock(db) as c:
        c.acquire()
