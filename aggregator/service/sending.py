"""Orchestrate one weekly issue: select the week, freeze it, render, deliver through the ledger.

Exactly-once as far as SMTP allows:

* The issue is frozen in the store the first time it is sent, so every recipient and every
  rerun gets the same stories.
* Each (issue, recipient) is written ``pending`` before the SMTP transaction, stamped
  ``committing`` just before the message and the final ``.`` of DATA are written (after the 354),
  and ``sent`` after the server's 250, in the same commit as the connection's next ``pending``
  row (or as soon as the connection has nothing more to send): two commits a message.
  A rerun sends only rows that are not ``sent`` (and not failed permanently).
* Durable here means against a crash of the process (kill -9: a commit is in the WAL, in the
  kernel's hands); ``synchronous=NORMAL`` does not fsync each commit, so a power cut may undo
  the last ones (then a message may go twice, with the same Message-ID).
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

import heapq
import logging
import math
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from .. import addresses
from .. import digest as dg
from ..clock import utcnow
from ..digest.dkim import sign
from ..errors import ConfigError, DeliveryError
from ..files import write_atomic
from ..mailer import (
    ConnectionFailed,
    Deferred,
    Outbox,
    Pacer,
    Refused,
    SmtpMailer,
    Transport,
    Wire,
    prepare,
)
from ..models import Digest, Story, Subscriber
from ..normalize import reader_links
from ..settings import DigestSettings, Settings
from ..store import Sent, Store
from ..unsubscribe import make_token, secret_for, unsubscribe_link
from . import bounces
from .lock import InstanceLock
from .subscriptions import digest_recipients, preferences_url

log = logging.getLogger("aggregator.digest")

Mode = Literal["send", "dry-run", "preview"]
PREVIEW_RECIPIENT = "reader@example.org"


class DigestLock(InstanceLock):
    """Held while an issue is being delivered."""

    suffix = ".digest.lock"
    what = "sending the digest from"
    exclusive_in_fleet = True  # PostgreSQL: one sender per issue (an advisory lock per issue)


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
    editions: int = 0  # distinct editions rendered (one per choice of topics and languages)
    empty_editions: int = 0  # recipients skipped: their edition had no story
    retried: int = 0  # 4xx refusals tried again later in this run
    bounced: int = 0  # addresses the bounce policy stopped in this run
    connections: int = 0  # SMTP connections (or outbox writers) used at once
    test: str = ""  # digest --test: the one address it went to

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
        if self.test:
            done = "failed" if self.failed else verb
            line = f"digest {self.issue}: test message to {self.test} {done}{where} (not ledgered)"
            return line + "".join(f"\n  failed: {r}: {e}" for r, e in self.failures)
        n = self.editions
        parts = [
            (
                f"digest {self.issue}: {self.stories} stories{backlog}, {self.sent} of "
                f"{self.recipients} {verb}{where}"
            ),
            f"{n} editions" if n > 1 else "",
            f"{self.already_sent} already sent" if self.already_sent else "",
            f"{self.unsubscribed} unsubscribed" if self.unsubscribed else "",
            f"{self.empty_editions} skipped (nothing in their topics and languages)"
            if self.empty_editions
            else "",
            f"{self.failed} failed" if self.failed else "",
            f"{self.bounced} stopped as bounced" if self.bounced else "",
            f"{self.retried} refusals tried again" if self.retried else "",
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
        log.debug("digest %s: no stories between %s and %s, nothing sent", issue, start, end)
        return DigestReport(issue, mode, recipients=len(recipients), empty=True, hint=hint,
                            backlog=backlog)  # fmt: skip

    ledgered = mode == "send"
    lock = DigestLock(store.path, key=issue) if ledgered else None
    if lock is not None:
        lock.acquire()
    try:
        make, connections, outbox_dir = _transports(settings, store, issue, mode, transport, now)
        if ledgered:
            digest = store.freeze_digest(digest, now)
        return _deliver(settings, store, digest, renderer, recipients, make,
                        connections=connections, owned=transport is None, ledgered=ledgered,
                        mode=mode, stories=stories, outbox=outbox_dir, backlog=backlog,
                        now=now)  # fmt: skip
    finally:
        if lock is not None:
            lock.release()


def send_test(
    settings: Settings,
    store: Store,
    address: str,
    *,
    week: str | None = None,
    now: datetime | None = None,
    transport: Transport | None = None,
) -> DigestReport:
    """``digest --test ADDRESS``: the current issue (as frozen, else as it would be frozen now,
    without freezing it) to one address, outside the ledger and marked as a test: subject
    "[test] ...", ``X-Aggregator-Test: yes``, a Message-ID of its own (never the one the real
    delivery will carry). A subscriber gets their own edition and working links; another
    address the whole issue, whose unsubscribe link does nothing."""
    box = addresses.valid(address)
    if box is None:
        raise ConfigError(f"--test {address!r}: {addresses.problem(address)}")
    d = settings.digest
    now = now or utcnow()
    issue, start, end = dg.resolve_week(week, d.timezone, now)
    renderer = dg.Renderer(d.templates, d.timezone, title=settings.output.title, locale=d.locale)
    digest = store.frozen_digest(issue) or build_issue(settings, store, issue, start, end)[0]
    subscriber = store.subscriber(box.address)
    editions = _Editions(settings, store, digest, renderer, freeze=False, now=now,
                         headers={"X-Aggregator-Test": "yes"},
                         subject_prefix="[test] ")  # fmt: skip
    ed = editions.get(_choice_of(subscriber))
    secret = secret_for(settings.secret_env, store)
    token = make_token(secret, subscriber.uid) if subscriber else "test"
    https = unsubscribe_link(d.unsubscribe_url, token)
    mailto = f"mailto:{parseaddr(d.sender)[1]}?subject={quote('unsubscribe ' + token)}"
    prefs = preferences_url(settings, secret, subscriber) if subscriber else ""
    text, html = ed.personalise(box.address, https, prefs)
    mid = f"<{issue}.test.{secrets.token_hex(8)}@{dg.address_domain(d.sender)}>"
    msg = ed.factory.build(box.address, text, html, unsubscribe_https=https,
                           unsubscribe_mailto=mailto, mid=mid)  # fmt: skip
    make, _, folder = _transports(settings, store, issue, "test", transport, now)
    sender = make()
    failures: list[tuple[str, str]] = []
    aborted = None
    try:
        sender.send(msg)
    except ConnectionFailed as exc:
        aborted = str(exc)
        failures.append((box.address, str(exc)))
    except DeliveryError as exc:
        failures.append((box.address, str(exc)))
    finally:
        if transport is None:
            sender.close()
    stories = sum(len(s.stories) for s in ed.digest.sections)
    report = DigestReport(issue, "test", recipients=1, sent=0 if failures else 1,
                          failed=len(failures), stories=stories, failures=tuple(failures),
                          aborted=aborted, outbox=folder, editions=1, connections=1,
                          test=box.address)  # fmt: skip
    return report  # the caller prints or logs report.summary(): once


def _transports(
    settings: Settings,
    store: Store,
    issue: str,
    mode: str,
    transport: Transport | None,
    now: datetime,
) -> tuple[Callable[[], Transport], int, Path | None]:
    """How the run delivers: ``(make a transport, how many at once, the outbox folder)``. SMTP
    gets ``digest.smtp.connections`` connections sharing one rate limit (primed with the last
    hour's sends of earlier runs); the outbox, or a transport handed in, one."""
    d = settings.digest
    if transport is not None:
        folder = transport.directory if isinstance(transport, Outbox) else None
        return (lambda: transport), 1, folder
    if mode == "dry-run" or not d.smtp.host:
        sub = {"dry-run": ("dry-run", issue), "test": ("test", issue)}.get(mode, (issue,))
        folder = d.outbox.joinpath(*sub)
        box = Outbox(folder)
        return (lambda: box), 1, folder
    smtp = d.smtp
    password = os.environ.get(smtp.password_env) or None
    earlier = store.sent_since(now - timedelta(hours=1)) if smtp.rate_per_hour else []
    pacer = Pacer(smtp.rate_per_second, smtp.rate_per_hour,
                  sent=[t.timestamp() for t in earlier])  # fmt: skip
    connections = 1 if mode == "test" else smtp.connections

    def make() -> Transport:
        return SmtpMailer(smtp, password, defer_temporary=True,
                          pacer=pacer if pacer.limited else None)  # fmt: skip

    return make, connections, None


@dataclass
class _Edition:
    """One edition as the sender needs it: rendered once, then filled per recipient."""

    key: str
    digest: Digest
    factory: dg.MessageFactory
    personalise: Callable[[str, str, str], tuple[str, str]]
    prebuilt: dg.Prebuilt | None = None  # the whole message encoded once, filled per reader

    @property
    def empty(self) -> bool:
        return self.digest.empty


class _Editions:
    """The editions of one issue, made (and, when sending, frozen) the first time a subscriber
    with that choice comes up: rendering costs one template pass per edition, not per reader."""

    def __init__(self, settings: Settings, store: Store, digest: Digest, renderer: dg.Renderer,
                 *, freeze: bool, now: datetime, headers: dict[str, str] | None = None,
                 subject_prefix: str = ""):  # fmt: skip
        self.settings, self.store, self.digest, self.renderer = settings, store, digest, renderer
        self.freeze, self.now = freeze, now
        self.headers, self.prefix = headers or {}, subject_prefix
        self.date = utcnow()
        self.made: dict[str, _Edition] = {}

    def get(self, chosen: dg.Choice) -> _Edition:
        key = chosen.key
        found = self.made.get(key)
        if found is not None:
            return found
        d = self.settings.digest
        content = self.digest
        if key != dg.FULL:
            frozen = self.store.frozen_edition(self.digest.issue, key)
            if frozen is None:
                content = dg.edition(self.digest, chosen, subject=d.subject,
                                     timezone=d.timezone, locale=d.locale)  # fmt: skip
                if self.freeze:
                    content = self.store.freeze_edition(key, content, self.now)
            else:
                content = frozen
        if self.prefix:
            content = replace(content, subject=f"{self.prefix}{content.subject}")
        factory = dg.MessageFactory(content, sender=d.sender, date=self.date,
                                    list_ident=d.list_id, headers=self.headers)  # fmt: skip
        prepare(factory.template)  # the full header round-trip check, once per edition
        personalise = self.renderer.personaliser(self.renderer.context(content))
        made = self.made[key] = _Edition(key, content, factory, personalise,
                                         factory.prebuilt(personalise))  # fmt: skip
        return made


def _choice_of(subscriber: Subscriber | None) -> dg.Choice:
    if subscriber is None:
        return dg.Choice()
    return dg.choice(subscriber.topics, subscriber.languages)


@dataclass
class _Job:
    rcpt: str
    mid: str
    edition: str
    msg: Wire  # checked as it was built, before a connection takes it
    sender: str | None = None  # the envelope's MAIL FROM (VERP), None: the From address
    attempt: int = 0  # retries in this run after a 4xx


_STOPPED = object()  # a job the pool gave back unsent (the run was stopping)
_TAKEN = object()  # a job not sent: another sender has its delivery (sent, or claimed)


class _Pool:
    """Threads, each with its own transport (one SMTP connection reused for its messages),
    taking jobs from one queue and answering ``(job, None | exception | _STOPPED)``. A thread
    whose transport cannot connect ends (the others go on); ``work`` runs in the threads."""

    def __init__(self, make: Callable[[], Transport], size: int, owned: bool,
                 work: Callable[[Transport, _Job], bool | None],
                 idle: Callable[[], None] = lambda: None):  # fmt: skip
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[tuple[_Job, object]] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.size = self.alive = size
        self.work, self.owned, self.idle = work, owned, idle
        self.error: BaseException | None = None  # from ``idle``, raised by the caller
        self.threads = [
            threading.Thread(target=self._run, args=(make,), name=f"smtp-{i}", daemon=True)
            for i in range(size)
        ]
        for t in self.threads:
            t.start()

    def _run(self, make: Callable[[], Transport]) -> None:
        transport = make()
        try:
            while (job := self._next()) is not None:
                if self.stop.is_set():
                    self.done.put((job, _STOPPED))
                    continue
                try:
                    mine = self.work(transport, job)
                except ConnectionFailed as exc:
                    self.done.put((job, exc))
                    return  # this connection is done for; the others take the queue
                except BaseException as exc:
                    self.done.put((job, exc))
                else:
                    self.done.put((job, None if mine is not False else _TAKEN))
        finally:
            self._idle()
            if self.owned:
                transport.close()

    def _next(self) -> _Job | None:
        """The next job; ``idle`` runs before waiting for one (and before the end)."""
        try:
            job = self.jobs.get_nowait()
        except queue.Empty:
            self._idle()
            job = self.jobs.get()
        if job is None:
            self._idle()
        return job

    def _idle(self) -> None:
        try:
            self.idle()
        except BaseException as exc:  # a ledger write failed: the run stops on it
            self.error = self.error or exc
            self.stop.set()

    def drain(self) -> list[_Job]:
        """The jobs nobody took (after ``stop``)."""
        out: list[_Job] = []
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return out
            if job is not None:
                out.append(job)

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join()


def _deliver(
    settings: Settings,
    store: Store,
    digest: Digest,
    renderer: dg.Renderer,
    recipients: list[str],
    make: Callable[[], Transport],
    *,
    connections: int,
    owned: bool,
    ledgered: bool,
    mode: str,
    stories: int,
    outbox: Path | None,
    backlog: int = 0,
    now: datetime,
) -> DigestReport:
    d = settings.digest
    issue = digest.issue
    secret = secret_for(settings.secret_env, store)
    sender_addr = parseaddr(d.sender)[1]
    domain = dg.address_domain(d.sender)
    editions = _Editions(settings, store, digest, renderer, freeze=ledgered, now=now)
    editions.get(dg.Choice())  # the whole issue: its checks run before anything is sent
    subscribers = {s.key: s for s in store.subscribers()}
    unsubscribed = store.unsubscribed()
    ledger = store.deliveries(issue) if ledgered else {}
    flags = store.delivery_flags(issue) if ledgered else {}
    sent = already = unsub = failed_before = empty = retried = bounced = 0
    uncertain: list[str] = []
    failures: list[tuple[str, str]] = []
    aborted: str | None = None

    todo: list[str] = []
    for rcpt in recipients:
        key = rcpt.lower()
        row = ledger.get(key)
        if row is not None and row.status == "sent":
            already += 1
        elif key in unsubscribed:
            unsub += 1
            if ledgered and (row is None or row.status != "skipped"):
                store.finish_delivery(issue, rcpt, "skipped", utcnow(), error="unsubscribed")
        elif row is not None and row.status == "failed" and flags.get(key, (False, False))[0]:
            failed_before += 1
        else:
            todo.append(rcpt)

    def fail(rcpt: str, error: str, *, mid: str = "", edition: str | None = None,
             permanent: bool = False) -> None:  # fmt: skip
        failures.append((rcpt, error))
        if ledgered:
            store.finish_delivery(issue, rcpt, "failed", utcnow(), message_id=mid,
                                  error=error[:500], permanent=permanent,
                                  edition=edition)  # fmt: skip

    def jobs() -> Iterator[_Job]:
        """Messages built one at a time as the connections take them (memory stays flat)."""
        nonlocal empty
        for rcpt in todo:
            key = rcpt.lower()
            subscriber = subscribers.get(key)
            ed = editions.get(_choice_of(subscriber))
            if ed.empty and ed.key != dg.FULL:
                empty += 1
                if ledgered:
                    store.finish_delivery(issue, rcpt, "skipped", utcnow(),
                                          error=f"empty edition ({ed.key})",
                                          edition=ed.key)  # fmt: skip
                continue
            if flags.get(key, (False, False))[1]:
                log.warning("%s: the previous send of %s was interrupted at the end of DATA; "
                            "resending with the same Message-ID", rcpt, issue)  # fmt: skip
                uncertain.append(rcpt)
            mid = dg.message_id(issue, rcpt, domain)
            try:
                if subscriber is None:
                    raise ValueError("not a subscriber")
                token = make_token(secret, subscriber.uid)  # opaque: uid + HMAC
                https = unsubscribe_link(d.unsubscribe_url, token)
                mailto = f"mailto:{sender_addr}?subject={quote('unsubscribe ' + token)}"
                prefs = preferences_url(settings, secret, subscriber)
                data = None
                if ed.prebuilt is not None:  # the edition's bytes with this reader's parts
                    data = ed.prebuilt.build(rcpt, unsubscribe_https=https,
                                             unsubscribe_mailto=mailto, preferences=prefs,
                                             mid=mid)  # fmt: skip
                msg: EmailMessage | bytes
                if data is None:
                    text, html = ed.personalise(rcpt, https, prefs)
                    msg = ed.factory.build(rcpt, text, html, unsubscribe_https=https,
                                           unsubscribe_mailto=mailto, mid=mid)  # fmt: skip
                else:
                    msg = data
                # the full header round trip ran once on the edition's template (_Editions);
                # a prebuilt message's own parts get the header block's checks
                wire = prepare(msg, body_checked=data is not None)
                if d.dkim.enabled:  # DkimError is a ValueError: this message cannot go
                    wire = prepare(sign(wire.data, settings), body_checked=data is not None)
            except (ValueError, TypeError) as exc:  # an address the email package refuses
                fail(rcpt, f"cannot build message: {exc}", edition=ed.key, permanent=True)
                continue
            except DeliveryError as exc:  # refused by the mailer's checks
                log.warning("digest %s: %s", issue, exc)
                fail(rcpt, str(exc), mid=mid, edition=ed.key, permanent=exc.permanent)
                continue
            yield _Job(rcpt, mid, ed.key, wire, bounces.envelope_sender(settings, subscriber))

    accepted = threading.local()  # per connection: the message accepted, not yet recorded

    def work(transport: Transport, job: _Job) -> bool:  # in a pool thread
        """Send ``job``; False when another sender has its delivery (nothing sent)."""
        if ledgered:
            # claimed and pending, and the connection's previous message sent, in one commit
            mine = store.begin_delivery(issue, job.rcpt, job.mid, utcnow(), job.edition,
                                        sent=getattr(accepted, "sent", None))  # fmt: skip
            accepted.sent = None
            if not mine:
                return False
            envelope = {"sender": job.sender} if job.sender else {}
            transport.send(job.msg, on_commit=_committer(store, issue, job.rcpt), **envelope)
            accepted.sent = Sent(job.rcpt, job.mid, utcnow(), job.edition)
        else:
            transport.send(job.msg)
        return True

    def idle() -> None:  # in a pool thread, before it waits for a job or ends
        sent_ = getattr(accepted, "sent", None)
        if sent_ is not None:
            store.finish_delivery(issue, sent_.recipient, "sent", sent_.at,
                                  message_id=sent_.message_id, edition=sent_.edition)  # fmt: skip
            accepted.sent = None

    smtp = d.smtp
    size = max(1, min(connections, len(todo)))
    pool = _Pool(make, size, owned, work, idle)
    source = jobs()
    later: list[tuple[float, int, _Job]] = []  # (due, order, job): 4xx-refused, tried again
    inflight, cap, exhausted, order = 0, size * 4, False, 0
    crash: BaseException | None = None

    def submit(job: _Job) -> None:
        nonlocal inflight
        pool.jobs.put(job)
        inflight += 1

    def stop_all() -> None:
        nonlocal inflight
        pool.stop.set()
        inflight -= len(pool.drain())

    try:
        while True:
            if aborted is None and crash is None:
                clock = time.monotonic()
                while later and later[0][0] <= clock and inflight < cap:
                    submit(heapq.heappop(later)[2])
                while not exhausted and inflight < cap:
                    job = next(source, None)
                    if job is None:
                        exhausted = True
                    else:
                        submit(job)
            if inflight == 0:
                if aborted is not None or crash is not None or (exhausted and not later):
                    break
                time.sleep(max(0.0, later[0][0] - time.monotonic()))
                continue
            wait = max(0.0, later[0][0] - time.monotonic()) if later else None
            try:
                job, outcome = pool.done.get(timeout=wait)
            except queue.Empty:
                continue
            inflight -= 1
            if outcome is None:
                sent += 1
                if ledgered:  # a delivery ends a run of refusals
                    bounces.on_delivered(store, job.rcpt, utcnow())
            elif outcome is _STOPPED:
                pass
            elif outcome is _TAKEN:  # PostgreSQL: another sender sent it or is sending it
                log.info("digest %s: %s is another sender's", issue, job.rcpt)
                already += 1
            elif isinstance(outcome, ConnectionFailed):
                pool.alive -= 1
                if outcome.permanent or pool.alive == 0:
                    aborted = str(outcome)
                    fail(job.rcpt, str(outcome), mid=job.mid, edition=job.edition)
                    log.error("digest %s: %s; stopping", issue, outcome)
                    stop_all()
                else:
                    log.warning("digest %s: a connection failed (%s); going on with %d",
                                issue, outcome, pool.alive)  # fmt: skip
                    submit(job)
            elif isinstance(outcome, Refused):
                verdict = bounces.on_refusal(store, settings, job.rcpt, outcome.code or 0,
                                      outcome.enhanced, outcome.reply, utcnow())  # fmt: skip
                bounced += verdict == "bounced"
                again = verdict == "temporary" and isinstance(outcome, Deferred)
                if again and job.attempt < smtp.retries:
                    job.attempt += 1
                    retried += 1
                    delay = smtp.retry_delay * 2 ** (job.attempt - 1)
                    log.info("digest %s: %s; trying again in %.0f s", issue, outcome, delay)
                    if ledgered:  # a crash now: the next run tries it (not permanent)
                        store.finish_delivery(issue, job.rcpt, "failed", utcnow(),
                                              message_id=job.mid, error=str(outcome)[:500],
                                              edition=job.edition)  # fmt: skip
                    order += 1
                    heapq.heappush(later, (time.monotonic() + delay, order, job))
                else:
                    log.warning("digest %s: %s (%s)", issue, outcome, verdict)
                    fail(job.rcpt, str(outcome), mid=job.mid, edition=job.edition,
                         permanent=verdict != "temporary")  # fmt: skip
            elif isinstance(outcome, DeliveryError):
                log.warning("digest %s: %s", issue, outcome)
                fail(job.rcpt, str(outcome), mid=job.mid, edition=job.edition,
                     permanent=outcome.permanent)  # fmt: skip
            else:
                assert isinstance(outcome, BaseException)
                crash = crash or outcome
                stop_all()
    except BaseException:
        stop_all()
        raise
    finally:
        pool.close()
    crash = crash or pool.error
    if crash is not None:
        raise crash
    for _, _, job in later:  # stopped before their turn came: the next run tries them
        fail(job.rcpt, "not tried again: the run stopped", mid=job.mid, edition=job.edition)

    report = DigestReport(
        issue, mode, recipients=len(recipients), sent=sent,
        skipped=already + unsub + failed_before + empty, failed=len(failures), stories=stories,
        already_sent=already, unsubscribed=unsub, uncertain=tuple(uncertain),
        failures=tuple(failures), aborted=aborted, outbox=outbox, backlog=backlog,
        editions=len(editions.made), empty_editions=empty, retried=retried, bounced=bounced,
        connections=size,
    )  # fmt: skip
    return report  # the caller prints or logs report.summary(): once


def _committer(store: Store, issue: str, rcpt: str):
    return lambda: store.delivery_committing(issue, rcpt, utcnow())


__all__ = ["DigestLock", "DigestReport", "build_issue", "send_digest", "send_test"]
