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


def settings_for(d: Path, port: int, connections: int) -> Settings:
    return Settings(
        path=d / "config.yaml", database=d / "agg.db", sources=(),
        topics={"diplomacy": {"en": ("embassy",)}},
        digest=DigestSettings(
            templates=d / "templates", outbox=d / "outbox",
            smtp=SmtpSettings(host="127.0.0.1", port=port, security="none",
                              connections=connections),
        ),
    )  # fmt: skip


def case_ours(d: Path, port: int, connections: int) -> dict:
    from aggregator.service.sending import send_digest

    store = Store(d / "agg.db")
    settings = settings_for(d, port, connections)
    t0 = time.perf_counter()
    report = send_digest(settings, store, week="2026-W48", now=NOW)
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "sent": report.sent, "editions": report.editions,
            "failed": report.failed, "connections": report.connections}  # fmt: skip


def case_floor(d: Path, port: int, n: int) -> dict:
    """One pre-built message (one of ours, from a dry run) sent n times on one connection."""
    from aggregator.service.sending import send_digest

    store = Store(d / "agg.db")
    settings = settings_for(d, port, 1)
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
        out = case_floor(d, args.port, args.subscribers)
    else:
        out = case_ours(d, args.port, args.connections[0])
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
             root: Path | None = None) -> dict:  # fmt: skip
    d = tmp / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    shutil.copy(template / "agg.db", d / "agg.db")
    cmd = [sys.executable, __file__, "--child", "--dir", str(d), "--port", str(port), *extra]
    env = dict(os.environ, BENCH_SEND_ROOT=str(root or HERE))
    before = cpu_seconds(sink)
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["sink_cpu"] = cpu_seconds(sink) - before
    shutil.rmtree(d, ignore_errors=True)
    return out


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
    args = ap.parse_args()
    if args.child:
        return child(args)

    flags = ["--fast"] if args.sink == "fast" else []
    server = HERE / "tests" / "support" / "smtpserver.py"
    sink = subprocess.Popen([sys.executable, str(server), *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    n = args.subscribers
    cases: list[tuple[str, list[str], Path | None]] = [
        ("floor", ["--case", "floor", "--subscribers", str(n)], None)
    ]
    for c in args.connections:
        if args.baseline:
            cases.append((f"before x{c}", ["--connections", str(c)], args.baseline.resolve()))
        cases.append((f"ours x{c}", ["--connections", str(c)], None))
    results: dict[str, list[dict]] = {name: [] for name, _, _ in cases}
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
            with Store(template / "agg.db") as store:
                fill(store, args.stories, args.subscribers)
            setup = time.perf_counter() - t0
            for r in range(args.rounds):
                shift = r % len(cases)
                for name, extra, root in cases[shift:] + cases[:shift]:
                    got = run_case(template, tmp, name.replace(" ", ""), port, extra, sink.pid,
                                   root)  # fmt: skip
                    results[name].append(got)
                    load.append(os.getloadavg()[0])
                    print(f"  round {r + 1} {name}: {got['elapsed']:.2f} s", file=sys.stderr)
    finally:
        sink.terminate()
        sink.wait(timeout=10)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    floor = results["floor"]
    print(f"subscribers {n} in {len(CHOICES)} editions, sink {args.sink}, "
          f"{os.cpu_count()} CPUs, load {min(load):.2f}-{max(load):.2f} (1-min average), "
          f"set-up {setup:.1f} s, message {floor[0]['bytes']} bytes, "
          f"medians of {args.rounds} rounds")  # fmt: skip
    print(f"{'case':<12} {'sent':>6} {'time s':>8} {'msg/s':>7} {'x floor':>8} "
          f"{'CPU ms/msg':>10} {'sink ms/msg':>11} {'peak RSS':>9}")  # fmt: skip
    for name in results:
        el = med(name, "elapsed")
        ratio = statistics.median(
            a["elapsed"] / b["elapsed"] for a, b in zip(results[name], floor, strict=True)
        )  # each round's case against the same round's floor
        print(f"{name:<12} {results[name][0]['sent']:>6} {el:>8.2f} {n / el:>7.0f} "
              f"{ratio:>7.2f}x {1000 * med(name, 'cpu') / n:>10.2f} "
              f"{1000 * med(name, 'sink_cpu') / n:>11.2f} "
              f"{med(name, 'max_rss_mib'):>6.1f} MiB")  # fmt: skip
    ok = all(
        r["sent"] == n and (name == "floor" or r.get("editions") == len(CHOICES))
        for name, rs in results.items()
        for r in rs
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
