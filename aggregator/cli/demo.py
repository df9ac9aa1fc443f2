"""``aggregator demo``: the whole pipeline in one command, with no network.

Six real feeds (Arabic, French and English outlets; see ``data/demo/SOURCES.md``) ship inside
the package. The demo serves them on a loopback port, writes a config.yaml into a fresh
temporary folder, and runs fetch ─► dedupe ─► tag ─► publish ─► digest (a dry run to the
outbox) exactly as ``aggregator run`` would, then prints where to look. The folder is kept so
the reader can open the files and rerun commands with ``--config``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from ..clock import utcnow

#: (file in data/demo, source name, language, prior tags)
#: (file, name, language, tags applied to every item, prior: a hint that only raises evidence).
#: Jeune Afrique publishes only Africa; the others also carry world news.
DEMO_FEEDS: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("hespress-ar.xml", "Hespress AR", "ar", (), ("africa",)),
    ("maroc-diplomatique-fr.xml", "Maroc Diplomatique", "fr", (), ("africa",)),
    ("jeune-afrique-fr.xml", "Jeune Afrique", "fr", ("africa",), ()),
    ("techcabal-en.xml", "TechCabal", "en", (), ("africa",)),
    ("rest-of-world-en.xml", "Rest of World", "en", (), ()),
    ("ars-technica-en.xml", "Ars Technica", "en", (), ()),
)
TIMEZONE = "Africa/Casablanca"


class _QuietHandler(SimpleHTTPRequestHandler):
    # The base declares extensions_map an instance attribute (so no ClassVar); a class-level
    # override is how http.server handlers are customised.
    extensions_map = {  # noqa: RUF012
        **SimpleHTTPRequestHandler.extensions_map,
        ".xml": "application/rss+xml",
    }

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="demo-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def demo_config(base_url: str, workdir: Path) -> str:
    """A config.yaml for the demo: loopback allowed, everything inside ``workdir``."""
    q = partial(json.dumps, ensure_ascii=False)  # JSON strings are valid YAML scalars
    lines = [
        "# Written by `aggregator demo`: the bundled sample feeds served on loopback.",
        "database: aggregator.db",
        "log_level: WARNING",
        "output:",
        "  dir: public",
        "  base_url: http://localhost:8080/",
        '  title: "AI & Africa: demo"',
        "fetch:",
        "  timeout: 10s",
        "  allow_private: [127.0.0.0/8]     # the sample feeds are served on 127.0.0.1",
        "sources:",
    ]
    for filename, name, language, tags, prior in DEMO_FEEDS:
        lines += [f"  - name: {q(name)}", f"    url: {q(base_url + filename)}",
                  f"    language: {language}"]  # fmt: skip
        if tags:
            lines.append(f"    tags: [{', '.join(tags)}]")
        if prior:
            lines.append(f"    prior: [{', '.join(prior)}]")
    lines += [
        "topics:",
        "  diplomacy:",
        '    en: [diplomacy, diplomat, embassy, ambassador, "foreign minister"]',
        "    fr: [diplomatie, diplomate, ambassade, ambassadeur]",
        '    ar: [دبلوماسية, سفارة, سفير, "وزير الخارجية"]',
        "digest:",
        f"  timezone: {TIMEZONE}",
        "  recipients: [reader@example.org]",
        '  from: "AI & Africa demo <digest@news.example.org>"',
        "  unsubscribe_url: https://news.example.org/unsubscribe",
        "  outbox: outbox",
        "  grace: 3650d   # the sample feeds are archived copies: count their stories as news",
    ]
    return "\n".join(lines) + "\n"


def current_week(now: datetime, timezone: str = TIMEZONE) -> str:
    """The ISO week containing ``now``: the demo's items are all first seen now."""
    year, week, _ = now.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year:04d}-W{week:02d}"


def run_demo(workdir: Path | None = None, out: TextIO | None = None) -> int:
    """Run the demo in ``workdir`` (default: a new temporary folder); 0 when it all worked."""
    from ..config import load
    from ..service.pipeline import Pipeline, publish
    from ..service.sending import send_digest
    from ..store import Store

    out = out or sys.stdout
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="aggregator-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    package_feeds = resources.as_file(resources.files("aggregator") / "data" / "demo")
    with package_feeds as feeds_dir, serve_directory(Path(feeds_dir)) as base_url:
        config_path.write_text(demo_config(base_url, workdir), encoding="utf-8")
        settings = load(config_path)
        print(f"serving {len(DEMO_FEEDS)} sample feeds on {base_url} (no network needed)", file=out)
        with Store(settings.database) as store, Pipeline(settings, store) as pipe:
            report = pipe.refresh(force=True)
    with Store(settings.database) as store:
        now = utcnow()
        published = publish(settings, store, now)
        week = current_week(now, settings.digest.timezone)
        digest = send_digest(settings, store, week=week, mode="dry-run", now=now)
        stories = len(store.latest_stories(10_000))
    failed = [o for o in report.outcomes if o.error]
    print(f"fetched {len(report.outcomes)} sources: {report.new_items} items, "
          f"{stories} stories after merging duplicates", file=out)  # fmt: skip
    for o in failed:
        print(f"  {o.name}: {o.error}", file=out)
    outdir = settings.output.dir
    emls = sorted(digest.outbox.glob("*.eml")) if digest.outbox else []
    print(f"published {len(published.written)} files:", file=out)
    print(f"  feeds:  {outdir / 'feed.xml'}  (also atom.xml, feed.json, tags/)", file=out)
    print(f"  page:   {outdir / 'index.html'}", file=out)
    print(f"  weeks:  {outdir / 'archive'}/  ({len(published.weeks)} pages)", file=out)
    print(digest.summary(), file=out)
    for eml in emls:
        print(f"  email:  {eml}", file=out)
    print(f"config:   {config_path}\n"
          f"try:      aggregator --config {config_path} status", file=out)  # fmt: skip
    ok = not failed and (outdir / "index.html").is_file() and bool(emls)
    return 0 if ok else 1
