"""Backend-neutral conversions between models and stored values.

Timestamps as UTC epoch seconds, string lists and tag explanations as JSON text, a frozen
``Digest`` as a JSON document, a ``Story`` assembled from its cluster's items, and the rows both
backends read back (an item, a subscriber: same columns, same values). Any backend stores the
same values, so these live outside the SQL modules and neither backend imports the other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..models import (
    SUBSCRIBER_ORIGINS,
    SUBSCRIBER_STATES,
    Digest,
    DigestSection,
    Enclosure,
    Item,
    Outlet,
    Story,
    Subscriber,
    Tagging,
)


def ts(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


# ---- the JSON columns of an item ---------------------------------------------------------------

_ASCII_JSON = json.JSONEncoder().encode  # = json.dumps(x), without its per-call set-up
_json_str = json.encoder.encode_basestring_ascii
_UTF8_JSON = json.JSONEncoder(ensure_ascii=False).encode


def jlist(values: Sequence[str]) -> str:
    """``json.dumps(list(values))`` for strings (7 lists per item written, most empty), with
    json's C string encoder and none of its per-call set-up."""
    return "[" + ", ".join(map(_json_str, values)) + "]" if values else "[]"


def enclosures_json(encs: Sequence[Enclosure]) -> str:
    return _ASCII_JSON([[e.url, e.type, e.length] for e in encs]) if encs else "[]"


def tagging_json(t: Tagging) -> tuple[str, str, str]:
    """The ``tags``, ``countries`` and ``why`` columns of an item."""
    return (
        jlist(t.tags),
        jlist(t.countries),
        _UTF8_JSON({k: list(v) for k, v in t.why.items()}) if t.why else "{}",
    )


# ---- a frozen Digest as JSON --------------------------------------------------------------------


def item_json(it: Item) -> dict:
    return {
        "id": it.id, "source": it.source, "key": it.key, "guid": it.guid, "link": it.link,
        "canonical_url": it.canonical_url, "title": it.title, "summary": it.summary,
        "content": it.content, "authors": list(it.authors), "categories": list(it.categories),
        "language": it.language, "published": ts(it.published), "updated": ts(it.updated),
        "first_seen": ts(it.first_seen), "last_seen": ts(it.last_seen),
        "content_hash": it.content_hash,
        "enclosures": [[e.url, e.type, e.length] for e in it.enclosures],
        "cluster_id": it.cluster_id, "tags": list(it.tags), "countries": list(it.countries),
        "why": {k: list(v) for k, v in it.why.items()},
    }  # fmt: skip


def item_from_json(d: dict) -> Item:
    return Item(
        id=d["id"], source=d["source"], key=d["key"], guid=d["guid"], link=d["link"],
        canonical_url=d["canonical_url"], title=d["title"], summary=d["summary"],
        content=d["content"], authors=tuple(d["authors"]), categories=tuple(d["categories"]),
        language=d["language"], published=dt(d["published"]), updated=dt(d["updated"]),
        first_seen=dt(d["first_seen"]), last_seen=dt(d["last_seen"]),  # type: ignore[arg-type]
        content_hash=d["content_hash"],
        enclosures=tuple(Enclosure(u, t, n) for u, t, n in d["enclosures"]),
        cluster_id=d["cluster_id"], tags=tuple(d["tags"]), countries=tuple(d["countries"]),
        why={k: tuple(v) for k, v in d["why"].items()},
    )  # fmt: skip


def digest_json(dg: Digest) -> dict:
    return {
        "issue": dg.issue, "start": ts(dg.start), "end": ts(dg.end), "subject": dg.subject,
        "intro": dg.intro, "locale": dg.locale,
        "sections": [
            {
                "key": sec.key, "title": sec.title, "more": sec.more, "more_url": sec.more_url,
                "stories": [
                    {
                        "cluster_id": st.cluster_id, "item": item_json(st.item),
                        "also_in": [[o.source, o.link, o.title] for o in st.also_in],
                        "tags": list(st.tags), "countries": list(st.countries),
                        "first_seen": ts(st.first_seen),
                    }
                    for st in sec.stories
                ],
            }
            for sec in dg.sections
        ],
    }  # fmt: skip


def digest_from_json(d: dict) -> Digest:
    return Digest(
        issue=d["issue"], start=dt(d["start"]), end=dt(d["end"]),  # type: ignore[arg-type]
        subject=d["subject"], intro=d.get("intro", ""), locale=d.get("locale", ""),
        sections=tuple(
            DigestSection(
                key=sec["key"], title=sec["title"],
                more=sec.get("more", 0), more_url=sec.get("more_url", ""),
                stories=tuple(
                    Story(
                        cluster_id=st["cluster_id"], item=item_from_json(st["item"]),
                        also_in=tuple(Outlet(s, link, t) for s, link, t in st["also_in"]),
                        tags=tuple(st["tags"]), countries=tuple(st["countries"]),
                        first_seen=dt(st["first_seen"]),
                    )
                    for st in sec["stories"]
                ),
            )
            for sec in d["sections"]
        ),
    )  # fmt: skip


# ---- a story from its cluster -------------------------------------------------------------------


def story(cluster_id: int, rep: Item, members: Sequence[Item]) -> Story:
    """The story of a cluster: its representative, the other outlets, the members' tags and
    countries in order of first appearance."""
    also: list[Outlet] = []
    seen = {rep.source}
    tags: list[str] = []
    countries: list[str] = []
    for it in members:
        for t in it.tags:
            if t not in tags:
                tags.append(t)
        for c in it.countries:
            if c not in countries:
                countries.append(c)
        if it.source not in seen:
            seen.add(it.source)
            also.append(Outlet(source=it.source, link=it.link, title=it.title))
    return Story(
        cluster_id=cluster_id,
        item=rep,
        also_in=tuple(also),
        tags=tuple(tags),
        countries=tuple(countries),
        first_seen=min(i.first_seen for i in members),
    )


# ---- rows read back (the same SELECT lists on both backends) ------------------------------------

ITEM_COLS = (
    "items.id, sources.name, key, guid, link, canonical_url, title, summary, content, authors,"
    " categories, language, published, updated, enclosures, items.first_seen, items.last_seen,"
    " content_hash, cluster_id, tags, countries, why"
)


def item_row(row: Sequence) -> Item:
    """An ``Item`` from a row of ``ITEM_COLS``."""
    return Item(
        id=row[0], source=row[1], key=row[2], guid=row[3], link=row[4], canonical_url=row[5],
        title=row[6], summary=row[7], content=row[8], authors=tuple(json.loads(row[9])),
        categories=tuple(json.loads(row[10])), language=row[11], published=dt(row[12]),
        updated=dt(row[13]),
        enclosures=tuple(Enclosure(u, t, n) for u, t, n in json.loads(row[14])),
        first_seen=dt(row[15]), last_seen=dt(row[16]),  # type: ignore[arg-type]
        content_hash=row[17], cluster_id=row[18], tags=tuple(json.loads(row[19])),
        countries=tuple(json.loads(row[20])),
        why={k: tuple(v) for k, v in json.loads(row[21]).items()},
    )  # fmt: skip


SUBSCRIBER_COLS = (
    "id, uid, email, name, status, origin, created, changed, topics, languages, reason"
)
#: Statuses that config.yaml's list may turn into confirmed (an unsubscribe is never undone).
SEEDABLE = ("pending",)


def forget_hash(key: str) -> str:
    """What is kept of an address forgotten on request."""
    return hashlib.sha256(key.strip().lower().encode("utf-8")).hexdigest()


def when(value: float) -> datetime:
    """A NOT NULL timestamp column."""
    got = dt(value)
    assert got is not None
    return got


def subscriber_row(r: Sequence) -> Subscriber:
    """A ``Subscriber`` from a row of ``SUBSCRIBER_COLS``."""
    return Subscriber(
        id=r[0], uid=r[1], email=r[2], name=r[3], status=r[4], origin=r[5],
        created=when(r[6]), changed=when(r[7]), topics=tuple(json.loads(r[8])),
        languages=tuple(json.loads(r[9])), reason=r[10],
    )  # fmt: skip


def check_subscriber(status: str, origin: str) -> None:
    """``ValueError`` for a status or origin the store does not know."""
    if status not in SUBSCRIBER_STATES:
        raise ValueError(f"unknown subscriber status {status!r}")
    if origin not in SUBSCRIBER_ORIGINS:
        raise ValueError(f"unknown subscriber origin {origin!r}")


@dataclass(frozen=True)
class Sent:
    """A message the server accepted, not yet recorded sent (``Ledger.begin_delivery`` of either
    backend records it in the same transaction as the next pending row)."""

    recipient: str
    message_id: str
    at: datetime
    edition: str | None = None
