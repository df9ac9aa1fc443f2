"""Feed discovery: from a site's home page to its feed(s), over the same guarded fetcher.

The page itself may be a feed. Otherwise its ``<link rel="alternate">`` elements of a feed type
(RSS, Atom, RDF, JSON Feed) are the candidates, hrefs resolved against ``<base href>`` or the
page's final URL; when it has none, the usual paths (``/feed/``, ``/rss.xml``...) are tried on
the site. Each candidate is downloaded (private addresses refused unless allowed, size cap,
deadline: ``Fetcher`` does it) and kept only if its bytes look like a feed; the caller reads
them properly (``parse``) to show titles and languages. No parsing beyond a sniff here: stages
do not import each other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from ..errors import FetchError
from ..models import FetchResult, SourceState
from .client import Fetcher

#: ``type`` of a ``<link rel="alternate">`` that points at a feed -> what to call it.
FEED_TYPES = {
    "application/rss+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/rdf+xml": "RSS",
    "application/feed+json": "JSON Feed",
    "application/json": "JSON Feed",
    "text/xml": "RSS",
    "application/xml": "RSS",
}
#: Paths tried on the site when the page links no feed, in order.
COMMON_PATHS = (
    "/feed/", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml", "/feed.json", "/rss/",
    "/feed", "/rss",
)  # fmt: skip
#: Candidates downloaded at most (a page may link a feed per category).
MAX_CANDIDATES = 12
_SNIFF = 4096
_XML_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(rss|feed|RDF)[\s>/]")
_PROLOGUE = re.compile(rb"\s*(?:<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S | re.I)


@dataclass(frozen=True)
class Candidate:
    """A feed found for a page: where, what kind, how it was found, and its bytes."""

    url: str
    kind: str  # "RSS", "Atom", "JSON Feed"
    found: str  # "the address itself", "linked from the page", "common path"
    title: str = ""  # the link's title attribute (the feed's own title comes from parsing)
    result: FetchResult | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Discovery:
    """What discovery found at ``url``; ``tried`` lists (URL, why not) of the rejected ones."""

    url: str
    candidates: tuple[Candidate, ...]
    tried: tuple[tuple[str, str], ...] = ()


def feed_kind(content: bytes | None) -> str | None:
    """``"RSS"``, ``"Atom"`` or ``"JSON Feed"`` when ``content`` looks like one (its root element,
    or a JSON object with a JSON Feed version), else None. A sniff, not a parse."""
    if not content:
        return None
    head = content[:_SNIFF].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        try:
            doc = json.loads(content.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            return None
        version = doc.get("version", "") if isinstance(doc, dict) else ""
        return "JSON Feed" if isinstance(version, str) and "jsonfeed.org" in version else None
    pos = 0
    while m := _PROLOGUE.match(head, pos):
        if m.end() == pos:
            break
        pos = m.end()
    root = _XML_ROOT.match(head[pos:].lstrip())
    if root is None:
        return None
    return {b"rss": "RSS", b"RDF": "RSS", b"feed": "Atom"}[root.group(1)]


def feed_links(html: bytes, page_url: str) -> list[tuple[str, str, str]]:
    """(absolute URL, kind, title) of each ``<link rel="alternate">`` of a feed type, in page
    order, without repeats."""
    import lxml.etree
    import lxml.html

    try:
        doc = lxml.html.document_fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    base = page_url
    for el in doc.iter("base"):
        href = (el.get("href") or "").strip()
        if href:
            base = urljoin(page_url, href)
            break
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for el in doc.iter("link"):
        rel = (el.get("rel") or "").lower().split()
        kind = FEED_TYPES.get((el.get("type") or "").split(";")[0].strip().lower())
        href = (el.get("href") or "").strip()
        if "alternate" not in rel or kind is None or not href:
            continue
        url = urljoin(base, href)
        if urlsplit(url).scheme not in ("http", "https") or url in seen:
            continue
        seen.add(url)
        out.append((url, kind, " ".join((el.get("title") or "").split())))
    return out


def discover(fetcher: Fetcher, url: str) -> Discovery:
    """The feeds of ``url`` (a feed, or a page that links or hosts some). Raises FetchError when
    ``url`` itself cannot be fetched."""
    page = fetcher.fetch(_state(url))
    kind = feed_kind(page.content)
    if kind is not None:
        return Discovery(url, (Candidate(page.final_url, kind, "the address itself", "", page),))
    links = feed_links(page.content or b"", page.final_url)
    linked = [(u, k, "linked from the page", t) for u, k, t in links[:MAX_CANDIDATES]]
    found, tried = _check(fetcher, linked) if linked else ([], [])
    if not found:  # no link, or none that answers with a feed: the usual places
        common = [(u, "", "common path", "") for u in _common_urls(page.final_url)]
        more, tried_more = _check(fetcher, [c for c in common if c[0] not in dict(tried)])
        found, tried = more, tried + tried_more
    return Discovery(url, tuple(found), tuple(tried))


def _common_urls(page_url: str) -> list[str]:
    """The common feed paths at the site's root, and under the page's folder if it has one."""
    parts = urlsplit(page_url)
    root = f"{parts.scheme}://{parts.netloc}"
    folder = parts.path.rsplit("/", 1)[0] if "/" in parts.path.strip("/") else ""
    folder = parts.path.rstrip("/") if parts.path.endswith("/") else folder
    out = [root + p for p in COMMON_PATHS]
    if folder and folder != "/":
        out += [root + folder + p for p in COMMON_PATHS]
    return list(dict.fromkeys(out))


def _check(
    fetcher: Fetcher, wanted: list[tuple[str, str, str, str]]
) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """Download every candidate at once (per host politeness applies) and keep the feeds, in
    the order they were wanted; the same feed reached twice (redirects) is listed once."""
    by_url = {u: (k, how, t) for u, k, how, t in wanted}
    results: dict[str, FetchResult | FetchError] = {}
    for state, outcome in fetcher.fetch_many([_state(u) for u in by_url]):
        results[state.fetch_url] = outcome
    found: list[Candidate] = []
    tried: list[tuple[str, str]] = []
    finals: set[str] = set()
    for url, (kind, how, title) in by_url.items():
        got = results.get(url)
        if got is None:
            continue
        if isinstance(got, FetchError):
            tried.append((url, got.message))
            continue
        outcome = got
        sniffed = feed_kind(outcome.content)
        if sniffed is None:
            tried.append((url, "not a feed"))
            continue
        if outcome.final_url in finals:
            continue
        finals.add(outcome.final_url)
        # A redirect that was not permanent keeps the address the site advertises.
        keep = outcome.permanent_redirect or url
        found.append(Candidate(keep, sniffed or kind, how, title, outcome))
    return found, tried


def _state(url: str) -> SourceState:
    """A throwaway source state: no validators, so every answer is a full one."""
    return SourceState(name=f"discover {url}", url=url, fetch_url=url)


__all__ = ["COMMON_PATHS", "FEED_TYPES", "Candidate", "Discovery", "discover", "feed_kind"]
