"""Benchmark: one issue to 10,000 confirmed subscribers in 4 editions through a loopback SMTP sink,
against the floor of one connection: a bare smtplib loop sending one pre-built message.

Everything on our side is real: the store (subscribers, frozen issue and editions, the ledger's
three writes per message), rendering once per edition, the message factory, the SMTP client with
1 and 4 connections. The sink runs in its own process (aiosmtpd, the test server, keeping
nothing; or ``--sink fast``, a minimal asyncio server). Each case runs in a fresh child process
on a fresh copy of the same database, so its peak RSS (ru_maxrss) is its own; its CPU time and
the sink's during it are reported too (the sink shares the machine's cores). The cases run
interleaved, ``--rounds`` times (default 3, the order rotating each round), and the table shows
the medians; ``--baseline DIR`` adds "before" cases running the code of another checkout (a
``git archive`` of an older commit) on the same database and sink.

    python bench/bench_send.py [--subscribers 10000] [--connections 1 4] [--sink aiosmtpd|fast]
                               [--rounds 3] [--baseline DIR]
                               [--database sqlite|postgresql] [--senders 1 2]

``--database postgresql`` runs every case on a throwaway PostgreSQL cluster
(tests/support/postgres.py), each on a fresh copy (``CREATE DATABASE ... TEMPLATE``) of one
filled database, and adds the server's CPU. ``--senders 1 2`` (PostgreSQL) runs the issue with
1 and 2 sender processes started together, the issue's advisory lock taken away so that only
the delivery claims keep them apart (with the lock, a second sender is refused at once): the
time is from the first sender's start to the last one's end, ``sent`` the messages the senders
delivered between them, checked against the ledger (every subscriber sent, none twice).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
ROOT = Path(os.environ.get("BENCH_SEND_ROOT") or HERE)  # the code under test (--baseline)
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from aggregator.models import ParsedItem, Tagging
from aggregator.settings import DigestSettings, Settings, SmtpSettings
from aggregator.store import Store

WEEK = datetime(2026, 11, 25, 10, tzinfo=UTC)
NOW = WEEK + timedelta(days=7)
TAGS = [("ai", "africa"), ("ai",), ("africa",), ("diplomacy",), ()]
#: four editions: everything, AI only, French only, Africa in Arabic
CHOICES = [((), ()), (("ai",), ()), ((), ("fr",)), (("africa",), ("ar",))]


def fill(store: Store, stories: int, subscribers: int) -> None:
    store.sync_sources([(f"Outlet {i}", f"http://127.0.0.1/{i}") for i in range(8)])
    for i in range(stories):
        lang = ("en", "fr", "ar")[i % 3]
        title = {"en": f"Story {i}: AI policy news from the continent",
                 "fr": f"Article {i} : l'IA et la diplomatie africaine",
                 "ar": f"خبر {i} عن الذكاء الاصطناعي في أفريقيا"}[lang]  # fmt: skip
        parsed = ParsedItem(guid=str(i), link=f"https://news.example.net/{i}", title=title,
                            summary="<p>" + "Some words of summary text. " * 20 + "</p>",
                            language=lang)  # fmt: skip
        when = WEEK + timedelta(minutes=i)
        iid = store.insert_item("Outlet 0", str(i), None, parsed, f"h{i}",
                                Tagging(tags=TAGS[i % len(TAGS)]), when)  # fmt: skip
        cid = store.new_cluster(iid, when)
        for j in range(1, 1 + i % 4):
            jid = store.insert_item(f"Outlet {j}", f"{i}-{j}", None, parsed, f"h{i}{j}",
                                    Tagging(tags=TAGS[i % len(TAGS)]), when)  # fmt: skip
            store.join_cluster(jid, cid, when)
    with store.conn.transaction():
        for i in range(subscribers):
            topics, languages = CHOICES[i % len(CHOICES)]
            store.set_subscriber_status(f"reader{i:05d}@example.org", "confirmed", "import",
                                        WEEK, topics=topics, languages=languages)  # fmt: skip


def settings_for(d: Path, port: int, connections: int, url: str | None = None) -> Settings:
    return Settings(
        path=d / "config.yaml", database=url or d / "agg.db", sources=(),
        topics={"diplomacy": {"en": ("embassy",)}},
        digest=DigestSettings(
            templates=d / "templates", outbox=d / "outbox",
            smtp=SmtpSettings(host="127.0.0.1", port=port, security="none",
                              connections=connections),
        ),
    )  # fmt: skip


class _NoIssueLock:
    """--senders: the claims alone keep the senders apart (the issue's lock would refuse all
    but one of them)."""

    def __init__(self, *args: object, **kw: object) -> None:
        pass

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass


def case_ours(d: Path, port: int, connections: int, url: str | None = None,
              no_issue_lock: bool = False) -> dict:  # fmt: skip
    from aggregator.service import sending

    if no_issue_lock:
        sending.DigestLock = _NoIssueLock  # type: ignore[assignment,misc]
    store = Store(url or d / "agg.db")
    settings = settings_for(d, port, connections, url)
    start = time.time()
    t0 = time.perf_counter()
    report = sending.send_digest(settings, store, week="2026-W48", now=NOW)
    elapsed = time.perf_counter() - t0
    store.close()
    return {"elapsed": elapsed, "sent": report.sent, "editions": report.editions,
            "failed": report.failed, "connections": report.connections,
            "start": start, "end": time.time()}  # fmt: skip


def case_floor(d: Path, port: int, n: int, url: str | None = None) -> dict:
    """One pre-built message (one of ours, from a dry run) sent n times on one connection."""
    from aggregator.service.sending import send_digest

    store = Store(url or d / "agg.db")
    settings = settings_for(d, port, 1, url)
    ids = [s.email for s in store.subscribers("confirmed")[:1]]
    for s in store.subscribers("confirmed")[1:]:
        store.set_subscriber_status(s.email, "paused", "operator", NOW)
    send_digest(settings, store, week="2026-W48", now=NOW, mode="dry-run")
    (eml,) = (d / "outbox" / "dry-run" / "2026-W48").glob("*.eml")
    data = eml.read_bytes()
    t0 = time.perf_counter()
    conn = smtplib.SMTP("127.0.0.1", port)
    for i in range(n):
        conn.sendmail("digest@news.example.org", [f"reader{i:05d}@example.org"], data)
    conn.quit()
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "sent": n, "bytes": len(data), "of": ids[0]}


def child(args: argparse.Namespace) -> int:
    d = Path(args.dir)
    if args.case == "floor":
        out = case_floor(d, args.port, args.subscribers, args.url)
    else:
        out = case_ours(d, args.port, args.connections[0], args.url, args.no_issue_lock)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["max_rss_mib"] = usage.ru_maxrss / 1024
    out["cpu"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(out))
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_case(template: Path, tmp: Path, name: str, port: int, extra: list[str], sink: int,
             root: Path | None = None, cluster=None, senders: int = 1) -> dict:  # fmt: skip
    d = tmp / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    url = None
    if cluster is None:
        shutil.copy(template / "agg.db", d / "agg.db")
    else:
        url = copy_database(cluster, name)
        extra = [*extra, "--url", url] + (["--no-issue-lock"] if senders > 1 else [])
    cmd = [sys.executable, __file__, "--child", "--dir", str(d), "--port", str(port), *extra]
    env = dict(os.environ, BENCH_SEND_ROOT=str(root or HERE))
    before = cpu_seconds(sink)
    server_before = server_cpu(cluster.data) if cluster is not None else 0.0
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(senders)]  # fmt: skip
    outs = []
    for p in procs:
        stdout, stderr = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"{name}: a sender failed:\n{stderr}")
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    out = dict(outs[0])
    if senders > 1:
        out["elapsed"] = max(o["end"] for o in outs) - min(o["start"] for o in outs)
        out["sent"] = sum(o["sent"] for o in outs)
        out["cpu"] = sum(o["cpu"] for o in outs)
        out["max_rss_mib"] = max(o["max_rss_mib"] for o in outs)
        out["split"] = [o["sent"] for o in outs]
    out["sink_cpu"] = cpu_seconds(sink) - before
    if cluster is not None:
        out["server_cpu"] = server_cpu(cluster.data) - server_before
        if "--case" not in extra:  # the ledger: every subscriber sent once
            with Store(url) as store:
                rows = store.deliveries("2026-W48")
            out["ledger_sent"] = sum(1 for r in rows.values() if r.status == "sent")
        cluster.drop(url)
    shutil.rmtree(d, ignore_errors=True)
    return out


def copy_database(cluster, name: str) -> str:
    """A fresh copy of the filled template database; its URL."""
    import psycopg

    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "send_template"')
    return cluster.url(name)


def server_cpu(data: Path) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster with its ended children, and the
    live backends (as bench_fleet.py counts it)."""
    master = int((data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) == master:
            total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        elif int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--stories", type=int, default=40)
    ap.add_argument("--connections", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--sink", choices=("aiosmtpd", "fast"), default="aiosmtpd")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="a checkout of older code to compare with")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--case", default="ours", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--senders", type=int, nargs="+", default=[1],
                    help="sender processes of the issue at once (PostgreSQL)")  # fmt: skip
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--no-issue-lock", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    flags = ["--fast"] if args.sink == "fast" else []
    server = HERE / "tests" / "support" / "smtpserver.py"
    sink = subprocess.Popen([sys.executable, str(server), *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    n = args.subscribers
    if args.database == "sqlite" and args.senders != [1]:
        raise SystemExit("--senders: PostgreSQL only (SQLite has one sender, its lock file)")
    cases: list[tuple[str, list[str], Path | None, int]] = [
        ("floor", ["--case", "floor", "--subscribers", str(n)], None, 1)
    ]
    for c in args.connections:
        for k in args.senders:
            tail = f"x{c}" if k == 1 else f"x{c} s{k}"
            if args.baseline:
                cases.append((f"before {tail}", ["--connections", str(c)],
                              args.baseline.resolve(), k))  # fmt: skip
            cases.append((f"ours {tail}", ["--connections", str(c)], None, k))
    results: dict[str, list[dict]] = {name: [] for name, _, _, _ in cases}
    cluster = None
    if args.database == "postgresql":
        from support.postgres import PostgresCluster, find_bindir

        bindir = find_bindir()
        if bindir is None:
            raise SystemExit("PostgreSQL server programs not installed")
        cluster = PostgresCluster(bindir).start()
    load = [os.getloadavg()[0]]
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        threading.Thread(target=sink.stdout.read, daemon=True).start()  # keep the pipe empty
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            template = tmp / "template"
            template.mkdir()
            t0 = time.perf_counter()
            if cluster is not None:
                import psycopg

                with psycopg.connect(cluster.url(), autocommit=True) as conn:
                    conn.execute('CREATE DATABASE "send_template" TEMPLATE template0')
            with Store(cluster.url("send_template") if cluster else template / "agg.db") as store:
                fill(store, args.stories, args.subscribers)
            setup = time.perf_counter() - t0
            for r in range(args.rounds):
                shift = r % len(cases)
                for name, extra, root, k in cases[shift:] + cases[:shift]:
                    got = run_case(template, tmp, name.replace(" ", ""), port, extra, sink.pid,
                                   root, cluster, k)  # fmt: skip
                    results[name].append(got)
                    load.append(os.getloadavg()[0])
                    print(f"  round {r + 1} {name}: {got['elapsed']:.2f} s", file=sys.stderr)
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        if cluster is not None:
            cluster.stop()

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    floor = results["floor"]
    print(f"subscribers {n} in {len(CHOICES)} editions, {args.database}, sink {args.sink}, "
          f"{os.cpu_count()} CPUs, load {min(load):.2f}-{max(load):.2f} (1-min average), "
          f"set-up {setup:.1f} s, message {floor[0]['bytes']} bytes, "
          f"medians of {args.rounds} rounds")  # fmt: skip
    print(f"{'case':<12} {'sent':>6} {'time s':>8} {'msg/s':>7} {'x floor':>8} "
          f"{'CPU ms/msg':>10} {'sink ms/msg':>11} {'pg ms/msg':>9} {'peak RSS':>9}")  # fmt: skip
    for name in results:
        el = med(name, "elapsed")
        pg = statistics.median(r.get("server_cpu", 0.0) for r in results[name])
        split = f"  split {results[name][-1]['split']}" if "split" in results[name][-1] else ""
        ratio = statistics.median(
            a["elapsed"] / b["elapsed"] for a, b in zip(results[name], floor, strict=True)
        )  # each round's case against the same round's floor
        print(f"{name:<12} {results[name][0]['sent']:>6} {el:>8.2f} {n / el:>7.0f} "
              f"{ratio:>7.2f}x {1000 * med(name, 'cpu') / n:>10.2f} "
              f"{1000 * med(name, 'sink_cpu') / n:>11.2f} "
              f"{1000 * pg / n:>9.2f} {med(name, 'max_rss_mib'):>6.1f} MiB{split}")  # fmt: skip
    ok = all(
        r["sent"] == n
        and r.get("ledger_sent", n) == n
        and (name == "floor" or r.get("editions") == len(CHOICES))
        for name, rs in results.items()
        for r in rs
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
