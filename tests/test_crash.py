"""Crash consistency: SIGKILL a real `aggregator fetch` 12 times in a row, each time at a chosen
point of its SQL (``support.killpoint``: the child stops there, says so through a pipe, and is
killed), then run normally. After every kill the store must pass PRAGMA integrity_check and
every source's state must agree with its items (one transaction per source); after the normal
run it must hold every item exactly once."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.config import load
from aggregator.store import Store

from support.corpus import REAL, distinct_items, write_config

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
COPIES = 4  # copies of the corpus under different names: 132 sources

#: Where the first 11 runs are killed (see support.killpoint): inside the N-th unit (that
#: source's writes done, its group not committed), or at the COMMIT of the group holding the N-th
#: unit, before it runs. Units are committed only by the groups before the point, so a run keeps
#: at most N - 1 new sources: every point stays reachable (each source still to store is a unit
#: of the next run) and sum(N - 1) leaves more than LAST sources to store for the last run, killed
#: right after a COMMIT that covered LAST units.
SCHEDULE = [
    ("unit", 1), ("commit", 1), ("unit", 5), ("commit", 13), ("unit", 40), ("commit", 3),
    ("unit", 2), ("commit", 8), ("unit", 21), ("unit", 1), ("commit", 2),
]  # fmt: skip
LAST = 20
WAIT = 120.0  # seconds a run may take to reach its point (a safety bound, not a timing)


def _kill_at(cmd: list[str], env: dict[str, str], kind: str, n: int) -> str:
    """Start a run that stops at ``kind:n``, wait for it to get there, SIGKILL it."""
    read, write = os.pipe()
    argv = [sys.executable, "-m", "support.killpoint", "--fd", str(write), "--at", f"{kind}:{n}"]
    proc = subprocess.Popen(
        [*argv, "--", *cmd],
        env=env,
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], WAIT)
        line = os.read(read, 200).decode() if ready else ""
        proc.send_signal(signal.SIGKILL)  # a no-op if it is gone already
        proc.wait(timeout=30)
    finally:
        os.close(read)
    assert line.startswith(f"{kind}:{n} "), (
        f"the run never reached {kind}:{n} (exit {proc.returncode})"
    )
    assert proc.returncode == -signal.SIGKILL
    return line


def _check_consistent(database: Path) -> tuple[int, int]:
    """Integrity and one-transaction-per-source; returns (sources stored, sources to store)."""
    with Store(database) as store:
        assert store.integrity_check() == "ok"
        states = store.source_states()
        for state in states:
            # Coherent: a source has items iff it recorded a successful parse of its body.
            assert (state.items > 0) == (state.body_hash is not None), state.name
    stored = sum(1 for s in states if s.body_hash is not None)
    return stored, len(states) - stored


@pytest.mark.slow
def test_sigkill_during_fetch_at_twelve_points_then_a_normal_run(tmp_path, feed_server):
    files = sorted(REAL.glob("*.xml"))
    sources = [(f"{f.stem}#{n}", feed_server.url(f"corpus/real/{f.name}?copy={n}")) for n in range(COPIES) for f in files]  # fmt: skip
    config = write_config(tmp_path, sources)
    settings = load(config)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]))
    cmd = ["-q", "--config", str(config), "fetch", "--force"]

    stored, left = 0, len(sources)
    for kind, n in [*SCHEDULE, ("committed", LAST)]:
        # Guaranteed by the schedule (left never drops by more than N - 1 a run): the run has
        # at least n units, so the point is reached.
        assert left >= n
        before = stored
        _kill_at(cmd, env, kind, n)
        stored, left = _check_consistent(settings.database)
        assert stored + left == len(sources)
    # The last kill came after a COMMIT that covered LAST units, at most one of them a batch of
    # unchanged sources: those sources are stored for good.
    assert stored >= before + LAST - 1

    done = subprocess.run(
        [sys.executable, "-m", "aggregator", *cmd],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with Store(settings.database) as store:
        assert store.integrity_check() == "ok"
        states = {s.name: s for s in store.source_states()}
        for name, _url in sources:
            expected = distinct_items(REAL / (name.split("#")[0] + ".xml"))
            assert states[name].items == expected, name
        assert store.count_items() == COPIES * sum(distinct_items(f) for f in files)
        assert not store.unclustered_items()
