"""Orchestrate one weekly issue: select the week, freeze it, render, deliver through the ledger.

Exactly-once as far as SMTP allows:

* The issue is frozen in the store the first time it is sent, so every recipient and every
  rerun gets the same stories.
* Each (issue, recipient) is written ``pending`` before the SMTP transaction, stamped
  ``committing`` just before the message and the final ``.`` of DATA are written (after the 354),
  and ``sent`` after the server's 250.
  A rerun sends only rows that are not ``sent`` (and not failed permanently).
* A crash before the stamp means the server never got the end of the message and discarded it:
  resending is safe. The one ambiguous state is a ``committing`` stamp without ``sent`` (the
  server may have accepted it in the instant before the crash). Such a message is resent with
  the *same* deterministic Message-ID, logged and listed in ``DigestReport.uncertain``; receivers
  and mailbox providers that deduplicate by Message-ID show it once. For the outbox the file's
  existence is the proof, so an outbox run never duplicates.
* A lock file beside the database (``<database>.digest.lock``, ``flock``, released by the kernel
  on SIGKILL) keeps two sends of the same database from interleaving.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from .. import digest as dg
from ..clock import utcnow
from ..errors import DeliveryError
from ..files import write_atomic
from ..mailer import ConnectionFailed, Outbox, SmtpMailer, Transport, prepare
from ..models import Digest, Story
from ..normalize import reader_links
from ..settings import DigestSettings, Settings
from ..store import Store
from ..unsubscribe import secret_for, unsubscribe_link
from .lock import InstanceLock
from .subscriptions import digest_recipients, link_token, preferences_url

log = logging.getLogger("aggregator.digest")

Mode = Literal["send", "dry-run", "preview"]
PREVIEW_RECIPIENT = "reader@example.org"


class DigestLock(InstanceLock):
    """Held while an issue is being delivered."""

    suffix = ".digest.lock"
    what = "sending the digest from"


@dataclass(frozen=True)
class DigestReport:
    issue: str
    mode: str
    recipients: int = 0  # configured, after de-duplication
    sent: int = 0  # delivered (or written to the outbox) by this run
    skipped: int = 0  # unsubscribed + already sent by an earlier run + failed permanently before
    failed: int = 0  # failed in this run (see failures)
    empty: bool = False  # nothing in the window (and send_empty is off)
    stories: int = 0
    already_sent: int = 0
    unsubscribed: int = 0
    uncertain: tuple[str, ...] = ()  # resent after a crash at the end of DATA (same Message-ID)
    failures: tuple[tuple[str, str], ...] = ()  # (recipient, error)
    aborted: str | None = None  # the server could not be reached; the rest waits for a rerun
    outbox: Path | None = None
    preview: Path | None = None
    hint: str = ""  # what to try when the week came out empty
    backlog: int = 0  # stories first seen in the week but published before it (left out)

    @property
    def ok(self) -> bool:
        return not self.failed and self.aborted is None

    def summary(self) -> str:
        hint = f"\n  {self.hint}" if self.hint else ""
        backlog = f" ({self.backlog} older ones left out as backlog)" if self.backlog else ""
        if self.mode == "preview":
            return (
                f"digest {self.issue}: {self.stories} stories{backlog}, preview written to "
                f"{self.preview}" + hint
            )
        if self.empty:
            return f"digest {self.issue}: no stories in the week, nothing sent" + hint
        where = f" to {self.outbox}" if self.outbox else ""
        verb = "written" if self.outbox else "sent"
        parts = [
            (
                f"digest {self.issue}: {self.stories} stories{backlog}, {self.sent} of "
                f"{self.recipients} {verb}{where}"
            ),
            f"{self.already_sent} already sent" if self.already_sent else "",
            f"{self.unsubscribed} unsubscribed" if self.unsubscribed else "",
            f"{self.failed} failed" if self.failed else "",
            f"{len(self.uncertain)} resent after an interrupted send" if self.uncertain else "",
        ]
        line = ", ".join(p for p in parts if p)
        for rcpt, err in self.failures[:20]:
            line += f"\n  failed: {rcpt}: {err}"
        if self.aborted:
            line += f"\n  stopped: {self.aborted} (run again to send the rest)"
        return line


def _empty_hint(
    issue: str, now: datetime, d: DigestSettings, backlog: list[Story], start: datetime
) -> str:
    """Why a week can be empty, and what to try: its stories were all backlog (published before
    the week: a new source's archive), or nothing was first seen in it (right after set-up)."""
    if backlog:
        n = len(backlog)
        cutoff = dg.day(dg.backlog_cutoff(start, timedelta(seconds=d.grace)), d.timezone, "en")
        oldest = min(dg.story_date(s)[0] for s in backlog)
        days = math.ceil((start - oldest) / timedelta(days=1)) + 1
        return (
            f"{n} {'story' if n == 1 else 'stories'} first seen this week "
            f"{'was' if n == 1 else 'were'} published before {cutoff} (backlog: older than the "
            f"week by more than digest.grace, {_days(d.grace)}); to include "
            f"{'it' if n == 1 else 'them'} anyway, try --grace {days}d"
        )
    current, _, _ = dg.resolve_week(None, d.timezone, now + timedelta(days=7))
    if current == issue:
        return (
            "stories are counted in the week they were first seen: fetch first (aggregator fetch)"
        )
    return (
        f"stories are counted in the week they were first seen; this week is {current}: "
        f"try --week {current}"
    )


def build_issue(
    settings: Settings,
    store: Store,
    issue: str,
    start: datetime,
    end: datetime,
    d: DigestSettings | None = None,
) -> tuple[Digest, list[Story]]:
    """The issue of [start, end) as it would be frozen now, and the backlog it left out."""
    d = d or settings.digest
    found = [reader_links(s) for s in store.stories_between(start, end)]
    news, old = dg.split_backlog(found, start, timedelta(seconds=d.grace))
    digest = dg.build_digest(
        issue, start, end, news, subject=d.subject, topics=list(settings.topics),
        per_section=d.per_section, include_other=d.include_other, timezone=d.timezone,
        per_outlet=d.per_outlet, base_url=settings.output.base_url, intro=d.intro,
        locale=d.locale,
    )  # fmt: skip
    return digest, old


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g} day{'' if days == 1 else 's'}"


def send_digest(
    settings: Settings,
    store: Store,
    *,
    week: str | None = None,
    mode: Mode = "send",
    preview_path: Path | None = None,
    now: datetime | None = None,
    transport: Transport | None = None,
    intro: str | None = None,
    grace: float | None = None,
) -> DigestReport:
    """Build the issue of ``week`` (default: the last complete week) and preview it, write it to
    the outbox (dry-run) or deliver it (send: SMTP, or the outbox when ``smtp.host`` is empty).
    ``intro`` (the editor's note) and ``grace`` (seconds) replace ``digest.intro`` and
    ``digest.grace`` for an issue not frozen yet; a frozen issue keeps what it was sent with."""
    if mode not in ("send", "dry-run", "preview"):
        raise ValueError(f"mode {mode!r}")
    d = settings.digest
    if intro is not None:
        d = replace(d, intro=intro)
    if grace is not None:
        d = replace(d, grace=grace)
    now = now or utcnow()
    issue, start, end = dg.resolve_week(week, d.timezone, now)
    renderer = dg.Renderer(d.templates, d.timezone, title=settings.output.title, locale=d.locale)
    old: list[Story] = []
    digest = store.frozen_digest(issue)
    if digest is not None:
        if intro is not None and digest.intro != dg.clean_intro(intro):
            log.warning("digest %s was frozen when first sent: its intro stays as it was", issue)
    else:
        digest, old = build_issue(settings, store, issue, start, end, d)
    backlog = len(old)
    stories = sum(len(s.stories) for s in digest.sections)
    hint = _empty_hint(issue, now, d, old, start) if digest.empty else ""
    context = renderer.context(digest)

    if mode == "preview":
        if preview_path is None:
            raise ValueError("preview needs preview_path")
        _, html = renderer.render(context, recipient=PREVIEW_RECIPIENT,
                                  unsubscribe_url=d.unsubscribe_url)  # fmt: skip
        write_atomic(Path(preview_path), html.encode("utf-8"))
        return DigestReport(issue, mode, stories=stories, empty=digest.empty,
                            preview=Path(preview_path), hint=hint, backlog=backlog)  # fmt: skip

    recipients = digest_recipients(settings, store)  # the store's confirmed, config.yaml seeded
    if digest.empty and not d.send_empty:
        log.info("digest %s: no stories between %s and %s, nothing sent", issue, start, end)
        return DigestReport(issue, mode, recipients=len(recipients), empty=True, hint=hint,
                            backlog=backlog)  # fmt: skip

    ledgered = mode == "send"
    outbox_dir: Path | None = None
    own_transport = transport is None
    if transport is None:
        if mode == "dry-run" or not d.smtp.host:
            outbox_dir = d.outbox / "dry-run" / issue if mode == "dry-run" else d.outbox / issue
            transport = Outbox(outbox_dir)
        else:
            transport = SmtpMailer(d.smtp, os.environ.get(d.smtp.password_env) or None)
    elif isinstance(transport, Outbox):
        outbox_dir = transport.directory

    lock = DigestLock(store.path) if ledgered else None
    if lock is not None:
        lock.acquire()
    try:
        if ledgered:
            digest = store.freeze_digest(digest, now)
            context = renderer.context(digest)
        return _deliver(settings, store, digest, context, renderer, recipients, transport,
                        ledgered=ledgered, mode=mode, stories=stories, outbox=outbox_dir,
                        backlog=backlog)  # fmt: skip
    finally:
        if own_transport:
            transport.close()
        if lock is not None:
            lock.release()


def _deliver(
    settings: Settings,
    store: Store,
    digest: Digest,
    context: dict,
    renderer: dg.Renderer,
    recipients: list[str],
    transport: Transport,
    *,
    ledgered: bool,
    mode: str,
    stories: int,
    outbox: Path | None,
    backlog: int = 0,
) -> DigestReport:
    d = settings.digest
    issue = digest.issue
    secret = secret_for(settings.secret_env, store)
    sender_addr = parseaddr(d.sender)[1]
    domain = dg.address_domain(d.sender)
    factory = dg.MessageFactory(digest, sender=d.sender, date=utcnow())
    prepare(factory.template)  # the full header round-trip check, once per issue
    personalise = renderer.personaliser(context)
    unsubscribed = store.unsubscribed()
    ledger = store.deliveries(issue) if ledgered else {}
    flags = store.delivery_flags(issue) if ledgered else {}
    sent = already = unsub = failed_before = 0
    uncertain: list[str] = []
    failures: list[tuple[str, str]] = []
    aborted: str | None = None

    for rcpt in recipients:
        key = rcpt.lower()
        row = ledger.get(key)
        if row is not None and row.status == "sent":
            already += 1
            continue
        if key in unsubscribed:
            unsub += 1
            if ledgered and (row is None or row.status != "skipped"):
                store.finish_delivery(issue, rcpt, "skipped", utcnow(), error="unsubscribed")
            continue
        permanent, maybe_sent = flags.get(key, (False, False))
        if row is not None and row.status == "failed" and permanent:
            failed_before += 1
            continue
        if maybe_sent:
            log.warning("%s: the previous send of %s was interrupted at the end of DATA; "
                        "resending with the same Message-ID", rcpt, issue)  # fmt: skip
            uncertain.append(rcpt)
        token = link_token(store, secret, rcpt)  # opaque: the subscriber's uid + HMAC
        https = unsubscribe_link(d.unsubscribe_url, token)
        mailto = f"mailto:{sender_addr}?subject={quote('unsubscribe ' + token)}"
        try:
            subscriber = store.subscriber(rcpt)
            prefs = preferences_url(settings, secret, subscriber) if subscriber else ""
            text, html = personalise(rcpt, https, prefs)
            msg = factory.build(rcpt, text, html, unsubscribe_https=https,
                                unsubscribe_mailto=mailto)  # fmt: skip
        except (ValueError, TypeError) as exc:  # an address the email package refuses
            failures.append((rcpt, f"cannot build message: {exc}"))
            if ledgered:
                store.finish_delivery(issue, rcpt, "failed", utcnow(), error=str(exc)[:500],
                                      permanent=True)  # fmt: skip
            continue
        mid = dg.message_id(issue, rcpt, domain)
        if ledgered:
            store.begin_delivery(issue, rcpt, mid, utcnow())
            commit = _committer(store, issue, rcpt)
        else:
            commit = None
        try:
            transport.send(msg, on_commit=commit)
        except ConnectionFailed as exc:
            aborted = str(exc)
            if ledgered:
                store.finish_delivery(issue, rcpt, "failed", utcnow(), message_id=mid,
                                      error=str(exc)[:500])  # fmt: skip
            failures.append((rcpt, str(exc)))
            log.error("digest %s: %s; stopping", issue, exc)
            break
        except DeliveryError as exc:
            failures.append((rcpt, str(exc)))
            log.warning("digest %s: %s", issue, exc)
            if ledgered:
                store.finish_delivery(issue, rcpt, "failed", utcnow(), message_id=mid,
                                      error=str(exc)[:500], permanent=exc.permanent)  # fmt: skip
            continue
        if ledgered:
            store.finish_delivery(issue, rcpt, "sent", utcnow(), message_id=mid)
        sent += 1

    report = DigestReport(
        issue, mode, recipients=len(recipients), sent=sent,
        skipped=already + unsub + failed_before, failed=len(failures), stories=stories,
        already_sent=already, unsubscribed=unsub, uncertain=tuple(uncertain),
        failures=tuple(failures), aborted=aborted, outbox=outbox, backlog=backlog,
    )  # fmt: skip
    log.info("%s", report.summary())
    return report


def _committer(store: Store, issue: str, rcpt: str):
    return lambda: store.delivery_committing(issue, rcpt, utcnow())


__all__ = ["DigestLock", "DigestReport", "build_issue", "send_digest"]
