"""``aggregator bounces read MAILDIR|MBOX``: apply the delivery status notifications (RFC 3464)
that came back to ``digest.bounce_address``. The policy is ``service.bounces``'."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """examples:
  aggregator bounces read ~/Maildir/.bounces       # a Maildir (cur/, new/)
  aggregator bounces read /var/mail/bounces         # an mbox file

Each failed recipient is a permanent refusal of the subscriber the return path names \
(bounces+<uid>@..., see digest.bounce_address), else of its Original- or Final-Recipient; \
digest.bounce_threshold of them in a row (1 for "unknown user") mark the address bounced. \
A notification is applied once, however often the mailbox is read.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bounces",
        help="apply bounce reports (RFC 3464) from a Maildir or mbox",
        description="Apply bounce reports (RFC 3464) from a Maildir or mbox.\n\n"
        "Read a mailbox of delivery status notifications (multipart/report; "
        "report-type=delivery-status) and apply them: failed recipients count as permanent "
        "refusals (bounced after digest.bounce_threshold, or at once for an unknown user), "
        "delayed ones are only reported. Messages that are no such report are listed and left "
        "alone; the mailbox is never changed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(handler=run)
    bsub = p.add_subparsers(dest="bounces_command", required=True, metavar="ACTION")
    rd = bsub.add_parser("read", help="apply the DSNs of a Maildir or mbox file")
    rd.add_argument("mailbox", metavar="MAILDIR|MBOX", help="a Maildir folder or an mbox file")


def run(settings, args: argparse.Namespace) -> int:
    from ..service import bounces
    from ..service.subscriptions import seed_from_config
    from ..store import Store

    with Store(settings.database) as store:
        seed_from_config(settings, store)
        try:
            report = bounces.read_bounces(store, settings, Path(args.mailbox))
        except bounces.BounceError as exc:
            print(f"aggregator: {exc}", file=sys.stderr)
            return 1
    print(report.summary(args.mailbox))
    return 0


__all__ = ["register", "run"]
