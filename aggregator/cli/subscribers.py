"""``aggregator subscribers``: list, add, remove (or forget), import and export the newsletter's
subscribers. config.yaml's recipients are seeded first, so the list shows them too."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..models import SUBSCRIBER_STATES

EPILOG = """examples:
  aggregator subscribers list --status confirmed
  aggregator subscribers add 'Amina <amina@example.org>' --topics ai morocco --languages fr
  aggregator subscribers remove amina@example.org --forget
  aggregator subscribers import people.csv     # email,name,topics,languages
  aggregator subscribers export > subscribers.csv
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "subscribers",
        help="the newsletter's subscribers: list, add, remove, import, export",
        description="The newsletter's subscribers: list, add, remove, import, export.\n\n"
        "Subscribers live in the database with a status (pending, confirmed, "
        "paused, unsubscribed, bounced), the origin and time of every change, and their choice "
        "of topics and languages (none: everything). Addresses may be written 'Name <address>'. "
        "config.yaml's recipients are added as confirmed subscribers (origin config).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(handler=run)
    ssub = p.add_subparsers(dest="subscribers_command", required=True, metavar="ACTION")
    ls = ssub.add_parser("list", help="one line (or JSON object) per subscriber")
    ls.add_argument("--status", choices=SUBSCRIBER_STATES, help="only this status")
    ls.add_argument("--json", action="store_true", help="a JSON list of objects")
    add = ssub.add_parser("add", help="add a confirmed subscriber (or update one)")
    add.add_argument("address", help="a@b.org or 'Name <a@b.org>'")
    add.add_argument("--topics", nargs="+", default=[], metavar="TOPIC",
                     help="only these topics (default: everything)")  # fmt: skip
    add.add_argument("--languages", nargs="+", default=[], metavar="LANG",
                     help="only these languages (default: all)")  # fmt: skip
    rm = ssub.add_parser("remove", help="unsubscribe an address (--forget: delete their data)")
    rm.add_argument("address")
    rm.add_argument("--forget", action="store_true",
                    help="delete everything about the person; only a hash of the address is "
                    "kept, so no list adds them back")  # fmt: skip
    imp = ssub.add_parser("import", help="add the rows of a CSV (email,name,topics,languages)")
    imp.add_argument("file", help="CSV; a header row names the columns, else that order")
    ex = ssub.add_parser("export", help="every subscriber as CSV on stdout")
    ex.add_argument("--status", choices=SUBSCRIBER_STATES, help="only this status")


def run(settings, args: argparse.Namespace) -> int:
    from ..service import subscriptions as subs
    from ..store import Store

    with Store(settings.database) as store:
        subs.seed_from_config(settings, store)
        action = args.subscribers_command
        try:
            if action == "list":
                return _list(store, args.status, args.json)
            if action == "export":
                sys.stdout.write(subs.export_csv(store, args.status))
                return 0
            if action == "add":
                topics, languages = subs.chosen(settings, store, args.topics, args.languages)
                s = subs.add(store, args.address, topics=topics, languages=languages)
                print(f"{s.email}: {s.status}")
                return 0
            if action == "remove":
                if not subs.remove(store, args.address, forget=args.forget):
                    print(f"aggregator: {args.address}: not a subscriber", file=sys.stderr)
                    return 1
                print(f"{args.address}: {'forgotten' if args.forget else 'unsubscribed'}")
                return 0
            if action == "import":
                report = subs.import_csv(
                    store, Path(args.file),
                    topics=[t for t, _ in subs.topic_choices(settings, store)],
                    languages=[c for c, _ in subs.language_choices(settings)],
                )  # fmt: skip
                print(report.summary(args.file))
                return 1 if report.refused else 0
        except subs.SubscriberError as exc:
            print(f"aggregator: {exc}", file=sys.stderr)
            return 1
    raise AssertionError(action)


def _list(store, status: str | None, as_json: bool) -> int:
    from ..service import subscriptions as subs

    rows = subs.rows(store, status)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{'email':34} {'status':12} {'origin':11} {'changed':10}  topics / languages / why")
    for r in rows:
        choice = " ".join(r["topics"]) or "all topics"
        choice += " / " + (" ".join(r["languages"]) or "all languages")
        if r["reason"] and r["status"] != "confirmed":
            choice += f" / {r['reason']}"
        print(f"{r['email'][:34]:34} {r['status']:12} {r['origin']:11} {r['changed'][:10]:10}  "
              f"{choice}")  # fmt: skip
    return 0


__all__ = ["register", "run"]
