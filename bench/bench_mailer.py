"""Benchmark: one digest issue to N recipients (default 10,000) through a loopback SMTP sink.

The sink (tests/support/smtpserver.py, aiosmtpd) runs in its own process so it does not share the
sender's GIL. Everything else is real: the store and its ledger (three writes per message), the
templates, the message factory, the SMTP client over one reused connection (reconnecting every
``max_per_connection`` messages). Reports wall time, messages per second and peak RSS.

    python bench/bench_mailer.py [--recipients 10000] [--stories 40]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from aggregator.models import ParsedItem, Tagging
from aggregator.service.sending import send_digest
from aggregator.settings import DigestSettings, Settings, SmtpSettings
from aggregator.store import Store

WEEK = datetime(2026, 11, 25, 10, tzinfo=UTC)
TAGS = [("ai", "africa"), ("ai",), ("africa",), ("diplomacy",), ()]


def fill(store: Store, n: int) -> None:
    store.sync_sources([(f"Outlet {i}", f"http://127.0.0.1/{i}") for i in range(8)])
    for i in range(n):
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


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipients", type=int, default=10_000)
    ap.add_argument("--stories", type=int, default=40)
    ap.add_argument(
        "--sink",
        choices=("fast", "aiosmtpd"),
        default="fast",
        help="fast: a minimal asyncio sink (like a real MTA, cheap per message); "
        "aiosmtpd: the test server, which spends ~2 ms of CPU per message itself",
    )
    args = ap.parse_args()

    flags = ["--fast"] if args.sink == "fast" else []
    server = ROOT / "tests" / "support" / "smtpserver.py"
    sink = subprocess.Popen(
        [sys.executable, str(server), *flags], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(sink.stdout.readline())
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            store = Store(d / "agg.db")
            fill(store, args.stories)
            recipients = tuple(f"reader{i}@example.org" for i in range(args.recipients))
            settings = Settings(
                path=d / "config.yaml", database=d / "agg.db", sources=(),
                topics={"diplomacy": {"en": ("embassy",)}},
                digest=DigestSettings(
                    recipients=recipients, templates=d / "templates", outbox=d / "outbox",
                    smtp=SmtpSettings(host="127.0.0.1", port=port, security="none"),
                ),
            )  # fmt: skip
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            cpu0, sink0 = _cpu(), _proc_cpu(sink.pid)
            t0 = time.perf_counter()
            report = send_digest(settings, store, week="2026-W48", now=WEEK + timedelta(days=7))
            elapsed = time.perf_counter() - t0
            cpu, sink_cpu = _cpu() - cpu0, _proc_cpu(sink.pid) - sink0
            rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t1 = time.perf_counter()
            again = send_digest(settings, store, week="2026-W48", now=WEEK + timedelta(days=7))
            rerun = time.perf_counter() - t1
            time.sleep(1.5)  # the sink prints its count every second
    finally:
        sink.terminate()
        out, _ = sink.communicate(timeout=10)
    received = int(out.split()[-1]) if out.split() else -1
    print(f"recipients        {args.recipients} (sink: {args.sink})")
    print(f"stories in issue  {report.stories}")
    print(f"sent              {report.sent} (failed {report.failed}); sink received {received}")
    print(f"time              {elapsed:.2f} s ({report.sent / elapsed:.0f} messages/s)")
    print(f"CPU               sender {cpu:.1f} s, sink {sink_cpu:.1f} s, load {os.getloadavg()}")
    print(f"peak RSS          {rss1 / 1024:.1f} MiB (before the send: {rss0 / 1024:.1f} MiB)")
    print(f"rerun             {rerun:.2f} s, sent {again.sent}, already sent {again.already_sent}")
    ok = report.sent == args.recipients == received and again.sent == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
