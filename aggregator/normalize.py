"""Canonical URLs, item identity and text folding for matching (FR/EN/AR)."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .models import ParsedItem

_TRACKING_PREFIXES = ("utm_", "at_", "mc_")
_TRACKING = {"fbclid", "gclid", "xtor", "igshid", "ref", "ocid", "cmpid"}


def canonical_url(url: str | None) -> str | None:
    """The URL two outlets' links to the same article share (see tests for each rule)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https", host, path, urlencode(sorted(query)), ""))


def item_key(item: ParsedItem) -> str:
    """An item's identity within its source: guid, else canonical link, else a hash of title and
    text. The store backs it with UNIQUE (source, key)."""
    if item.guid and item.guid.strip():
        return "guid:" + item.guid.strip()
    link = canonical_url(item.link)
    if link:
        return "link:" + link
    digest = hashlib.sha256((item.title + "\x00" + item.summary).encode("utf-8")).hexdigest()
    return "hash:" + digest[:32]


def content_hash(item: ParsedItem) -> str:
    """Changes when what a reader would see changes (used to update an item in place)."""
    h = hashlib.sha256()
    for part in (item.title, item.link or "", item.summary, item.content):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    for d in (item.published, item.updated):
        h.update((d.isoformat() if d else "").encode())
    return h.hexdigest()[:32]
