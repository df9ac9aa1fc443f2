"""Command line: thin wrappers over the pipeline. ``main(argv) -> int``.

An ``AggregatorError`` becomes one readable line on stderr and its exit code (2 for configuration
problems, 1 otherwise); anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .. import __version__
from ..errors import AggregatorError, ConfigError
from . import bounces, db, sources, subscribers


class _Formatter(argparse.HelpFormatter):
    """Wraps prose lines to the terminal; keeps indented lines (examples, JSON shapes) as
    written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for line in text.splitlines():
            if not line.strip() or line.startswith(" "):
                out.append(indent + line if line.strip() else "")
            else:
                out.append(textwrap.fill(line, width, initial_indent=indent,
                                         subsequent_indent=indent))  # fmt: skip
        return "\n".join(out)


def _command(sub, name: str, summary: str, details: str, example: str):
    """A subcommand whose ``--help`` opens with a one-line description (``summary``, also its
    line in the command overview), then ``details``, each option's default and an example."""
    return sub.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}.\n\n{details}",
        epilog="example:\n" + "\n".join(f"  {line}" for line in example.splitlines()),
        formatter_class=_Formatter,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aggregator",
        description="Pull AI and Africa news feeds, merge the same story, tag it, republish it "
        "and email a weekly digest.",
        epilog="Run 'aggregator COMMAND --help' for a command's options, defaults and an "
        "example.\nexit codes:\n  0  success (also when some sources failed: see status)\n"
        "  1  a runtime error\n  2  a configuration or usage problem\n"
        "  3  another instance is running",
        formatter_class=_Formatter,
    )
    p.add_argument("--config", help="config.yaml (default: $AGGREGATOR_CONFIG, then ./config.yaml)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("-q", "--quiet", action="count", default=0, help="less log output")
    p.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="log lines as text or one JSON object a line (default: text)",
    )  # fmt: skip
    p.add_argument("--version", action="version", version=f"aggregator {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    ck = _command(
        sub, "check", "validate config.yaml",
        "Every problem is printed as FILE:LINE: message; the exit status is 2 if there is any.",
        "aggregator --config /etc/aggregator/config.yaml check\n"
        "aggregator check --discover https://www.example.com/",
    )  # fmt: skip
    ck.add_argument(
        "--discover", metavar="URL",
        help="list the feeds of a site's home page instead (default: check config.yaml)",
    )  # fmt: skip
    f = _command(
        sub, "fetch", "one refresh pass of the due sources",
        "Fetches the sources that are due (each has its own next attempt time; a failing "
        "source backs off), stores what is new, then prints a summary and one line per failed "
        "source. On a terminal a progress bar shows the pass, log lines print above it.",
        "aggregator fetch\naggregator fetch --source 'Le Monde Afrique' --force",
    )  # fmt: skip
    f.add_argument(
        "--source", action="append", metavar="NAME",
        help="only this source, repeatable (default: every configured source)",
    )  # fmt: skip
    f.add_argument(
        "--force", action="store_true",
        help="fetch now even if not due or backing off (default: only the due sources)",
    )  # fmt: skip
    _command(
        sub, "publish", "write the feeds and the web pages",
        "Writes feed.xml (RSS 2.0), atom.xml, feed.json, one feed and page per tag "
        "(tags/<tag>.*), the front page index.html, a page per week (archive/), the sent "
        "issues (issues/, issues.xml) into output.dir from the stored stories; unchanged "
        "files are left alone.",
        "aggregator publish",
    )  # fmt: skip
    r = _command(
        sub, "run", "run the scheduler (or one tick with --once)",
        "In the foreground: a refresh tick fetches the due sources and "
        "publishes when anything changed; the digest goes out on digest.schedule. SIGHUP "
        "reloads config.yaml, SIGTERM/SIGINT stop after the source in hand.",
        "aggregator run\naggregator run --once   # from cron: one fetch pass, then publish",
    )  # fmt: skip
    r.add_argument(
        "--once", action="store_true",
        help="one fetch pass then publish, and exit (default: run until stopped)",
    )  # fmt: skip
    d = _command(
        sub, "digest", "build the weekly digest",
        "Previews the issue of an ISO week, writes it as .eml files, or sends it. The "
        "issue is frozen on its first build; a repeated --send only sends what "
        "was not sent.",
        "aggregator digest --preview week.html\naggregator digest --test me@example.org\n"
        "aggregator digest --send --week 2026-W48",
    )  # fmt: skip
    mode = d.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--preview", metavar="FILE.html",
        help="write the HTML part to a file (no default mode: choose one of these four)",
    )  # fmt: skip
    mode.add_argument(
        "--dry-run", action="store_true", help="write one .eml per recipient to outbox/dry-run/"
    )
    mode.add_argument(
        "--send", action="store_true", help="deliver (SMTP, or the outbox if no smtp.host)"
    )
    mode.add_argument(
        "--test", metavar="ADDRESS",
        help="send the issue to this one address, marked as a test, outside the ledger "
        "(no default)",
    )  # fmt: skip
    d.add_argument(
        "--week", metavar="YYYY-Www",
        help="ISO week such as 2026-W48 (default: the last complete week in digest.timezone)",
    )  # fmt: skip
    d.add_argument(
        "--intro", metavar="FILE",
        help="the editor's note above the sections, plain text (default: digest.intro)",
    )  # fmt: skip
    d.add_argument(
        "--grace", metavar="DURATION",
        help="replaces digest.grace for this run, e.g. 30d (default: digest.grace)",
    )  # fmt: skip
    s = _command(
        sub, "status", "per-source health",
        "First one line of what needs attention (sources failing, retired, moved or silent) "
        "and how the last digest went (sent to N of M, deferred, refused); then for each "
        "source: state, HTTP status, stored items, last fetch, next attempt or "
        "error; the success rate of the last 30 attempts, the time since the last new item, "
        "and 'silent' when a source has been quiet for much longer than usual (ten times "
        "its median gap between new items).",
        "aggregator status\naggregator status --json | jq '.[] | select(.silent)'",
    )  # fmt: skip
    s.add_argument(
        "--json", action="store_true", help="one JSON array of objects (default: a table)"
    )
    t = _command(
        sub, "tag", "tag JSON lines from stdin, or explain the tags of items",
        "--jsonl reads one JSON object a line on stdin and writes one a line on stdout, in "
        "the same order:\n"
        "  input:  {\"id\": \"a1\", \"title\": \"...\", \"summary\": \"...\", "
        "\"language\": \"fr\", \"source_tags\": [\"africa\"]}\n"
        "          (language and source_tags optional)\n"
        "  output: {\"id\": \"a1\", \"tags\": [\"ai\", \"africa\", \"morocco\"], "
        "\"countries\": [\"MA\"], \"why\": {\"ai\": [\"title:IA\"], ...}}\n"
        "          a line that is not a JSON object gives {\"id\": null, \"error\": \"...\"} "
        "(exit 1)\n"
        "--explain prints, for each item (JSON lines on stdin with --jsonl, or the TITLE "
        "argument), every candidate tag with its features, their contributions (weight x "
        "value, largest first), the score, the threshold and the decision. Without --config "
        "only the built-in tags and threshold are used.",
        "echo '{\"id\": 1, \"title\": \"Le Maroc mise sur l IA\", \"language\": \"fr\"}' "
        "| aggregator tag --jsonl\n"
        "aggregator tag --explain \"Le Maroc et le Sénégal signent un accord sur l'IA\"",
    )  # fmt: skip
    t.add_argument("--jsonl", action="store_true", help="JSON lines on stdin (see above)")
    t.add_argument("--explain", action="store_true", help="readable reasons per candidate tag")
    t.add_argument("title", nargs="?", help="with --explain: one item's title")
    t.add_argument("--summary", default="", help="with TITLE: the item's summary (default: none)")
    t.add_argument("--language", default=None, help="with TITLE: fr, en, ar... (default: guessed)")
    dd = _command(
        sub, "dedupe", "cluster JSON lines from stdin",
        "--jsonl reads one item a line on stdin, in order, and clusters them with the "
        "pipeline's own code (a temporary store; nothing of yours is touched), writing one "
        "line per input line:\n"
        "  input:  {\"id\": \"a1\", \"title\": \"...\", \"summary\": \"...\", "
        "\"link\": \"https://...\", \"source\": \"Le Monde\",\n"
        "           \"published\": \"2026-11-30T07:00:00+00:00\", \"guid\": \"...\"}   "
        "(published, guid optional)\n"
        "  output: {\"id\": \"a1\", \"cluster\": \"a1\"}   (cluster: the id of the "
        "story's first line)\n"
        "A line that is not a JSON object with an id stops the run with exit 2.",
        "aggregator dedupe --jsonl < items.jsonl > clusters.jsonl",
    )  # fmt: skip
    dd.add_argument("--jsonl", action="store_true", required=True, help="JSON lines on stdin")
    o = _command(
        sub, "opml", "sources to and from OPML 2.0",
        "Moves sources between config.yaml and the OPML files feed readers export and import "
        "(newsboat, Miniflux, FreshRSS...).",
        "aggregator opml export > feeds.opml\naggregator opml import newsboat.opml",
    )  # fmt: skip
    osub = o.add_subparsers(dest="opml_command", required=True, metavar="ACTION")
    oi = _command(
        osub, "import", "add the feeds of an OPML file to config.yaml",
        "Keeps config.yaml's comments and order. Each "
        "outline gets a line: added, present (same URL), or skipped with the reason (a "
        "bookmark of type link, no xmlUrl, not http(s)). Folders become tags when they name "
        "one (ai, africa, a country, a topic). A nameless feed is named after its own title, "
        "fetched once. The result is validated before it replaces the file.",
        "aggregator opml import ~/Downloads/feeds.opml",
    )  # fmt: skip
    oi.add_argument("file", help="the OPML file (1.0 or 2.0)")
    _command(
        osub, "export", "print the sources as OPML 2.0",
        "On stdout: a folder per tag (a source "
        "goes in the folder of its first tag), tags and priors as categories.",
        "aggregator opml export > feeds.opml",
    )  # fmt: skip
    sv = _command(
        sub, "serve", "serve the site and the subscribe, preferences and unsubscribe pages",
        "Serves output.dir over HTTP (ETag/304, gzip), the subscribe form with double opt-in "
        "(/subscribe), each subscriber's preferences page and the one-click unsubscribe "
        "endpoint (RFC 8058). Put it behind a reverse proxy for TLS.",
        "aggregator serve --host 0.0.0.0 --port 8080",
    )  # fmt: skip
    sv.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    sv.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    _command(
        sub, "demo", "offline end-to-end run on bundled sample feeds",
        "Serves the bundled sample feeds on 127.0.0.1 and runs the whole pipeline (fetch, "
        "dedupe, tag, publish, digest) into a temporary folder; prints where to look.",
        "aggregator demo",
    )  # fmt: skip
    # Commands in their own modules add themselves: one ``module.register(sub)`` line each. Their
    # parser sets ``handler(settings, args)`` (run after config.yaml is loaded) or, for commands
    # that edit config.yaml, ``config_handler(args)`` (run before, on the file as it is).
    subscribers.register(sub)
    bounces.register(sub)
    db.register(sub)
    sources.register(sub)
    _wrap_prose(p)
    return p


def _wrap_prose(parser: argparse.ArgumentParser) -> None:
    """Every help page, the registered commands' and their actions' too, wraps its prose to
    the terminal and keeps indented lines (examples) as written."""
    parser.formatter_class = _Formatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _wrap_prose(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `aggregator`: the overview, like git (a usage error: 2)
        parser.print_help(sys.stdout)
        return 2
    from .logs import setup_logging

    setup_logging(args.verbose - args.quiet, args.log_format)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return exc.exit_code
    except AggregatorError as exc:
        print(f"aggregator: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aggregator: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `aggregator status --json | head`: the reader has had enough
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (no second error at exit)
        return 0


def _config_path(args: argparse.Namespace) -> Path:
    from ..config import default_config_path

    return default_config_path(args.config)


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if getattr(args, "config_handler", None) is not None:  # edits config.yaml: before load()
        return args.config_handler(args)
    if cmd == "tag":
        return _cmd_tag(args)
    if cmd == "dedupe":
        from . import dedupe_jsonl as dedupe_cli

        return dedupe_cli.run(sys.stdin, sys.stdout)
    if cmd == "demo":
        from .demo import run_demo

        return run_demo()
    path = _config_path(args)
    if cmd == "check" and args.discover:
        from .sources import check_discover

        return check_discover(path, args.discover)
    if cmd == "check":
        return _cmd_check(path)
    if cmd == "opml" and args.opml_command == "import":
        # Before load(): importing into a config with no sources yet is the normal first step;
        # import_into_config validates the result before writing it.
        from . import opml

        return opml.import_into_config(path, Path(args.file), out=sys.stdout)
    from ..config import load

    settings = load(path)
    if args.verbose == 0 and args.quiet == 0:
        logging.getLogger().setLevel(settings.log_level)
    if cmd == "opml":
        from . import opml

        sys.stdout.write(opml.export_opml(settings.sources, settings.output.title))
        return 0
    if getattr(args, "handler", None):  # a command module's handler (cli/<name>.py register())
        return args.handler(settings, args)
    if cmd == "serve":
        from ..service.web import serve_forever

        return serve_forever(settings, args.host, args.port)
    if cmd == "run" and not args.once:
        from ..service.scheduler import run_forever

        return run_forever(settings)

    from ..store import Store

    with Store(settings.database) as store:
        if cmd == "status":
            return _cmd_status(settings, store, args.json)
        if cmd == "publish":
            return _cmd_publish(settings, store)
        if cmd == "digest":
            return _cmd_digest(settings, store, args)
        from ..service.lock import InstanceLock

        with InstanceLock(settings.database, wait=cmd == "fetch"):
            if cmd == "fetch":
                return _cmd_fetch(settings, store, args.source, args.force)
            if cmd == "run":  # --once
                rc = _cmd_fetch(settings, store, None, False)
                return rc or _cmd_publish(settings, store)
    raise AssertionError(cmd)


def _cmd_check(path: Path) -> int:
    from ..config import load, warnings

    settings = load(path)  # the one parse: a ConfigError lists every problem (exit 2)
    for line in warnings(settings):
        print(f"warning: {line}", file=sys.stderr)
    line, reachable = db.database_line(settings)
    print(f"{path}: OK")
    print(line, file=sys.stdout if reachable else sys.stderr)
    return 0 if reachable else 1


def _cmd_fetch(settings, store, names, force: bool) -> int:
    from ..service.pipeline import Pipeline
    from ..text import plural
    from .logs import failures_in_summary
    from .progress import Progress

    with Pipeline(settings, store) as pipe:
        if names:
            unknown = [n for n in names if n not in pipe.sources]
            if unknown:
                listed = ", ".join(map(repr, unknown))
                raise ConfigError(f"{settings.path}: no source named {listed}")
        due = pipe.due_sources(names, force)
        if not due:
            from .sources import nothing_due

            print(nothing_due(settings, store.source_states(names), pipe.clock()))
            return 0
        with failures_in_summary(), Progress(len(due), sys.stderr) as bar:
            report = pipe.refresh(names, force=force, progress=bar.update)
    ok = report.count("ok", "moved")
    nm = report.count("not-modified")
    failed = report.count("error", "backing-off", "gone")
    print(
        f"{plural(len(report.outcomes), 'source')}: {ok} ok, {nm} not modified, "
        f"{failed} failed; {plural(report.new_items, 'new item')} in {report.seconds:.1f} s"
    )
    for o in report.outcomes:  # each failure once: the pipeline's log line is left out
        if o.error:
            print(f"  {o.name}: {o.state}: {o.error}")
    return 0


def _cmd_publish(settings, store) -> int:
    from ..service.pipeline import publish

    report = publish(settings, store)
    from ..text import plural

    print(
        f"published {plural(len(report.written), 'file')} ({len(report.unchanged)} unchanged) "
        f"in {settings.output.dir}"
    )
    return 0


def _cmd_status(settings, store, as_json: bool) -> int:
    from ..clock import utcnow
    from ..service.health import human_age, source_health, standing
    from .sources import next_attempt_text

    configured = {s.name: s for s in settings.sources}
    store.sync_sources((s.name, s.url) for s in settings.sources)
    now = utcnow()
    counts, times = store.attempt_counts(), store.item_times()
    rows, views = [], []
    for s in store.source_states():
        if s.name not in configured:
            continue
        health = source_health(counts.get(s.name), times.get(s.name), now)
        view = standing(configured[s.name], s, health)
        rows.append(status_row(s, health, now, view))
        views.append(view)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.digest.timezone)  # as `sources list` and fetch's "next at" say

    def local(iso: str | None) -> str:
        return (
            datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M") if iso else ""
        )

    print(status_summary(views, digest_deliveries(store)))
    print(
        f"{'source':28} {'state':13} {'http':>4} {'items':>6} {'ok/30':>6} {'last new':>9}  "
        f"{'last fetch':16}  next / error"
    )
    for r, view in zip(rows, views, strict=True):
        nxt = "" if view.stopped else next_attempt_text(view, now, zone)
        tail = f"{r['last_error']} (retry {nxt})" if r["last_error"] and nxt else nxt
        if r["state"] == "paused":
            tail = r["last_error"] or ""
        if r["state"] == "moved":
            tail = f"moved to {r['moved_to']} (update config.yaml)"
        if r["state"] == "gone":
            tail = "410 Gone: retired (change its URL in config.yaml to revive)"
        if r["excluded"]:
            tail += f"; {r['excluded']} excluded by include/exclude"
        if r["silent"]:
            usual = human_age(_seconds(r["median_gap_seconds"]))
            tail = f"SILENT: nothing new for {human_age(_seconds(r['since_last_item_seconds']))} " \
                f"(usually every {usual}); {tail}"  # fmt: skip
        rate = f"{r['successes']}/{r['attempts']}" if r["attempts"] else "-"
        age = human_age(_seconds(r["since_last_item_seconds"]))
        print(
            f"{r['name'][:28]:28} {r['state']:13} {r['http_status'] or '':>4} {r['items']:>6} "
            f"{rate:>6} {age:>9}  {local(r['last_fetch']) or '-':16}  {tail}"
        )
    from ..text import plural

    print(f"({plural(len(rows), 'source')}; times in {zone.key})")
    silent = [r["name"] for r in rows if r["silent"]]
    if silent:
        print(
            f"{plural(len(silent), 'source')} silent for much longer than usual: "
            f"{', '.join(silent)} (check the site: a new feed URL, or a dead feed?)"
        )
    return 0


def status_summary(views, digest: tuple[str, dict[str, int]] | None) -> str:
    """The first line of ``status``, what needs attention first: "needs attention: 2 sources
    failing, 1 silent (1 paused, 37 fine); digest 2026-W50 sent to 41 of 42 (1 deferred)".
    ``views``: each source's ``service.health.Standing``; ``digest``: ``digest_deliveries()``."""
    from collections import Counter

    from ..text import plural

    kinds = Counter(
        "silent" if v.silent else v.group if v.group != "fresh"
        else v.state if v.state in ("moved", "new") else "fine"
        for v in views
    )  # fmt: skip
    bad = [(k, kinds[k]) for k in ("failing", "gone", "moved", "silent") if kinds[k]]
    rest = [f"{kinds[k]} {w}" for k, w in (("paused", "paused"), ("new", "not fetched yet"),
                                          ("fine", "fine")) if kinds[k]]  # fmt: skip
    if bad:
        words = [f"{plural(n, 'source') if i == 0 else n} {k}" for i, (k, n) in enumerate(bad)]
        line = f"needs attention: {', '.join(words)}" + (f" ({', '.join(rest)})" if rest else "")
    elif kinds["fine"] == len(views):
        line = f"all {plural(len(views), 'source')} fine"
    else:
        line = f"{plural(len(views), 'source')}: {', '.join(rest)}"
    if digest is None:
        return line + "; no digest sent yet"
    issue, n = digest
    total = n["sent"] + n["deferred"] + n["refused"] + n["pending"]
    notes = [f"{n[k]} {k}" for k in ("deferred", "refused", "pending") if n[k]]
    return f"{line}; digest {issue} sent to {n['sent']} of {total}" + (
        f" ({', '.join(notes)})" if notes else ""
    )


def digest_deliveries(store) -> tuple[str, dict[str, int]] | None:
    """The newest issue with deliveries in the ledger and how they ended: ``sent``,
    ``deferred`` (a temporary refusal: the next ``digest --send`` tries again), ``refused``
    (permanently), ``pending`` (interrupted); unsubscribed and empty editions (skipped) are
    not counted. None when no issue was ever sent."""
    for digest in store.frozen_digests():  # newest week first
        rows = store.deliveries(digest.issue)
        if not rows:
            continue
        flags = store.delivery_flags(digest.issue)
        n = dict.fromkeys(("sent", "deferred", "refused", "pending"), 0)
        for key, row in rows.items():
            if row.status == "failed":
                n["refused" if flags.get(key, (False, False))[0] else "deferred"] += 1
            elif row.status in n:
                n[row.status] += 1
        return digest.issue, n
    return None


def _seconds(value: float | None):
    from datetime import timedelta

    return None if value is None else timedelta(seconds=value)


def status_row(s, health=None, now: datetime | None = None, view=None) -> dict:
    """One source's line of ``status --json``. With ``health`` (``service.health``): its
    success rate over the recorded attempts (the last 30), when its last item appeared and
    whether it is silent for much longer than usual. With ``view`` (``health.standing()``):
    the state, since when and next attempt the other commands show too."""

    def iso(d: datetime | None) -> str | None:
        return d.isoformat() if d else None

    row = {
        "name": s.name,
        "url": s.url,
        "fetch_url": s.fetch_url,
        "state": view.state if view else s.state,
        "since": iso(view.since) if view else None,
        "http_status": s.http_status,
        "items": s.items,
        "excluded": s.excluded,
        "last_fetch": iso(s.last_fetch),
        "last_success": iso(s.last_success),
        "next_attempt": iso(view.next_due if view else s.next_attempt),
        "last_error": s.last_error,
        "error_count": s.error_count,
        "moved_to": s.moved_to,
        "warning": s.warning,
    }
    if health is not None and now is not None:
        since = health.since_last_item(now)
        gap = health.median_gap
        row |= {
            "attempts": health.attempts,
            "successes": health.successes,
            "success_rate": (
                round(health.success_rate, 3) if health.success_rate is not None else None
            ),
            "last_item": iso(health.last_item),
            "since_last_item_seconds": round(since.total_seconds()) if since else None,
            "median_gap_seconds": round(gap.total_seconds()) if gap is not None else None,
            "silent": view.silent if view else health.silent,
        }
    return row


def _cmd_digest(settings, store, args) -> int:
    from ..service.sending import Mode, send_digest, send_test

    if args.test:
        report = send_test(settings, store, args.test, week=args.week)
        print(report.summary())
        return 0 if report.ok else 1
    mode: Mode = "preview" if args.preview else "dry-run" if args.dry_run else "send"
    intro, grace = _digest_intro(args.intro), _digest_grace(args.grace)
    report = send_digest(
        settings, store, week=args.week, mode=mode,
        preview_path=Path(args.preview) if args.preview else None, intro=intro, grace=grace,
    )  # fmt: skip
    print(report.summary())
    if mode == "send" and not report.empty:  # the sent issue as a page, and in issues.xml
        from ..service.pipeline import publish

        publish(settings, store)
    return 0 if report.ok else 1


def _digest_intro(path: str | None) -> str | None:
    """The text of ``--intro FILE`` (UTF-8), or None."""
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--intro {path}: {exc}") from exc


def _digest_grace(text: str | None) -> float | None:
    if text is None:
        return None
    from ..config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"--grace {text!r}: use a duration such as 2d, 36h, 400d") from exc


def _cmd_tag(args) -> int:
    """Tags with the built-in vocabularies, plus the operator's topics and threshold when
    ``--config`` is given (the eval harness runs it without one)."""
    from ..settings import TaggingSettings
    from ..tagging import Tagger
    from . import tag_jsonl as tag_cli

    topics: dict = {}
    threshold = TaggingSettings().threshold
    if args.config:
        from ..config import load

        settings = load(_config_path(args))
        topics, threshold = settings.topics, settings.tagging.threshold
    tagger = Tagger.from_settings(topics, threshold)
    if args.title is not None:
        if not args.explain or args.jsonl:
            print("aggregator tag: TITLE goes with --explain (and not --jsonl)", file=sys.stderr)
            return 2
        tag_cli.explain_item(sys.stdout, tagger, args.title, args.summary, args.language)
        return 0
    if not args.jsonl:
        print("aggregator tag: give --jsonl (stdin) or --explain TITLE", file=sys.stderr)
        return 2
    if args.explain:
        return tag_cli.explain(sys.stdin, sys.stdout, tagger)
    return tag_cli.run(sys.stdin, sys.stdout, tagger)


if __name__ == "__main__":
    sys.exit(main())
