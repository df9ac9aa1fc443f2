"""Canonical URLs and item identity: which link is the story, and which item is the same item.

Everything here is pure and cheap: tables and patterns are built once at import. (Text folding
for matching lives in ``text``.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from .models import ParsedItem, Story

# ---- canonical URLs ---------------------------------------------------------------------------

_TRACKING_PREFIXES = ("utm_", "at_", "mc_", "pk_", "mtm_", "ns_", "hsa_", "_hs", "vero_", "oly_")
_TRACKING = {
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
    "igshid", "igsh", "mkt_tok", "xtor", "xtref", "ocid", "cmpid", "cmp", "ito", "smid", "smtyp",
    "s_cid", "_ga", "_gl", "ref", "ref_src", "ref_url", "referrer", "__twitter_impression",
    "guccounter", "guce_referrer", "guce_referrer_sig", "soc_src", "soc_trk", "sr_share", "spm",
    "taid", "tbref", "cmpgn", "amp", "output", "outputtype",
}  # fmt: skip
#: Parameters kept even though a prefix above matches them (none today; the hook documents intent).
_KEEP: set[str] = set()
#: Values of ``output``/``outputType``/``amp`` that mark an AMP rendering (other values are kept).
_AMP_VALUES = {"", "1", "true", "amp", "yes"}
_AMP_PARAMS = {"amp", "output", "outputtype"}
_WRAPPER_PARAMS = ("url", "u", "q", "to", "dest", "target")
_WRAPPER_HOSTS = {"l.facebook.com", "lm.facebook.com", "www.google.com", "google.com",
                  "out.reddit.com", "l.instagram.com", "t.umblr.com", "href.li",
                  "r.jina.ai"}  # fmt: skip
_MOBILE_LABELS = {"m", "mobile", "amp", "www"}
_AMP_CACHE = re.compile(r"^[^/]+\.cdn\.ampproject\.org$")
_AMP_CACHE_PATH = re.compile(r"^/(?:[a-z]/)*(?:s/)?(?P<rest>[^/].*)$")
_INDEX_PAGE = re.compile(r"/(?:index|default)\.(?:html?|php|aspx?)$", re.IGNORECASE)
_AMP_SUFFIX = re.compile(r"(?:\.amp(?=\.html?$)|/amp/?$)", re.IGNORECASE)
_MULTI_SLASH = re.compile(r"/{2,}")


def _tracking(key: str, value: str) -> bool:
    k = key.lower()
    if k in _KEEP:
        return False
    if k in _AMP_PARAMS:
        return value.lower() in _AMP_VALUES
    return k in _TRACKING or k.startswith(_TRACKING_PREFIXES)


#: An http(s) URL ``urlsplit`` would read as scheme://host/path?query#fragment with nothing to
#: strip, no user info, port or IPv6 literal: read with one match (urlsplit is most of the cost).
_SIMPLE_URL = re.compile(
    r"(?P<scheme>[Hh][Tt][Tt][Pp][Ss]?)://(?P<host>[A-Za-z0-9.\-]+)(?P<path>/[^\x00-\x20\x7f?#]*)?"
    r"(?:\?(?P<query>[^\x00-\x20\x7f#]*))?(?:#[^\x00-\x20\x7f]*)?"
)
#: Stripped from the end of a path that ends the URL (no query kept): slashes, and the ASCII
#: blanks ``str.strip`` would take off the URL (only a path with no ``%`` and no non-ASCII keeps
#: them raw), so canonical_url stays idempotent ("http://x.org/ /" once gave "https://x.org/ ").
_PATH_END = "/ \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
#: urlsplit's scheme characters (a scheme is read before the first ":").
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


def canonical_url(url: str | None) -> str | None:
    """The URL two outlets' links to the same article share (see tests for each rule).

    https, lower-case host without ``www.``/``m.``/``mobile.``/``amp.``, no default port, no
    fragment, no tracking or AMP parameters, remaining query sorted, no trailing slash, no
    ``/amp`` or ``.amp.html`` rendering, AMP-cache and redirect wrappers (Facebook, Google)
    unwrapped. Returns None for anything that is not an http(s) URL with a host.
    """
    if not url:
        return None
    url = url.strip()
    m = _SIMPLE_URL.fullmatch(url)
    if m is not None:  # the common case: what urlsplit would say, without it
        host, path, query = m.group("host", "path", "query")
        return _canonical(host.lower(), None, path or "", query or "")
    colon = url.find(":")
    scheme = url[:colon] if colon > 0 and url[0].isalpha() else ""
    if scheme and _SCHEME_CHARS.issuperset(scheme) and scheme.lower() not in ("http", "https"):
        return None  # urn:, mailto:, tag: ... (guids): urlsplit would find this scheme
    return _canonical_split(url)


def link_without_tracking(url: str | None) -> str | None:
    """``url`` as a reader should follow it: tracking parameters (utm_*, fbclid...) removed, and
    nothing else changed (scheme, host, path and the other parameters stay as the outlet wrote
    them: ``canonical_url`` is for matching, and a forced https or a dropped ``www.`` can break a
    link). None stays None; a URL that does not parse is returned as it is."""
    if not url or "?" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _tracking(k, v)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def reader_links(story: Story) -> Story:
    """``story`` with its links as readers follow them in every output (feeds, page, digest):
    ``link_without_tracking`` on the story and on each "also in"."""
    return replace(
        story,
        item=replace(story.item, link=link_without_tracking(story.item.link)),
        also_in=tuple(replace(o, link=link_without_tracking(o.link)) for o in story.also_in),
    )


def _canonical_split(url: str) -> str | None:
    """canonical_url of a stripped URL, read by urlsplit (any URL; the fast path's reference)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return _canonical(parts.hostname, port, parts.path, parts.query)


def _canonical(hostname: str, port: int | None, path: str, raw_query: str) -> str | None:
    """canonical_url from urlsplit's reading of an http(s) URL (``hostname`` lower-cased)."""
    host = hostname.lower().rstrip(".")
    if not host:  # "https://../": nothing but dots is no host (hypothesis found it via AMP caches)
        return None
    query = parse_qsl(raw_query, keep_blank_values=True) if raw_query else []
    if host in _WRAPPER_HOSTS:
        for k, v in query:
            if k.lower() in _WRAPPER_PARAMS and v.lower().startswith(("http://", "https://")):
                return canonical_url(v)
    if host.endswith(".cdn.ampproject.org") and _AMP_CACHE.match(host):
        # https://www-x-com.cdn.ampproject.org/c/s/www.x.com/a.html
        m = _AMP_CACHE_PATH.match(_MULTI_SLASH.sub("/", path))
        if m:
            return canonical_url(
                "https://" + m.group("rest") + ("?" + raw_query if raw_query else "")
            )
    labels = host.split(".")
    if len(labels) > 2 and not labels[-1].isdigit():  # m.x.com, fr.m.wikipedia.org, www.x.co.uk
        head = [lb for lb in labels[:-2] if lb not in _MOBILE_LABELS]
        host = ".".join(head + labels[-2:])
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    if "//" in path:
        path = _MULTI_SLASH.sub("/", path)
    path = _quote_path(path)
    kept = sorted((k, v) for k, v in query if not _tracking(k, v)) if query else []
    end = "/" if kept else _PATH_END  # a path that ends the URL loses trailing blanks too
    low = path.lower()
    if "amp" in low or "index." in low or "default." in low:
        before = None
        while path != before:  # until stable: canonical_url(canonical_url(u)) == canonical_url(u)
            before = path
            path = _INDEX_PAGE.sub("", path)
            path = _AMP_SUFFIX.sub("", path)
            if path.startswith("/amp/") and path.count("/") >= 3:  # /amp/section/slug, not /amp/
                path = path[4:]
            path = path.rstrip(end) or "/"
    else:  # none of the rules above can apply: only the trailing slash goes
        path = path.rstrip(end) or "/"
    if not kept:
        return "https://" + host + path
    return urlunsplit(("https", host, path, urlencode(kept), ""))


def _quote_path(path: str) -> str:
    """One spelling per path: percent-escapes decoded where safe, re-encoded upper-case."""
    if "%" not in path and path.isascii():
        return path
    # per segment: an escaped "/" (%2F) is data, and decoding it would change the path
    return "/".join(quote(unquote(seg), safe=":@!$&'()*+,;=-._~") for seg in path.split("/"))


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
    # one update of the concatenation: the same digest as one update per part
    pub, upd = item.published, item.updated
    text = "\x00".join((item.title, item.link or "", item.summary, item.content, ""))
    text += (pub.isoformat() if pub else "") + (upd.isoformat() if upd else "")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


__all__ = ["canonical_url", "content_hash", "item_key", "link_without_tracking", "reader_links"]
