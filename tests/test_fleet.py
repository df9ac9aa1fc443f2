"""A fleet on PostgreSQL: several `aggregator run --once` processes refreshing one database at
once claim the due sources (a lease each), so every item of the 33-feed corpus is stored once
(the same items as one SQLite run), also when one worker is killed with SIGKILL mid-refresh
(its claims run out and another worker takes its sources); the digest's advisory lock lets one
sender per issue through; SQLite keeps its one-instance lock files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.config import load
from aggregator.service import sending
from aggregator.service.lock import AlreadyRunning, InstanceLock, ServiceLock
from aggregator.service.sending import DigestLock, send_digest
from aggregator.settings import Settings
from aggregator.store import Sent, Store

from support.corpus import REAL, write_config
from support.digest import AFTER_W48, smtp_settings, week_store
from support.smtpserver import Sink

ROOT = Path(__file__).resolve().parents[1]
LEASE = 2.0  # seconds: a dead worker's sources go to others this soon

pytestmark = pytest.mark.postgres


def _corpus_config(tmp_path: Path, servers, database: object) -> Path:
    """The 33 feeds spread over the servers (one host:port each, as distinct hosts), claimed
    ten at a time, with a short lease."""
    files = sorted(REAL.glob("*.xml"))
    sources = [
        (f.stem, servers[i % len(servers)].url(f"corpus/real/{f.name}"))
        for i, f in enumerate(files)
    ]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_config(tmp_path, sources, database=database)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("workers: 8}", f"workers: 8, lease: {LEASE}s}}"), "utf-8")
    return path


def _worker(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "-q", "--config", str(config), "run", "--once"],
        cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def _finish(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err


def _items(database: object) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """Every stored item as (source, key, content hash), and each source's state."""
    with Store(database) as store:
        items = sorted((it.source, it.key, it.content_hash) for it in store.items())
        states = {s.name: s.state for s in store.source_states()}
    return items, states


@pytest.fixture(scope="module")
def servers():
    from support.feedserver import FeedServer

    started = [FeedServer(root=ROOT / "tests" / "data").start() for _ in range(4)]
    yield started
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory, servers):
    """The reference: one process, SQLite."""
    tmp = tmp_path_factory.mktemp("sqlite")
    config = _corpus_config(tmp, servers, "agg.db")
    _finish([_worker(config)])
    items, states = _items(tmp / "agg.db")
    assert len(items) > 500 and set(states.values()) == {"ok"}
    return items


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 4])
def test_workers_refreshing_together_store_each_item_once(
    tmp_path, servers, sqlite_run, postgres_url, workers
):
    config = _corpus_config(tmp_path, servers, postgres_url)
    procs = [_worker(config) for _ in range(workers)]
    _finish(procs)
    items, states = _items(postgres_url)
    assert items == sqlite_run  # the same items, each once (no lost, no doubled)
    assert set(states.values()) == {"ok"} and len(states) == 33
    with Store(postgres_url) as store:
        assert store.claims() == {}  # every claim cleared by its state's save
        fetched = store.attempt_counts()
        assert all(n == 1 for n, _ in fetched.values()), fetched  # no source fetched twice


@pytest.mark.slow
def test_a_worker_killed_mid_refresh_loses_nothing_and_doubles_nothing(
    tmp_path, servers, sqlite_run, postgres_url
):
    """SIGKILL one of four workers once it holds claims and items are stored: its claims run
    out and the others take its sources over before they finish; the store ends with the
    SQLite run's items, each once."""
    config = _corpus_config(tmp_path, servers, postgres_url)
    Store(postgres_url).close()  # migrated before the race, so claims can be watched
    procs = [_worker(config) for _ in range(4)]
    by_pid = {p.pid: p for p in procs}
    victim, held = None, set()
    deadline = time.monotonic() + 120
    with Store(postgres_url) as store:
        while victim is None and time.monotonic() < deadline:
            claims = store.claims()
            for who, _until in claims.values():
                pid = int(who.split(":")[1])
                if pid in by_pid and by_pid[pid].poll() is None and store.count_items():
                    victim = by_pid[pid]  # mid-refresh: items stored, sources claimed
                    break
            else:
                time.sleep(0.02)
        assert victim is not None, "no worker was seen holding claims"
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        held = {s for s, (who, _) in claims.items() if f":{victim.pid}:" in who}
        assert victim.returncode == -signal.SIGKILL and held
        # the others wait for its leases to run out and take its sources over
        _finish([p for p in procs if p is not victim])
        assert store.claims() == {}
    items, states = _items(postgres_url)
    assert items == sqlite_run  # nothing lost, nothing doubled
    assert set(states.values()) == {"ok"}
    print(f"killed pid {victim.pid} holding {len(held)} claims; the others took them over")


def test_claims_skip_busy_hosts_and_expired_leases_are_taken_over(postgres_url):
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 11, 23, 8, tzinfo=UTC)
    with Store(postgres_url) as store:
        store.sync_sources([("a1", "http://a.example/1"), ("a2", "http://a.example/2"),
                            ("b1", "http://b.example:81/1"), ("c1", "http://c.example/1")])  # fmt: skip
        names = ["a1", "a2", "b1", "c1"]
        assert store.claim_sources(["a1"], "w1", t0, 60, limit=1) == ["a1"]
        # host a.example is w1's while its lease lives: w2 gets the other hosts only
        assert store.claim_sources(names, "w2", t0, 60) == ["b1", "c1"]
        assert store.claim_sources(names, "w3", t0, 60) == []
        # w1 may take more of its own host
        assert store.claim_sources(names, "w1", t0, 60) == ["a1", "a2"]
        # the lease ran out (w1 died): another worker takes the sources over
        later = t0 + timedelta(seconds=61)
        assert store.claim_sources(names, "w3", later, 60) == ["a1", "a2", "b1", "c1"]
        assert store.renew_claims("w3", later + timedelta(seconds=600)) == 4
        assert store.holds_claim("a1", "w3") and not store.holds_claim("a1", "w1")
        state = store.source_state("a1")
        store.save_source_state(state)  # a saved state clears its claim
        assert set(store.claims()) == {"a2", "b1", "c1"}
        assert store.release_claims("w3") == 3 and store.claims() == {}


def test_refresh_is_shared_and_a_digest_issue_has_one_sender_on_postgresql(postgres_url):
    """PostgreSQL mode: the refresh and service locks are per role and shared (claims do the
    work), the digest lock is one advisory lock per issue, released with its process."""
    a, b = InstanceLock(postgres_url), InstanceLock(postgres_url)
    assert a.try_acquire() and b.try_acquire()
    a.release(), b.release()
    s1, s2 = ServiceLock(postgres_url), ServiceLock(postgres_url)
    assert s1.try_acquire() and s2.try_acquire()
    s1.release(), s2.release()
    w48, w48_again, w49 = (DigestLock(postgres_url, key=k) for k in ("2026-W48", "2026-W48",
                                                                       "2026-W49"))  # fmt: skip
    assert w48.try_acquire()
    with pytest.raises(AlreadyRunning, match=rf"pid {os.getpid()} on .* is sending the digest"):
        w48_again.acquire()
    assert w49.try_acquire()  # another issue: another key
    w48.release()
    assert w48_again.try_acquire()
    w48_again.release(), w49.release()
    # held by a process killed with SIGKILL: the server drops it with the session
    code = (
        "import sys; from aggregator.service.sending import DigestLock;"
        "l = DigestLock(sys.argv[1], key='2026-W50'); assert l.try_acquire();"
        "print('held', flush=True); sys.stdin.readline()"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, postgres_url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    w50 = DigestLock(postgres_url, key="2026-W50")
    assert not w50.try_acquire()
    holder.kill()
    holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    while not w50.try_acquire():
        assert time.monotonic() < deadline, "the killed holder's lock was not dropped"
        time.sleep(0.1)
    w50.release()


def test_sqlite_keeps_its_lock_files(tmp_path):
    db = tmp_path / "agg.db"
    a, b = InstanceLock(db), InstanceLock(db)
    assert a.try_acquire() and not b.try_acquire()
    a.release()
    d1, d2 = DigestLock(db, key="2026-W48"), DigestLock(db, key="2026-W49")
    assert d1.try_acquire() and not d2.try_acquire()  # one sender per SQLite file, as before
    d1.release()
    assert load  # (the config loader reads fetch.lease: see _corpus_config)


def test_a_workers_deduper_learns_what_other_workers_stored(postgres_url):
    """Two workers' stores on one database: the second stores a story after the first read its
    window; the first, told the items stored since (``dedupe_window_after``), puts a copy of
    that story in the same cluster instead of starting a new one."""
    from datetime import UTC, datetime

    from aggregator.dedupe import Deduper
    from aggregator.models import ParsedItem, Tagging
    from aggregator.normalize import canonical_url, content_hash, item_key

    t0 = datetime(2026, 11, 23, 8, tzinfo=UTC)
    title = "Morocco launches a national artificial intelligence plan for its universities"
    body = ("The ministry said on Monday that the plan funds research chairs, computing centres "
            "and scholarships in twelve universities over five years, starting in September.")  # fmt: skip

    def add(store, deduper, source, n, text_title, text_body):
        store.sync_sources([(source, f"https://{source}.example/feed")])
        link = f"https://{source}.example/{n}"
        p = ParsedItem(guid=None, link=link, title=text_title, summary=text_body)
        with store.transaction():
            iid = store.insert_item(source, item_key(p), canonical_url(link), p,
                                    content_hash(p), Tagging(), t0)  # fmt: skip
            return deduper.assign(iid, source, p, canonical_url(link), t0)

    with Store(postgres_url) as a, Store(postgres_url) as b:
        da, db = Deduper(a), Deduper(b)
        add(a, da, "first", 1, "Football results of the weekend", "Scores and tables.")
        top = a.next_item_id() - 1  # worker a's window is loaded; b stores after it
        shared = add(b, db, "wire", 2, title, body)
        da.learn(a.dedupe_window_after(top))
        assert add(a, da, "copy", 3, title + " - Copy", "(Wire) " + body) == shared


# ---- deliveries: claimed, so two senders never send one (issue, recipient) --------------------


def test_a_delivery_is_claimed_by_one_sender_until_it_ends_or_its_sender_dies(postgres_url):
    """``begin_delivery`` refuses a row sent already, or pending under another live sender's
    claim; a claim stops counting when its sender's session ends or its lease runs out."""
    issue, t0 = "2026-W48", datetime(2026, 12, 2, 9, tzinfo=UTC)
    a, b = Store(postgres_url), Store(postgres_url)
    try:
        assert a.begin_delivery(issue, "x@example.org", "<x@a>", t0, "all")
        assert not b.begin_delivery(issue, "x@example.org", "<x@b>", t0, "all")  # a's, pending
        assert a.begin_delivery(issue, "x@example.org", "<x@a>", t0, "all")  # a's own: again
        # b is refused the row but records its connection's previous message all the same
        assert not b.begin_delivery(issue, "x@example.org", "<x@b>", t0, "all",
                                    sent=Sent("y@example.org", "<y@b>", t0, "all"))  # fmt: skip
        assert b.deliveries(issue)["y@example.org"].status == "sent"
        assert not a.begin_delivery(issue, "y@example.org", "<y@a>", t0, "all")  # sent: b's
        a.finish_delivery(issue, "x@example.org", "failed", t0, message_id="<x@a>", error="4xx")
        assert b.begin_delivery(issue, "x@example.org", "<x@b>", t0, "all")  # an outcome: free
        assert not a.begin_delivery(issue, "x@example.org", "<x@a>", t0, "all")
        b.close()  # b's session ends (as when killed): its pending claim stops counting
        assert a.begin_delivery(issue, "x@example.org", "<x@a>", t0, "all")
        assert a.deliveries(issue)["x@example.org"].message_id == "<x@a>"
        b = Store(postgres_url)
        b.ledger.lease = -1.0  # b's claims run out at once (a sender hung past its lease)
        assert b.begin_delivery(issue, "z@example.org", "<z@b>", t0, "all")
        assert a.begin_delivery(issue, "z@example.org", "<z@a>", t0, "all")
    finally:
        a.close(), b.close()


def test_two_senders_started_together_on_one_issue_send_each_message_once(
    tmp_path, postgres_url, monkeypatch
):
    """Beyond the issue's advisory lock (taken away here, as if a sender had lost its
    session): two senders of one issue, two connections each, on one database, deliver every
    subscriber once between them; each says the other's are not its to send."""
    n = 40
    people = [f"pair{i:02d}@example.org" for i in range(n)]
    store = week_store(tmp_path, postgres_url)
    for address in people:
        store.set_subscriber_status(address, "confirmed", "form", AFTER_W48)
    store.close()

    class NoLock:  # the issue's lock is not what keeps them apart in this test
        def __init__(self, *args: object, **kw: object) -> None:
            pass

        def acquire(self) -> None:
            pass

        def release(self) -> None:
            pass

    monkeypatch.setattr(sending, "DigestLock", NoLock)
    start = threading.Barrier(2)
    reports: list[sending.DigestReport] = []
    errors: list[BaseException] = []

    def sender(settings: Settings) -> None:
        try:
            with Store(postgres_url) as mine:
                start.wait(timeout=30)
                reports.append(send_digest(settings, mine, week="2026-W48", now=AFTER_W48))
        except BaseException as exc:
            errors.append(exc)

    with Sink(delay_rcpt=0.01) as sink:
        settings = replace(smtp_settings(tmp_path, sink, recipients=(),
                                         smtp_kw={"connections": 2}), database=postgres_url)  # fmt: skip
        threads = [threading.Thread(target=sender, args=(settings,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        counts = sink.by_recipient()
    assert not errors, errors
    assert len(reports) == 2 and all(r.failed == 0 for r in reports)
    assert counts == {p: 1 for p in people}, reports
    assert sum(r.sent for r in reports) == n
    assert all(r.sent + r.already_sent == n for r in reports)
    with Store(postgres_url) as store:
        rows = store.deliveries("2026-W48")
    assert {r: d.status for r, d in rows.items()} == {p: "sent" for p in people}
