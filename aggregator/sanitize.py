"""Make feed text safe to show: sanitised HTML for bodies, plain text for titles, http(s) URLs.

Feeds come from the open internet and everything we publish ends up in mail clients and feed
readers, so every output goes through here. The HTML sanitiser is nh3 (ammonia, a real HTML5
parser): it decodes entities and strips tab/control-char obfuscation *before* it checks a URL's
scheme, which is where regex sanitisers (feedparser's included) let ``java&#x09;script:`` through.

Invisible and control characters are removed by ``text.clean_chars`` (which owns that rule),
and plain text (titles) is ``text.plain_text``: both re-exported here for the parsers.

Imports only ``text`` from the package, so publish and digest can use it freely.
"""

from __future__ import annotations

import contextvars
import html as _html
import re
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import nh3

from .text import HIDDEN_ELEMENTS, clean_chars, plain_text
from .text import INVISIBLE as _INVISIBLE

__all__ = [
    "MAX_HTML", "MAX_TITLE", "SIMPLE_ABSOLUTE_URL", "clean_chars", "plain_text", "safe_url",
    "sanitize_html", "text_to_html",
]  # fmt: skip

MAX_HTML = 100_000  # characters of HTML kept per summary/content (input is cut before sanitising)
MAX_TITLE = 1_000  # characters of plain-text title

_URL_JUNK = re.compile("[\t\n\r]")
#: An absolute http(s) URL that ``urljoin`` returns unchanged whatever the base, and ``urlsplit``
#: accepts as is: no character it strips or removes, no user info or IPv6 host it could reject,
#: no empty ``?``/``#`` and no trailing ``;`` params it would drop when reassembling the parts.
SIMPLE_ABSOLUTE_URL = re.compile(
    r"https?://[A-Za-z0-9.\-]+(?::[0-9]*)?(?:/[^\x00-\x20\x7f;?#]*)?"
    r"(?:\?[^\x00-\x20\x7f#]+)?(?:#[^\x00-\x20\x7f]+)?"
)

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "div", "span", "a", "b", "i", "u", "s", "em", "strong", "small", "sub",
        "sup", "mark", "q", "cite", "abbr", "time", "del", "ins",
        "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "pre", "code",
        "h2", "h3", "h4", "h5", "h6",
        "img", "figure", "figcaption", "picture",
        "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "hreflang"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "time": {"datetime"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
#: Elements dropped together with everything inside them (never shown as text either).
DROPPED_WITH_CONTENT = HIDDEN_ELEMENTS
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

_base_url: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "sanitize_base", default=None
)


def safe_url(url: str | None, base: str | None = None) -> str | None:
    """``url`` made absolute against ``base``, or None unless it is a usable http(s) URL."""
    if not url:
        return None
    url = url.strip()
    if url and SIMPLE_ABSOLUTE_URL.fullmatch(url) and not _INVISIBLE.search(url):
        return url  # the common case, without urljoin and urlsplit
    url = _INVISIBLE.sub("", _URL_JUNK.sub("", url)).replace(" ", "%20")
    if not url:
        return None
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme + url[len(scheme) :] if not url.startswith(scheme) else url


def as_uri(url: str) -> str:
    """An IRI as a strict RFC 3986 URI: non-ASCII and characters URIs do not allow (``[`` ``]``
    outside the host, ``|``, ``"``, ``<``...) percent-encoded; existing escapes kept. Feed readers
    and JSON Feed's ``uri`` format want this; browsers show the decoded form anyway."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if not netloc.isascii():
        try:
            netloc = netloc.encode("idna").decode("ascii")
        except UnicodeError:
            netloc = quote(netloc, safe=":@[]")
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_PATH_SAFE),
            quote(parts.query, safe=_QUERY_SAFE),
            quote(parts.fragment, safe=_QUERY_SAFE),
        )
    )


_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def _resolve_relative(url: str) -> str | None:
    base = _base_url.get()
    if not base:
        return url
    return safe_url(url, base)


_MARKUP_IN_VALUE = re.compile(r"<[^>]*>?")


def _no_markup(element: str, attribute: str, value: str) -> str | None:
    """Markup inside an attribute value is taken out (an attribute left empty is dropped).
    Feeds put escaped markup in alt text (Ars Technica: ``alt="&lt;em&gt;Title&lt;/em&gt;"``),
    and a parser-confusion attack puts a whole tag in a title (``<svg><noscript><p
    title="</noscript><img onerror=...>">``): escaped, it is inert, but it carries a handler's
    text inside a tag to any reader that unescapes attributes. (ammonia keeps ``title`` and
    ``lang`` on every element.)"""
    if "<" not in value or attribute in ("href", "src"):  # URLs: nh3 checks them as URLs
        return value
    return _MARKUP_IN_VALUE.sub("", value).strip() or None


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
    attribute_filter=_no_markup,
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    strip_comments=True,
    url_relative=_resolve_relative,
)


def sanitize_html(html: str, base_url: str | None = None, max_chars: int = MAX_HTML) -> str:
    """Untrusted HTML fragment -> HTML safe to embed in a page, feed or email.

    Allow-list of news markup only; links get ``rel="noopener noreferrer nofollow"``; URLs must be
    http, https or mailto; relative URLs are resolved against ``base_url`` (an http(s) URL) and
    kept as they are when there is none. The input is cut at ``max_chars`` before sanitising
    (nh3 closes whatever the cut left open).
    """
    if not html:
        return ""
    html = clean_chars(html[:max_chars])
    if "<" not in html and "&" not in html:
        return _text_as_html(html).strip()  # no markup, no entity: nh3 would only escape
    if "\r" not in html:
        # "&nbsp;" reads as the character it names (and nh3 writes that character "&nbsp;"): one
        # spelling, so bodies with no other entity take the shortcut too.
        simple = html.replace("&nbsp;", "\xa0") if "&" in html else html
        if "&" not in simple and _SIMPLE_HTML.fullmatch(simple):
            # nh3 gives this markup back as it is but for rel= on links, &nbsp; and "/>"
            out = simple.replace('">', _REL_CLOSE).replace("\xa0", "&nbsp;")
            if "<img" in out:  # '"/>' ends only images: text holds no ">", URLs no '"'
                out = out.replace('"/>', '">')
            return out.strip()
    base = safe_url(base_url) if base_url else None
    token = _base_url.set(base)
    try:
        return _CLEANER.clean(html).strip()
    finally:
        _base_url.reset(token)


# The markup of most feed bodies, which nh3 (html5ever + ammonia) serialises back unchanged but
# for ``rel`` added to links, no-break spaces written ``&nbsp;`` and ``<img .../>`` written
# ``<img ...>``: text (no ``<``, ``>``, ``&`` or CR) in paragraphs, with ``<strong>``/``<em>``
# holding text and links, WordPress images (``_IMG``), and links
# ``<a href="...">`` to an absolute http(s) URL ``Url::parse`` accepts (ASCII host with a
# letters-only TLD, no punycode, no port; no quote, ``&``, ``<``, ``>``, ``\\`` or blank) holding
# text. Properly nested, so HTML5 tree building keeps every element where it is written. Atomic
# groups and possessive runs: the grammar is deterministic, and a near miss fails fast.
_T = r"[^<>&\r]"
_URL = (
    r"https?://(?![^/?#\"]*[xX][nN]--)"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    r"(?:[/?#][!#-%(-;=?-\[\]-~]*+)?"
)
_LINK = rf'<a href="{_URL}">{_T}*+</a>'
_PHRASE = rf"(?>{_T}++|{_LINK})*+"
# WordPress's image, attributes in its order (nh3 writes it back without the "/"):
_IMG = rf'<img src="{_URL}" alt="[^"&<>\xa0\r\n\t]*+" width="[0-9]{{1,5}}" height="[0-9]{{1,5}}"/>'
_INLINE = rf"(?>{_T}++|<strong>{_PHRASE}</strong>|<em>{_PHRASE}</em>|{_LINK}|{_IMG})"
_SIMPLE_HTML = re.compile(rf"(?>{_INLINE}|<p>{_INLINE}*+</p>)*+")
_REL_CLOSE = f'" rel="{LINK_REL}">'


def _text_as_html(text: str) -> str:
    """What nh3 (html5ever) makes of text with no ``<`` and no ``&``: line ends normalised,
    ``>`` and no-break spaces escaped as its serialiser does."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace(">", "&gt;").replace("\xa0", "&nbsp;")


def text_to_html(text: str, max_chars: int = MAX_HTML) -> str:
    """Plain text -> the same safe HTML as ``sanitize_html(html.escape(text[:max_chars]))``
    (when the escaped text fits in ``max_chars``), without a parser."""
    if not text:
        return ""
    text = text[:max_chars]
    if len(text) + 4 * (text.count("&") + text.count("<") + text.count(">")) > max_chars:
        return sanitize_html(_html.escape(text, quote=False), max_chars=max_chars)
    text = clean_chars(text).replace("&", "&amp;").replace("<", "&lt;")
    return _text_as_html(text).strip()
