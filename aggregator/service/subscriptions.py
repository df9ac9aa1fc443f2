"""The newsletter's list as the service layer sees it: who gets the digest, the links each
subscriber's mail carries, and the operations the CLI and the web share (add, remove, forget,
import, the double opt-in).

Subscribers live in the store (``Store.subscribers``); config.yaml's ``recipients`` and
``recipients_file`` are seeded as confirmed subscribers (origin ``config``) every time the list is
read for sending, so an operator's list keeps working and can be mixed with people who joined on
the web. Addresses are read by ``aggregator.addresses`` everywhere.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urljoin

from .. import addresses
from ..clock import utcnow
from ..errors import AggregatorError
from ..models import Subscriber
from ..settings import Settings
from ..store import Store
from ..unsubscribe import make_expiring_token, make_token, unsubscribe_link

log = logging.getLogger("aggregator.subscribers")

#: A confirmation link works this long.
CONFIRM_TTL = timedelta(hours=48)
#: At most one confirmation message per address in this many seconds.
CONFIRM_EVERY = 3600.0
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "ar": "العربية"}
CSV_FIELDS = ("email", "name", "status", "topics", "languages", "origin", "changed", "reason",
              "created")  # fmt: skip


class SubscriberError(AggregatorError):
    """A subscriber command could not do what was asked (exit code 1)."""


# ---- the list the digest goes to -----------------------------------------------------------


def seed_from_config(settings: Settings, store: Store, now: datetime | None = None) -> int:
    """config.yaml's recipients become confirmed subscribers (origin config); see
    ``Subscribers.seed_subscribers`` for who is never brought back."""
    boxes = [b for b in map(addresses.valid, settings.digest.recipients) if b is not None]
    return store.seed_subscribers([(b.address, b.name) for b in boxes], now or utcnow())


def digest_recipients(settings: Settings, store: Store, now: datetime | None = None) -> list[str]:
    """The bare addresses the digest goes to: every confirmed subscriber, after seeding
    config.yaml's list. Addresses config.yaml still lists but whose owner unsubscribed are
    included, so the sender counts (and the ledger records) them as skipped."""
    seed_from_config(settings, store, now)
    out = [s.email for s in store.subscribers("confirmed")]
    listed = {b.key for b in map(addresses.valid, settings.digest.recipients) if b is not None}
    unsubscribed = store.unsubscribed()
    out += [s.email for s in store.subscribers("unsubscribed")
            if s.key in listed and s.key in unsubscribed]  # fmt: skip
    return list(dict.fromkeys(out))


def page_url(settings: Settings, name: str) -> str:
    """The public address of one of ``serve``'s pages (``subscribe``, ``preferences``...): a
    sibling of ``digest.unsubscribe_url``, which must point at ``serve`` anyway."""
    return urljoin(settings.digest.unsubscribe_url, name)


def link_token(store: Store, secret: bytes, address: str, purpose: str = "unsubscribe") -> str:
    """The opaque token of ``address``'s links (the subscriber must exist)."""
    subscriber = store.subscriber(address)
    if subscriber is None:
        raise SubscriberError(f"{address}: not a subscriber")
    return make_token(secret, subscriber.uid, purpose)


def unsubscribe_url(settings: Settings, secret: bytes, subscriber: Subscriber) -> str:
    """The one-click link of the List-Unsubscribe header for ``subscriber``."""
    return unsubscribe_link(settings.digest.unsubscribe_url, make_token(secret, subscriber.uid))


def preferences_url(settings: Settings, secret: bytes, subscriber: Subscriber) -> str:
    """The signed link to ``subscriber``'s preferences page (topics, languages, pause,
    unsubscribe). It does not expire; it carries no address."""
    token = make_token(secret, subscriber.uid, "preferences")
    return f"{page_url(settings, 'preferences')}?token={quote(token, safe='')}"


def confirm_url(settings: Settings, secret: bytes, subscriber: Subscriber, now: datetime) -> str:
    token = make_expiring_token(secret, subscriber.uid, "confirm", now + CONFIRM_TTL)
    return f"{page_url(settings, 'subscribe/confirm')}?token={quote(token, safe='')}"


# ---- choices --------------------------------------------------------------------------------


def topic_choices(settings: Settings, store: Store) -> list[tuple[str, str]]:
    """(slug, name) of what a subscriber may choose: the built-in tags, the operator's topics,
    then the other tags the published pages carry (countries), by name."""
    from ..tagging import COUNTRY_NAMES  # display names of the country tags
    from .pipeline import tag_display_names

    names = tag_display_names(settings, COUNTRY_NAMES)
    first = ["ai", "africa", *settings.topics]
    rest = sorted((t for t in store.tags_in_use() if t not in first), key=lambda t: names.get(t, t))
    return [(t, names.get(t, t)) for t in dict.fromkeys([*first, *rest])]


def language_choices(settings: Settings) -> list[tuple[str, str]]:
    """English, French and Arabic always (the languages the service is built for: a feed that
    mislabels itself must not make a subscriber's choice invalid), then the sources' others."""
    langs = [s.language.split("-")[0] for s in settings.sources if s.language]
    ordered = dict.fromkeys(["en", "fr", "ar", *langs])
    return [(code, LANGUAGE_NAMES.get(code, code)) for code in ordered]


def clean_choices(values: Iterable[str], allowed: Iterable[str], what: str) -> list[str]:
    """``values`` (split on commas too) checked against ``allowed``; raise SubscriberError."""
    known = list(allowed)
    out: list[str] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in known:
                raise SubscriberError(f"unknown {what} {part!r} (choose among {', '.join(known)})")
            if part not in out:
                out.append(part)
    return out


def chosen(
    settings: Settings, store: Store, topics: Iterable[str], languages: Iterable[str]
) -> tuple[list[str], list[str]]:
    """``(topics, languages)`` a person ticked or typed, each checked against what may be
    chosen (the form, the preferences page and ``subscribers add`` apply the same rule)."""
    return (
        clean_choices(topics, [t for t, _ in topic_choices(settings, store)], "topic"),
        clean_choices(languages, [c for c, _ in language_choices(settings)], "language"),
    )


# ---- operator commands ----------------------------------------------------------------------


def add(store: Store, value: str, *, topics: Sequence[str] = (), languages: Sequence[str] = (),
        origin: str = "operator", now: datetime | None = None) -> Subscriber:  # fmt: skip
    """Add (or re-confirm) a subscriber by the operator's hand: confirmed at once."""
    try:
        box = addresses.parse(value)
    except addresses.InvalidAddress as exc:
        raise SubscriberError(f"invalid address {value!r}: {exc}") from exc
    subscriber = store.set_subscriber_status(
        box.address, "confirmed", origin, now or utcnow(), name=box.name or None,
        topics=list(topics), languages=list(languages),
    )  # fmt: skip
    assert subscriber is not None
    return subscriber


def remove(store: Store, value: str, *, forget: bool = False,
           now: datetime | None = None) -> bool:  # fmt: skip
    """Unsubscribe (origin operator), or with ``forget`` delete the person's data."""
    box = addresses.valid(value)
    address = box.address if box else value.strip()
    if forget:
        return store.forget_subscriber(address, now or utcnow())
    if store.subscriber(address) is None:
        return False
    store.set_subscriber_status(address, "unsubscribed", "operator", now or utcnow(),
                                reason="removed by the operator")  # fmt: skip
    return True


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (line, value, why)

    def summary(self, name: str) -> str:
        lines = [f"{name}: {self.added} added, {self.updated} updated, "
                 f"{len(self.refused)} refused"]  # fmt: skip
        lines += [f"  {name}:{n}: {value!r}: {why}" for n, value, why in self.refused]
        return "\n".join(lines)


def import_csv(
    store: Store, path: Path, *, topics: Sequence[str], languages: Sequence[str],
    now: datetime | None = None,
) -> ImportReport:  # fmt: skip
    """Import ``email,name,topics,languages`` rows (topics and languages separated by spaces,
    ``|`` or ``;``) as confirmed subscribers (origin import). Refused, with the reason: bad
    addresses, unknown topics or languages, duplicates in the file, and people who unsubscribed,
    bounced or asked to be forgotten (an import is no consent to write to them again)."""
    from ..config.recipients import read_subscriber_rows

    now = now or utcnow()
    report = ImportReport()
    try:
        entries = read_subscriber_rows(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SubscriberError(f"{path}: {exc}") from exc
    seen: set[str] = set()
    for entry in entries:
        box = addresses.valid(entry.email)
        if box is None:
            report.refused.append((entry.line, entry.email, f"invalid address: "
                                   f"{addresses.problem(entry.email)}"))  # fmt: skip
            continue
        if box.key in seen:
            report.refused.append((entry.line, entry.email, "duplicate in this file"))
            continue
        seen.add(box.key)
        try:
            chosen_topics = clean_choices(entry.topics, topics, "topic")
            chosen_langs = clean_choices(entry.languages, languages, "language")
        except SubscriberError as exc:
            report.refused.append((entry.line, entry.email, str(exc)))
            continue
        current = store.subscriber(box.address)
        if current is None and store.is_forgotten(box.address):
            report.refused.append((entry.line, entry.email, "asked to be forgotten"))
            continue
        if current is not None and current.status in ("unsubscribed", "bounced"):
            when = current.changed.date().isoformat()
            report.refused.append(
                (entry.line, entry.email, f"{current.status} on {when} ({current.origin})")
            )
            continue
        store.set_subscriber_status(
            box.address, current.status if current and current.status != "pending"
            else "confirmed", "import", now, name=entry.name or box.name or None,
            topics=chosen_topics, languages=chosen_langs,
        )  # fmt: skip
        if current is None:
            report.added += 1
        else:
            report.updated += 1
    return report


def export_csv(store: Store, status: str | None = None) -> str:
    """Every subscriber (or those of one status) as CSV, with their history's last change."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for item in rows(store, status):
        writer.writerow([" ".join(v) if isinstance(v, list) else ("" if v is None else v)
                         for v in (item[k] for k in CSV_FIELDS)])  # fmt: skip
    return buf.getvalue()


def rows(store: Store, status: str | None = None) -> list[dict]:
    """``subscribers list --json``: one object per subscriber."""
    return [row(s) for s in store.subscribers(status)]


def row(s: Subscriber) -> dict:
    return {
        "email": s.email,
        "name": s.name,
        "status": s.status,
        "topics": list(s.topics),
        "languages": list(s.languages),
        "origin": s.origin,
        "changed": s.changed.isoformat(),
        "reason": s.reason,
        "created": s.created.isoformat(),
    }


__all__ = [
    "CONFIRM_EVERY",
    "CONFIRM_TTL",
    "ImportReport",
    "SubscriberError",
    "add",
    "confirm_url",
    "digest_recipients",
    "export_csv",
    "import_csv",
    "language_choices",
    "link_token",
    "page_url",
    "preferences_url",
    "remove",
    "rows",
    "seed_from_config",
    "topic_choices",
    "unsubscribe_url",
]
