"""Crash consistency: SIGKILL a real `aggregator fetch` 12 times in a row, each time at a chosen
point of its SQL (``support.killpoint``: the child stops there, says so through a pipe, and is
killed), then run normally. After every kill the store must pass PRAGMA integrity_check and
every source's state must agree with its items (one transaction per source); after the normal
run it must hold every item exactly once. The digest too: a send of editions over four SMTP
connections is killed mid-way, and the rerun completes it with one message per subscriber (a
message caught at the end of DATA resent with the same Message-ID), each of its frozen edition,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from aggregator.config import load
from aggregator.service.sending import send_digest
from aggregator.store import Store

from support.corpus import REAL, distinct_items, write_config
from support.digest import AFTER_W48, smtp_settings, week_store
from support.smtpserver import Sink

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


# ---- the digest: kill -9 while four connections deliver editions ---------------------------

_SEND_CHILD = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from dataclasses import replace
from pathlib import Path
from aggregator.service.sending import send_digest
from aggregator.store import Store
from support.digest import AFTER_W48, smtp_settings
class _Port:  # smtp_settings only needs .port
    port = {port}
s = smtp_settings(Path({tmp!r}), _Port, recipients=(), smtp_kw={{"connections": 4}})
s = replace(s, database={database!r})
send_digest(s, Store(s.database), week="2026-W48", now=AFTER_W48)
"""
#: the choices subscribers cycle through: four editions (and one empty for "ar" + diplomacy)
_CHOICES = [((), ()), (("ai",), ()), ((), ("fr",)), (("africa",), ("ar",)),
            (("diplomacy",), ("ar",))]  # fmt: skip


@pytest.mark.slow
def test_sigkill_while_sending_editions_over_four_connections_then_a_rerun(tmp_path, database):
    """On SQLite and on PostgreSQL (there the killed sender's delivery claims end with its
    session, so the rerun takes its pending messages over at once)."""
    n = 60
    people = [f"kill{i:02d}@example.org" for i in range(n)]
    database = database if isinstance(database, str) else str(database)
    store = week_store(tmp_path, database)
    for i, address in enumerate(people):
        topics, languages = _CHOICES[i % len(_CHOICES)]
        store.set_subscriber_status(address, "confirmed", "form", AFTER_W48, topics=topics,
                                    languages=languages)  # fmt: skip
    store.close()
    empty = {p for i, p in enumerate(people) if i % len(_CHOICES) == 4}
    with Sink(delay_rcpt=0.02) as sink:
        code = _SEND_CHILD.format(root=str(ROOT), tests=str(TESTS), port=sink.port,
                                  tmp=str(tmp_path), database=database)  # fmt: skip
        child = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path)
        deadline = time.monotonic() + WAIT
        while len(sink.messages) < 15 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        first = len(sink.messages)
        assert 15 <= first < n - len(empty)
        assert sink.connections == 4
        store = Store(database)
        assert store.integrity_check() == "ok"
        in_doubt = {r for r, (_, unknown) in store.delivery_flags("2026-W48").items() if unknown}
        assert len(in_doubt) <= 4  # at most one message in flight per connection
        editions = {k: store.frozen_edition("2026-W48", k) for k in
                    ("topics=ai", "languages=fr", "topics=africa;languages=ar")}  # fmt: skip
        s = smtp_settings(tmp_path, sink, recipients=(), smtp_kw={"connections": 4})
        report = send_digest(replace(s, database=database), store, week="2026-W48",
                             now=AFTER_W48)  # fmt: skip
        counts = sink.by_recipient()
        messages = list(sink.messages)
    assert report.failed == 0 and report.sent + report.already_sent == n - len(empty)
    assert set(counts) == set(people) - empty
    assert {r for r, c in counts.items() if c != 1} <= in_doubt
    assert set(report.uncertain) == in_doubt
    rows = store.deliveries("2026-W48")
    assert {r for r, d in rows.items() if d.status == "skipped"} == empty
    assert {d.status for r, d in rows.items() if r not in empty} == {"sent"}
    # the editions frozen before the kill are the ones the rerun sent
    for key, frozen in editions.items():
        if frozen is not None:
            assert store.frozen_edition("2026-W48", key) == frozen
    got = store.delivery_editions("2026-W48")
    for m in messages:  # every message is its recipient's edition, with one Message-ID each
        rcpt = m.rcpt_tos[0]
        edition = store.frozen_edition("2026-W48", got[rcpt]) if got[rcpt] != "all" else None
        want = edition.subject if edition else store.frozen_digest("2026-W48").subject
        assert m.message["Subject"] == want
    for r in set(people) - empty:
        assert len({m.message["Message-ID"] for m in messages if m.rcpt_tos == [r]}) == 1
