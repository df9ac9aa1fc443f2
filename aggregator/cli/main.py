"""Command line: thin wrappers over the pipeline. ``main(argv) -> int``.

An ``AggregatorError`` becomes one readable line on stderr and its exit code (2 for configuration
problems, 1 otherwise); anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .. import __version__
from ..errors import AggregatorError, ConfigError
from . import sources, subscribers


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aggregator",
        description="Pull AI and Africa news feeds, merge the same story, tag it, republish it "
        "and email a weekly digest.",
    )
    p.add_argument("--config", help="config.yaml (default: $AGGREGATOR_CONFIG or ./config.yaml)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("-q", "--quiet", action="count", default=0, help="less log output")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("--version", action="version", version=f"aggregator {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ck = sub.add_parser("check", help="validate config.yaml")
    ck.add_argument("--discover", metavar="URL", help="list the feeds of a site's home page")
    f = sub.add_parser("fetch", help="one refresh pass of the due sources")
    f.add_argument("--source", action="append", help="only this source (repeatable)")
    f.add_argument("--force", action="store_true", help="fetch every source, due or not")
    sub.add_parser("publish", help="write the combined feeds and HTML page")
    r = sub.add_parser("run", help="run the scheduler (or one tick with --once)")
    r.add_argument("--once", action="store_true", help="fetch then publish, then exit")
    d = sub.add_parser("digest", help="build the weekly digest")
    mode = d.add_mutually_exclusive_group(required=True)
    mode.add_argument("--preview", metavar="FILE.html", help="write the HTML part to a file")
    mode.add_argument("--dry-run", action="store_true", help="write .eml files to the outbox")
    mode.add_argument("--send", action="store_true", help="deliver (SMTP, or the outbox)")
    d.add_argument("--week", help="ISO week such as 2026-W48 (default: the last complete week)")
    d.add_argument("--intro", metavar="FILE", help="the editor's note above the sections (text)")
    d.add_argument("--grace", metavar="DURATION", help="replaces digest.grace (e.g. 30d)")
    s = sub.add_parser("status", help="per-source health")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    t = sub.add_parser(
        "tag",
        help="tag JSON lines from stdin, or explain the tags of items",
        description="--jsonl: read {id,title,summary,language} lines on stdin, write "
        "{id,tags,countries,why} lines. --explain: print, for each item (JSON lines on stdin "
        "with --jsonl, or the TITLE argument), every candidate tag with its features, their "
        "contributions (weight x value, largest first), the score, the threshold and the decision.",
    )
    t.add_argument("--jsonl", action="store_true", help="JSON lines on stdin")
    t.add_argument("--explain", action="store_true", help="readable reasons per candidate tag")
    t.add_argument("title", nargs="?", help="with --explain: one item's title")
    t.add_argument("--summary", default="", help="with TITLE: the item's summary")
    t.add_argument("--language", default=None, help="with TITLE: fr, en, ar...")
    dd = sub.add_parser("dedupe", help="cluster JSON lines from stdin")
    dd.add_argument("--jsonl", action="store_true", required=True)
    o = sub.add_parser("opml", help="sources to and from OPML 2.0")
    osub = o.add_subparsers(dest="opml_command", required=True)
    oi = osub.add_parser("import", help="add the feeds of an OPML file to config.yaml")
    oi.add_argument("file")
    osub.add_parser("export", help="print the sources as OPML 2.0")
    sv = sub.add_parser("serve", help="serve the output folder and the unsubscribe endpoint")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8080)
    sub.add_parser("demo", help="offline end-to-end run on bundled sample feeds")
    subscribers.register(sub)
    sources.register(sub)  # sets args.config_handler
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
    from ..config import problems

    found = problems(path)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        return 2
    from ..config import load, warnings

    for line in warnings(load(path)):
        print(f"warning: {line}", file=sys.stderr)
    print(f"{path}: OK")
    return 0


def _cmd_fetch(settings, store, names, force: bool) -> int:
    from ..service.pipeline import Pipeline
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
        with Progress(len(due), sys.stderr) as bar:
            report = pipe.refresh(names, force=force, progress=bar.update)
    ok = report.count("ok", "moved")
    nm = report.count("not-modified")
    failed = report.count("error", "backing-off", "gone")
    print(
        f"{len(report.outcomes)} sources: {ok} ok, {nm} not modified, {failed} failed; "
        f"{report.new_items} new items in {report.seconds:.1f} s"
    )
    for o in report.outcomes:
        if o.error:
            print(f"  {o.name}: {o.state}: {o.error}")
    return 0


def _cmd_publish(settings, store) -> int:
    from ..service.pipeline import publish

    report = publish(settings, store)
    print(
        f"published {len(report.written)} files ({len(report.unchanged)} unchanged) "
        f"in {settings.output.dir}"
    )
    return 0


def _cmd_status(settings, store, as_json: bool) -> int:
    configured = {s.name for s in settings.sources}
    store.sync_sources((s.name, s.url) for s in settings.sources)
    rows = [status_row(s) for s in store.source_states() if s.name in configured]
    paused = {s.name for s in settings.sources if not s.enabled}
    for r in rows:
        if r["name"] in paused:
            r["state"], r["next_attempt"] = "paused", None
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{'source':28} {'state':13} {'http':>4} {'items':>6}  {'last fetch':16}  next / error")
    for r in rows:
        nxt = (r["next_attempt"] or "")[:16].replace("T", " ")
        tail = f"{r['last_error']} (retry {nxt})" if r["last_error"] else nxt
        if r["state"] == "moved":
            tail = f"moved to {r['moved_to']} (update config.yaml)"
        if r["state"] == "gone":
            tail = "410 Gone: retired (change its URL in config.yaml to revive)"
        if r["excluded"]:
            tail += f"; {r['excluded']} excluded by include/exclude"
        print(
            f"{r['name'][:28]:28} {r['state']:13} {r['http_status'] or '':>4} {r['items']:>6}  "
            f"{(r['last_fetch'] or '-')[:16]:16}  {tail}"
        )
    return 0


def status_row(s) -> dict:
    def iso(d: datetime | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "name": s.name,
        "url": s.url,
        "fetch_url": s.fetch_url,
        "state": s.state,
        "http_status": s.http_status,
        "items": s.items,
        "excluded": s.excluded,
        "last_fetch": iso(s.last_fetch),
        "last_success": iso(s.last_success),
        "next_attempt": iso(s.next_attempt),
        "last_error": s.last_error,
        "error_count": s.error_count,
        "moved_to": s.moved_to,
        "warning": s.warning,
    }


def _cmd_digest(settings, store, args) -> int:
    from ..service.sending import Mode, send_digest

    mode: Mode = "preview" if args.preview else "dry-run" if args.dry_run else "send"
    intro, grace = _digest_intro(args.intro), _digest_grace(args.grace)
    report = send_digest(
        settings, store, week=args.week, mode=mode,
        preview_path=Path(args.preview) if args.preview else None, intro=intro, grace=grace,
    )  # fmt: skip
    print(report.summary())
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
