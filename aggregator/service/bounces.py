"""Bounces: what a refusal does to a subscriber, VERP return paths, and delivery status
notifications (RFC 3464) read from a mailbox.

A permanent refusal (5xx at RCPT or DATA, or a DSN whose action is ``failed``) counts against
the address; ``digest.bounce_threshold`` of them in a row (default 3) mark it ``bounced``, and
one is enough (``digest.bounce_threshold_unknown``, default 1) when the refusal says the mailbox
does not exist (5.1.x other than the sender's 5.1.7/5.1.8, or "user unknown" in words). A
successful delivery clears the count: a full mailbox that empties again is not bounced. Temporary
refusals (4xx, a ``delayed`` DSN) count nothing; the sender retries them.

Every message's envelope sender names its subscriber, VERP-style, by the subscriber's random
``uid`` (never the address): ``bounces+<uid>@news.example.org`` for ``digest.bounce_address``
``bounces@news.example.org``. A bounce that comes back to it says whose mail failed even when the
address was forwarded elsewhere.
"""

from __future__ import annotations

import hashlib
import logging
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Literal

from ..clock import utcnow
from ..errors import AggregatorError
from ..mailer import enhanced_code
from ..models import Subscriber
from ..settings import Settings
from ..store import Store

log = logging.getLogger("aggregator.bounces")

Outcome = Literal["bounced", "counted", "temporary", "unknown"]
#: How much of a server's reply the subscriber's reason and events keep.
REASON_CHARS = 200
_UNKNOWN_WORDS = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|account)|unknown (?:recipient|"
    r"mailbox|address)|(?:mailbox|account|address|recipient) (?:does not|doesn't) exist|"
    r"does not exist|recipient not found|not found by smtp address lookup",
    re.IGNORECASE,
)
#: 5.1.x codes that are about the sender, not the recipient's mailbox.
_SENDER_CODES = ("5.1.7", "5.1.8")


class BounceError(AggregatorError):
    """A mailbox of bounces cannot be read (exit code 1)."""


# ---- the policy -------------------------------------------------------------------------------


def unknown_user(enhanced: str | None, text: str) -> bool:
    """Does the refusal say the mailbox does not exist (so one is enough to stop)?"""
    if enhanced and enhanced.startswith("5.1.") and enhanced not in _SENDER_CODES:
        return True
    return bool(_UNKNOWN_WORDS.search(text or ""))


def reason_text(code: int, enhanced: str | None, text: str) -> str:
    """``550 5.1.1 user unknown``: the code, the enhanced code and the reply's words, on one
    line, without repeating a code the text starts with, cut to REASON_CHARS."""
    words = " ".join((text or "").split())
    for prefix in (str(code), enhanced or ""):
        if prefix and words.startswith(prefix):
            words = words[len(prefix) :].lstrip(" -")
    out = " ".join(p for p in (str(code), enhanced or "", words) if p)
    return out if len(out) <= REASON_CHARS else out[: REASON_CHARS - 1] + "…"


def on_refusal(
    store: Store,
    settings: Settings,
    address: str,
    code: int,
    enhanced: str | None,
    text: str,
    now: datetime | None = None,
) -> Outcome:
    """Apply one refusal of a message to ``address``: ``code`` the SMTP reply code (4xx or 5xx),
    ``enhanced`` its enhanced status code (None: looked for in ``text``), ``text`` the reply
    (``str()`` of the mailer's DeliveryError will do: its ``address:`` prefix is dropped).

    Returns ``temporary`` (4xx: nothing recorded, retry later), ``counted`` (a permanent refusal
    below the threshold, recorded as an event), ``bounced`` (the address is now, or already was,
    bounced: stop sending to it) or ``unknown`` (no such subscriber: nothing recorded)."""
    if not 400 <= code < 600:
        raise ValueError(f"{code}: not a refusal (4xx or 5xx)")
    if code < 500:
        log.info("%s: temporary refusal %s", address, reason_text(code, enhanced, text))
        return "temporary"
    now = now or utcnow()
    if text.lower().startswith(address.lower() + ":"):  # str(DeliveryError): "rcpt: 550 ..."
        text = text[len(address) + 1 :]
    enhanced = enhanced or enhanced_code(text)
    reason = reason_text(code, enhanced, text)
    d = settings.digest
    with store.transaction():
        current = store.subscriber(address)
        if current is None:
            log.warning("%s: permanent refusal for an address that is no subscriber: %s",
                        address, reason)  # fmt: skip
            return "unknown"
        if current.status == "bounced":
            return "bounced"
        count = store.count_bounce(address, now, reason)
        assert count is not None  # the subscriber exists
        unknown = unknown_user(enhanced, text)
        threshold = d.bounce_threshold_unknown if unknown else d.bounce_threshold
        if count < threshold or current.status == "unsubscribed":
            return "counted"
        why = reason if count == 1 else f"{reason} ({count} permanent refusals in a row)"
        store.set_subscriber_status(address, "bounced", "bounce", now, reason=why)
    log.warning("%s: bounced after %d permanent refusal%s: %s", address, count,
                "" if count == 1 else "s", reason)  # fmt: skip
    return "bounced"


def on_delivered(store: Store, address: str, now: datetime | None = None) -> None:
    """A message to ``address`` was accepted (250 after DATA): its refusals start again from
    zero. Cheap when there were none (one read)."""
    del now  # the count is simply cleared; kept in the signature for symmetry with on_refusal
    store.reset_bounces(address)


# ---- VERP ---------------------------------------------------------------------------------------


def envelope_sender(settings: Settings, subscriber: Subscriber) -> str | None:
    """The MAIL FROM of ``subscriber``'s messages: ``local+<uid>@domain`` of
    ``digest.bounce_address``, or None when it is not set (the sender uses From)."""
    local, at, domain = settings.digest.bounce_address.rpartition("@")
    if not at or not local:
        return None
    return f"{local}+{subscriber.uid}@{domain}"


def subscriber_of_bounce_address(store: Store, settings: Settings, rcpt: str) -> Subscriber | None:
    """The subscriber a VERP address (``bounces+<uid>@domain``, ``<...>`` or a header value)
    names, or None when it is not one of ours."""
    local, at, domain = settings.digest.bounce_address.rpartition("@")
    if not at or not local:
        return None
    address = parseaddr(rcpt.strip())[1] or rcpt.strip().strip("<>")
    got_local, got_at, got_domain = address.rpartition("@")
    if not got_at or got_domain.lower() != domain.lower():
        return None
    prefix = local.lower() + "+"
    if not got_local.lower().startswith(prefix):
        return None
    uid = got_local[len(prefix) :].lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", uid):
        return None
    return store.subscriber_by_uid(uid)


# ---- delivery status notifications ------------------------------------------------------------


@dataclass(frozen=True)
class DsnRecipient:
    """One per-recipient block of a DSN (RFC 3464 section 2.3)."""

    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # 5.1.1
    final: str  # Final-Recipient's address
    original: str  # Original-Recipient's address ("" when absent)
    diagnostic: str  # Diagnostic-Code without its type ("550 5.1.1 user unknown")

    @property
    def code(self) -> int:
        """The SMTP code of the diagnostic, else one that the status class implies."""
        m = re.match(r"\s*([245]\d\d)\b", self.diagnostic)
        if m:
            return int(m.group(1))
        return {"5": 550, "4": 450}.get(self.status[:1], 550 if self.action == "failed" else 450)


@dataclass(frozen=True)
class Dsn:
    key: str  # Message-ID, or sha256:<hex> of the bytes
    envelope: tuple[str, ...]  # addresses the DSN was sent to (our VERP return path, we hope)
    recipients: tuple[DsnRecipient, ...]
    subject: str = ""


def parse_dsn(data: bytes) -> Dsn | None:
    """The DSN in ``data`` (a multipart/report of report-type delivery-status, possibly nested
    inside another part), or None when it is not one."""
    try:
        msg = message_from_bytes(data, policy=policy.compat32)
    except Exception:  # the email package raises many types on junk
        return None
    status = next((p for p in msg.walk() if p.get_content_type() == "message/delivery-status"),
                  None)  # fmt: skip
    report = msg.get_content_type() == "multipart/report" or any(
        p.get_content_type() == "multipart/report" for p in msg.walk()
    )
    if status is None or not report:
        return None
    blocks = status.get_payload()
    if not isinstance(blocks, list) or not blocks:
        return None
    per_message, rest = blocks[0], blocks[1:]
    recipients = []
    for block in rest:
        if not isinstance(block, Message) or not block.get("Final-Recipient"):
            continue
        recipients.append(DsnRecipient(
            action=_field(block, "Action").lower(),
            status=(enhanced_code(_field(block, "Status")) or _field(block, "Status")),
            final=_typed_address(_field(block, "Final-Recipient")),
            original=_typed_address(_field(block, "Original-Recipient")),
            diagnostic=_typed_value(_field(block, "Diagnostic-Code")),
        ))  # fmt: skip
    if not recipients:
        return None
    envelope: list[str] = []
    for name in ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"):
        envelope += [a for _, a in getaddresses(msg.get_all(name, [])) if a]
    if isinstance(per_message, Message):
        for name, value in per_message.items():
            if name.lower().endswith("-sender"):  # X-Postfix-Sender: rfc822; bounces+uid@...
                envelope.append(_typed_address(str(value)))
    for part in msg.walk():  # the returned message's headers: its Return-Path is ours
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            envelope += _return_paths(part)
    mid = str(msg.get("Message-ID", "")).strip()
    key = mid if mid else "sha256:" + hashlib.sha256(data).hexdigest()
    return Dsn(key, tuple(dict.fromkeys(e for e in envelope if e)), tuple(recipients),
               " ".join(str(msg.get("Subject", "")).split())[:120])  # fmt: skip


def _field(block: Message, name: str) -> str:
    return " ".join(str(block.get(name, "")).split())


def _typed_value(value: str) -> str:
    """``rfc822; a@b.org`` -> ``a@b.org``; ``smtp; 550 ...`` -> ``550 ...``."""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and re.fullmatch(r"[A-Za-z0-9-]+", kind.strip()) else value.strip()


def _typed_address(value: str) -> str:
    return _typed_value(value).strip().strip("<>")


def _return_paths(part: Message) -> list[str]:
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822: the returned message
        inner = payload[0] if payload else None
        values = inner.get_all("Return-Path", []) if isinstance(inner, Message) else []
    else:  # text/rfc822-headers: the returned headers as text
        text = part.get_payload(decode=True) or b""
        head = message_from_bytes(bytes(text) + b"\r\n\r\n", policy=policy.compat32)
        values = head.get_all("Return-Path", [])
    return [a for _, a in getaddresses(values) if a]


@dataclass
class BounceReport:
    """What ``bounces read`` did with each message of a mailbox."""

    messages: int = 0
    bounced: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)
    counted: list[tuple[str, str]] = field(default_factory=list)
    temporary: list[tuple[str, str]] = field(default_factory=list)  # delayed: nothing recorded
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (DSN's recipient, subject)
    not_dsn: list[str] = field(default_factory=list)  # Message-ID or subject
    already: int = 0  # DSNs applied by an earlier read
    other: int = 0  # per-recipient blocks that are no failure (delivered, relayed, expanded)

    @property
    def applied(self) -> int:
        return len(self.bounced) + len(self.counted)

    def summary(self, name: str) -> str:
        head = (f"{name}: {self.messages} message{'' if self.messages == 1 else 's'}: "
                f"{self.applied} refusal{'' if self.applied == 1 else 's'} applied "
                f"({len(self.bounced)} bounced, {len(self.counted)} counted), "
                f"{len(self.temporary)} delayed, {len(self.unknown)} unknown address, "
                f"{len(self.not_dsn)} not a DSN, {self.already} already read")  # fmt: skip
        lines = [head]
        lines += [f"  bounced: {a}: {r}" for a, r in self.bounced]
        lines += [f"  counted: {a}: {r}" for a, r in self.counted]
        lines += [f"  delayed: {a}: {r}" for a, r in self.temporary]
        lines += [f"  unknown address: {a} ({s})" for a, s in self.unknown]
        lines += [f"  not a DSN: {m}" for m in self.not_dsn]
        return "\n".join(lines)


def open_mailbox(path: Path) -> mailbox.Maildir | mailbox.mbox:
    """A Maildir (a folder with cur/ and new/) or an mbox file; BounceError otherwise."""
    path = Path(path)
    if path.is_dir():
        if not ((path / "cur").is_dir() and (path / "new").is_dir()):
            raise BounceError(f"{path}: a folder, but not a Maildir (no cur/ and new/)")
        return mailbox.Maildir(path, factory=None, create=False)
    if not path.is_file():
        raise BounceError(f"{path}: no such Maildir or mbox file")
    with path.open("rb") as f:
        start = f.read(5)
    if start and start != b"From ":
        raise BounceError(f"{path}: not an mbox file (it does not start with 'From ')")
    return mailbox.mbox(path, factory=None, create=False)


def messages(box: mailbox.Maildir | mailbox.mbox) -> Iterator[bytes]:
    for key in box.iterkeys():
        yield box.get_bytes(key)


def read_bounces(store: Store, settings: Settings, path: Path,
                 now: datetime | None = None) -> BounceReport:  # fmt: skip
    """Apply the delivery status notifications of a Maildir or mbox: each ``failed`` recipient
    is a permanent refusal of the subscriber its VERP return path names (else its
    Original-Recipient or Final-Recipient address); ``delayed`` ones are only reported. A DSN
    is applied once: its Message-ID is remembered, in the same transaction."""
    now = now or utcnow()
    report = BounceReport()
    box = open_mailbox(path)
    try:
        for data in messages(box):
            report.messages += 1
            dsn = parse_dsn(data)
            if dsn is None:
                head = BytesHeaderParser(policy=policy.compat32).parsebytes(data)
                what = str(head.get("Message-ID", "")).strip() or " ".join(
                    str(head.get("Subject", "(no subject)")).split())[:120]  # fmt: skip
                report.not_dsn.append(what)
                continue
            with store.transaction():
                if not store.claim_bounce_report(dsn.key, now):
                    report.already += 1
                    continue
                _apply(store, settings, dsn, report, now)
    finally:
        box.close()
    return report


def _apply(store: Store, settings: Settings, dsn: Dsn, report: BounceReport,
           now: datetime) -> None:  # fmt: skip
    verp = next((s for e in dsn.envelope
                 if (s := subscriber_of_bounce_address(store, settings, e)) is not None),
                None)  # fmt: skip
    done: set[str] = set()
    for r in dsn.recipients:
        if r.action not in ("failed", "delayed"):
            report.other += 1
            continue
        subscriber = verp or next(
            (s for a in (r.original, r.final) if a and (s := store.subscriber(a)) is not None),
            None,
        )
        if subscriber is None:
            report.unknown.append((r.original or r.final, dsn.subject or dsn.key))
            continue
        reason = reason_text(r.code, r.status, r.diagnostic or f"DSN: {r.action}")
        if r.action == "delayed":
            report.temporary.append((subscriber.email, reason))
            continue
        if subscriber.key in done:  # one message, one refusal, however many blocks name it
            continue
        done.add(subscriber.key)
        text = r.diagnostic or f"delivery failed ({r.status})"
        if r.code < 500:  # failed for good after temporary refusals: a permanent one for us
            code, text = 550, f"gave up: {text}"
        else:
            code = r.code
        outcome = on_refusal(store, settings, subscriber.email, code, r.status, text, now)
        if outcome == "bounced":
            report.bounced.append((subscriber.email, reason))
        elif outcome == "counted":
            report.counted.append((subscriber.email, reason))


__all__ = [
    "REASON_CHARS",
    "BounceError",
    "BounceReport",
    "Dsn",
    "DsnRecipient",
    "Outcome",
    "envelope_sender",
    "on_delivered",
    "on_refusal",
    "open_mailbox",
    "parse_dsn",
    "read_bounces",
    "reason_text",
    "subscriber_of_bounce_address",
    "unknown_user",
]
