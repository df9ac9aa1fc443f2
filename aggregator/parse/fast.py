"""The fast path: well-formed RSS 2.0/0.9x, RSS 1.0 and Atom 1.0 read with lxml.

feedparser is the reference (and the fallback): ``read_fast`` reproduces what feedparser would
have put in the fields ParsedItem uses, and gives up (raises ``Unsure``) whenever a document
holds something whose feedparser reading it does not reproduce exactly: odd encodings, xml:base,
XHTML or base64 content, elements feedparser treats specially that we do not. Giving up is
always safe; ``tests/test_parse_equivalence.py`` holds both paths to the same output.

lxml runs with no DTD, no entity expansion, no network and huge_tree off (the DOCTYPE is already
gone by the time bytes get here; see ``xmlguard.guard``).
"""

from __future__ import annotations

import codecs
import html.entities
import re
import threading
import urllib.parse
from datetime import datetime

from feedparser.sanitizer import _HTMLSanitizer
from lxml import etree

from ..sanitize import SIMPLE_ABSOLUTE_URL
from .dates import newest, parse_date
from .raw import RawFeed, RawItem, add_tag, author_name, norm_lang, tag_names

__all__ = ["Unsure", "fp_urljoin", "read_fast", "split_author"]

NS_ATOM = "http://www.w3.org/2005/Atom"
NS_RSS10 = "http://purl.org/rss/1.0/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RDF_ABOUT = f"{{{NS_RDF}}}about"

# namespace URI (lower-cased) -> feedparser's prefix; "" is feedparser's core vocabulary
_PREFIX = {
    "": "",
    NS_ATOM.lower(): "",
    NS_RSS10: "",
    "http://backend.userland.com/rss": "",
    "http://blogs.law.harvard.edu/tech/rss": "",
    "http://my.netscape.com/rdf/simple/0.9/": "",
    "http://purl.org/rss/1.0/modules/rss091#": "",
    "http://purl.org/atom/ns#": "",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://search.yahoo.com/mrss/": "media",
    "http://search.yahoo.com/mrss": "media",
    "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://example.com/dtds/podcast-1.0.dtd": "itunes",
    "http://www.w3.org/1999/xhtml": "xhtml",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
}

_TITLE = frozenset({"title", "dc_title"})
_SUMMARY = frozenset({"description", "dc_description", "summary"})
_CONTENT = frozenset({"content", "content_encoded", "fullitem"})
_PUBLISHED = frozenset({"pubdate", "published", "issued", "dcterms_issued"})
_UPDATED = frozenset({"updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"})
_AUTHOR = frozenset({"author", "dc_creator", "dc_author", "managingeditor"})
_CATEGORY = frozenset({"category", "dc_subject", "keywords", "media_category"})
_GUID = frozenset({"guid", "id"})
# item children feedparser stores somewhere we never read
_IGNORED = frozenset(
    {
        "comments", "expirationdate", "rights", "copyright", "dc_rights", "contributor",
        "dc_contributor", "dc_publisher", "webmaster", "generator", "info", "subtitle", "tagline",
        "language", "dc_language", "created", "dcterms_created", "source",
    }
)  # fmt: skip
# nested anywhere in an item, these would change fields we read: leave such items to feedparser
_RISKY_NESTED = frozenset(
    _TITLE | _SUMMARY | _CONTENT | _PUBLISHED | _UPDATED | _AUTHOR | _CATEGORY | _GUID
    | {"link", "enclosure", "media_title", "media_keywords", "itunes_keywords",
       "itunes_category", "itunes_author", "itunes_summary", "tags", "item", "entry", "name",
       "email", "uri", "url", "href", "homepage", "body", "xhtml_body", "abstract", "image",
       "media_description", "itunes_subtitle", "itunes_name", "itunes_email", "itunes_owner"}
)  # fmt: skip
_ATOM_AUTHOR_PARTS = frozenset({"name", "email", "uri", "url", "homepage"})
_MAP_TYPE = {
    "text": "text/plain",
    "plain": "text/plain",
    "html": "text/html",
    "xhtml": "application/xhtml+xml",
}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_OK_CONTENT_TYPES = frozenset({"text/plain", "text/html"})

_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_URIFIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_LINK_ENTITY = re.compile(r"&([A-Za-z0-9_]+);")
_XML_DECL_ENC = re.compile(rb"^<\?xml[^>]*?encoding=[\'\"](.*?)[\'\"]")
_CLOSE_TAG = re.compile(r"</(\w+)>")
_ENTITY_REF = re.compile(r"&#?\w+;")
_TAG_NAME = re.compile(r"</?(\w+)")
_NAMED_ENTITY = re.compile(r"&(\w+);")
_ACCEPTABLE_ELEMENTS = frozenset(_HTMLSanitizer.acceptable_elements)
_C1 = re.compile("[\x80-\x9f]")
_LATIN1_HIGH = re.compile("[\x80-\xbf]")
_WIDE = re.compile("[^\x00-\xff]")
_CP1252 = {
    i: bytes([i]).decode("cp1252")
    for i in range(0x80, 0xA0)
    if i not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}


try:
    import chardet  # noqa: F401  (feedparser consults it when nothing else decodes)

    _HAVE_CHARDET = True
except ImportError:
    _HAVE_CHARDET = False


class Unsure(Exception):
    """The fast path cannot promise feedparser's reading of this document."""


# ---------------------------------------------------------------- feedparser's field rules


def fp_urljoin(base: str, uri: str) -> str:
    """feedparser's ``_urljoin``: collapse extra slashes after ``scheme://``, then join."""
    if ":///" in uri:  # otherwise the fixer's ``/*`` group is empty and it changes nothing
        uri = _URIFIXER.sub(r"\1\3", uri)
    if SIMPLE_ABSOLUTE_URL.fullmatch(uri):  # urljoin would return it unchanged
        return uri
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


def split_author(text: str) -> dict:
    """feedparser's reading of an RSS ``<author>`` string such as ``jo@x.org (Jo Smith)``."""
    detail: dict = {}
    author, email = text, None
    if not author:
        return detail
    m = _EMAIL.search(author)
    if m:
        email = m.group(0)
        author = (
            author.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "")
        )
        author = author.strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email
    return detail


# ---------------------------------------------------------------- the fast path


def _fp_text(s: str) -> str:
    """What feedparser's ``pop`` does to every text value after stripping it: UTF-8 read as
    Latin-1 decoded again, C1 controls read as cp1252. Both need a character in U+0080-U+00BF
    (a UTF-8 continuation byte, or a C1 control), so text without one is returned as it is;
    text with a character above U+00FF is not Latin-1, so its re-decoding is skipped (it would
    raise: exceptions are the slow part)."""
    s = s.strip()
    if s.isascii() or _LATIN1_HIGH.search(s) is None:
        return s
    if _WIDE.search(s) is None:
        try:  # noqa: SIM105  (a hot path: contextlib.suppress costs a call per text value)
            s = s.encode("iso-8859-1").decode("utf-8")
        except UnicodeDecodeError:
            pass
    if _C1.search(s):
        s = s.translate(_CP1252)
    return s


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _check_encoding(data: bytes, content_type: str) -> None:
    """Raise Unsure unless lxml and feedparser would decode ``data`` the same way."""
    if data[:3] == codecs.BOM_UTF8:
        decl: str | None = "utf-8"
    else:
        m = _XML_DECL_ENC.match(data)
        decl = m.group(1).decode("ascii", "replace").lower() if m else None
    lxml_enc = _codec(decl or "utf-8")
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    charset = ""
    for part in params.split(";"):
        k, _, v = part.partition("=")
        if k.strip().lower() == "charset":
            charset = v.strip().strip("\"'")
    if media in ("application/xml", "application/xml-dtd") or (
        media.startswith("application/") and media.endswith("+xml")
    ):
        first = charset or decl or "utf-8"
    elif media.startswith("text/"):
        first = charset or "us-ascii"
    else:
        first = decl or "utf-8"
    # feedparser takes the first of these that decodes the bytes
    fp_codec = None
    for candidate in (first, decl, "chardet", "utf-8", "windows-1252"):
        if not candidate:
            continue
        if candidate == "chardet":
            if _HAVE_CHARDET:
                raise Unsure("feedparser would ask chardet")
            continue
        codec = _codec(candidate)
        if codec is None:
            raise Unsure("unknown encoding")
        try:
            data.decode(codec)
        except UnicodeDecodeError:
            continue
        fp_codec = codec
        break
    if fp_codec is None or lxml_enc is None:
        raise Unsure("undecodable")
    if fp_codec != lxml_enc and not data.isascii():
        raise Unsure(f"encoding {fp_codec} vs {lxml_enc}")
    if lxml_enc not in ("utf-8", "ascii", "iso8859-1", "cp1252"):
        raise Unsure(f"encoding {lxml_enc}")
    if fp_codec != lxml_enc:
        try:
            data.decode(lxml_enc)
        except UnicodeDecodeError:
            raise Unsure("bytes do not match the encoding") from None


_local = threading.local()


def _parser() -> etree.XMLParser:
    p = getattr(_local, "parser", None)
    if p is None:
        p = _local.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            remove_blank_text=True,  # fewer nodes; text of leaf elements is kept
            recover=False,
            collect_ids=False,
        )
    return p


_NAMES: dict = {}  # tag -> _name(tag); bounded, since documents choose their tags
_NAMES_MAX = 4_096


def _name(el) -> str:
    """feedparser's name for an element: ``prefix_local`` lower-cased, ``local`` in the core."""
    tag = el.tag
    name = _NAMES.get(tag)
    if name is None:
        name = _tag_name(tag)
        if len(_NAMES) < _NAMES_MAX:
            _NAMES[tag] = name
    return name


def _tag_name(tag) -> str:
    if not isinstance(tag, str):
        return "#other"
    if tag[0] == "{":
        ns, _, local = tag[1:].partition("}")
        prefix = _PREFIX.get(ns.lower())
        if prefix is None:
            return "?" + local.lower()  # a namespace feedparser knows nothing of: ignored
    else:
        prefix, local = "", tag
    local = local.lower()
    return f"{prefix}_{local}" if prefix else local


def _text(el) -> str:
    if len(el):
        raise Unsure(f"markup inside <{el.tag}>")
    return el.text or ""


def _lang_of(el, header_lang: str | None) -> str | None:
    while el is not None:
        lang = el.get(XML_LANG)
        if lang is not None:
            return lang or None
        el = el.getparent()
    return header_lang


def _content_type(el, default: str) -> str:
    if el.get("mode") is not None or el.get("src") is not None:
        raise Unsure("content mode/src")
    t = (el.get("type") or default).lower()
    t = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}.get(t, t)
    if t not in _OK_CONTENT_TYPES:
        raise Unsure(f"content type {t}")
    return t


def _check_nested(name: str, child) -> None:
    """Raise Unsure when an element nested in ``child`` (an item's child with children of its own)
    would change fields we read in feedparser's reading."""
    if name in _AUTHOR or name == "contributor":
        for sub in child.iterdescendants():
            n = _name(sub)
            if n not in _ATOM_AUTHOR_PARTS and not n.startswith("?"):
                raise Unsure(f"<{n}> in an author")
            if len(sub):
                raise Unsure("markup in an author part")
        return
    if name == "source":
        return
    media = name in ("media_content", "media_group")
    for sub in child.iterdescendants():
        n = _name(sub)
        if n in _RISKY_NESTED and not (media and n == "media_description"):
            raise Unsure(f"nested <{sub.tag}>")


class _Bodies:
    """feedparser's rules for summary and content, replayed in document order: a second
    description-like element becomes content when no content came yet; content fills an empty
    summary; a deeper description never replaces a shallower one."""

    def __init__(self, raw: RawItem, atom: bool):
        self.raw, self.atom = raw, atom
        self.has_summary = False
        self.summary_depth: int | None = None
        self.has_content = False
        self.content_el = None
        self.summary_el = None

    def _type(self, el, default: str, value: str) -> str:
        t = _content_type(el, default)
        if not self.atom and t == "text/plain" and _looks_like_html(value):
            t = "text/html"
        return t

    def describe(self, el, depth: int, default: str) -> None:
        if self.has_summary and not self.has_content:
            self.content(el, "text/plain")
            return
        value = _fp_text(_text(el))
        ctype = self._type(el, default, value)
        if self.summary_depth is None or depth <= self.summary_depth:
            self.raw.summary, self.raw.summary_type = value, ctype
            self.summary_depth = depth
            self.summary_el = el
        self.has_summary = True

    def content(self, el, default: str) -> None:
        self.has_content = True
        value = _fp_text(_text(el))
        ctype = self._type(el, default, value)
        if self.content_el is None:
            self.raw.content, self.raw.content_type, self.content_el = value, ctype, el
        if not self.has_summary:
            self.raw.summary, self.raw.summary_type = value, ctype
            self.has_summary = True


def _looks_like_html(s: str) -> bool:
    """feedparser's guess whether nominally plain text is HTML."""
    if not (_CLOSE_TAG.search(s) or _ENTITY_REF.search(s)):
        return False
    if any(t.lower() not in _ACCEPTABLE_ELEMENTS for t in _TAG_NAME.findall(s)):
        return False
    return not any(e not in html.entities.entitydefs for e in _NAMED_ENTITY.findall(s))


# What _read_item does with each item child, by feedparser name (the name sets are disjoint, so
# one dict lookup replaces a chain of membership tests).
_CATEGORY_K, _TITLE_K, _LINK_K, _GUID_K, _PUBLISHED_K, _UPDATED_K = range(6)
_AUTHOR_K, _SUMMARY_K, _CONTENT_K, _MEDIA_K, _ENCLOSURE_K = range(6, 11)
_KIND: dict[str, int] = {
    **dict.fromkeys(_CATEGORY, _CATEGORY_K),
    **dict.fromkeys(_TITLE, _TITLE_K),
    "link": _LINK_K,
    **dict.fromkeys(_GUID, _GUID_K),
    **dict.fromkeys(_PUBLISHED, _PUBLISHED_K),
    **dict.fromkeys(_UPDATED, _UPDATED_K),
    **dict.fromkeys(_AUTHOR, _AUTHOR_K),
    **dict.fromkeys(_SUMMARY | {"media_description"}, _SUMMARY_K),
    **dict.fromkeys(_CONTENT, _CONTENT_K),
    "media_content": _MEDIA_K,
    "media_group": _MEDIA_K,
    "enclosure": _ENCLOSURE_K,
}
_SETS = (_CATEGORY, _TITLE, _GUID, _PUBLISHED, _UPDATED, _AUTHOR, _SUMMARY, _CONTENT)
assert len(_KIND) == sum(map(len, _SETS)) + 5, "the name sets overlap"
_SKIPPED_PREFIXES = ("media_", "itunes_", "dcterms_", "dc_")
_PERMALINK_ONLY = ["isPermaLink"]  # a guid's usual attributes: nothing odd to look for


def _read_item(item, base: str, atom: bool, header_lang: str | None) -> RawItem:
    raw = RawItem()
    tags: list[tuple] = []
    link: str | None = None
    has_link = False
    title_el = None
    title_set = False
    st = _Bodies(raw, atom)
    about = item.get(RDF_ABOUT)
    if about:
        raw.guid = about
    names = _NAMES
    kinds = _KIND
    for child in item:
        name = names.get(child.tag) or _name(child)
        nested = len(child)
        if nested:
            _check_nested(name, child)
        if name[:1] in "?#":
            continue
        kind = kinds.get(name)
        if kind is None:
            if name in _IGNORED or (
                name.startswith(_SKIPPED_PREFIXES) and name not in _RISKY_NESTED
            ):
                continue
            raise Unsure(f"item element <{child.tag}>")
        if kind == _CATEGORY_K:
            term = child.get("term")
            scheme = child.get("scheme", child.get("domain"))
            if name == "media_category" and scheme is None:
                scheme = "http://search.yahoo.com/mrss/category_schema"
            label = child.get("label")
            add_tag(tags, term, scheme, label)
            if nested:
                raise Unsure(f"markup inside <{child.tag}>")
            value = _fp_text(child.text or "")
            if value:
                if tags and not tags[-1][0]:
                    tags[-1] = (value, tags[-1][1], tags[-1][2])
                else:
                    add_tag(tags, value, None, None)
        elif kind == _TITLE_K:
            _content_type(child, "text/plain")
            value = _fp_text(_text(child))
            if not title_set:
                raw.title = value
                title_el = child
                if value:
                    title_set = True
        elif kind == _LINK_K:
            rel = (child.get("rel") or "alternate").lower()
            ltype = (
                child.get("type") or ("application/atom+xml" if rel == "self" else "text/html")
            ).lower()
            href = child.get("url", child.get("uri", child.get("href")))
            if href is None:  # feedparser: the text is both the item link and this link's href
                value = _text(child).strip()
                value = _fp_text(fp_urljoin(base, value) if value else value)
                link = value
                if "&" in value:
                    link = _LINK_ENTITY.sub(r"&\1", value.replace("&amp;", "&"))
                has_link = True
                if rel == "enclosure" and value:
                    raw.enclosures.append((link, ltype, child.get("length")))
                continue
            href = fp_urljoin(base, href)
            if rel == "enclosure":
                raw.enclosures.append((href, ltype, child.get("length")))
            elif rel == "alternate" and _MAP_TYPE.get(ltype, ltype) in _HTML_TYPES:
                link = href
                has_link = True
        elif kind == _GUID_K:
            permalink = child.get("isPermaLink", child.get("ispermalink", "true")) == "true"
            keys = child.keys()
            if (
                keys
                and keys != _PERMALINK_ONLY
                and any(
                    k.lower() == "ispermalink" and k not in ("isPermaLink", "ispermalink")
                    for k in keys
                )
            ):
                raise Unsure("odd isPermaLink spelling")
            value = _text(child).strip()
            if permalink and value:
                value = fp_urljoin(base, value)
            value = _fp_text(value)
            raw.guid = value
            if permalink and not has_link:
                link = value
                has_link = True
        elif kind == _PUBLISHED_K:
            raw.published = parse_date(_fp_text(_text(child)))
        elif kind == _UPDATED_K:
            raw.updated = parse_date(_fp_text(_text(child)))
        elif kind == _AUTHOR_K:
            if nested:
                detail = {}
                for part in child:
                    n = _name(part)
                    if n in ("name", "email"):
                        detail[n] = _fp_text(part.text or "")
                raw.authors.append(author_name(detail))
            else:
                raw.authors.append(author_name(split_author(_fp_text(child.text or ""))))
        elif kind == _SUMMARY_K:
            st.describe(child, 1, "text/plain" if name == "summary" else "text/html")
        elif kind == _CONTENT_K:
            st.content(child, "text/plain" if name == "content" else "text/html")
        elif kind == _MEDIA_K:
            for sub in child.iterdescendants():
                if _name(sub) == "media_description":
                    depth, up = 1, sub
                    while up.getparent() is not item:
                        up = up.getparent()
                        depth += 1
                    st.describe(sub, depth, "text/html")
        else:  # _ENCLOSURE_K
            href = child.get("url", child.get("uri", child.get("href")))
            if href:
                raw.enclosures.append(
                    (href, (child.get("type") or "").lower() or None, child.get("length"))
                )
    if has_link:
        raw.link = link
    raw.categories = tag_names(tags)
    raw.authors = [a for i, a in enumerate(raw.authors) if a and a not in raw.authors[:i]]
    lang_el = (
        st.content_el
        if st.content_el is not None
        else (st.summary_el if st.summary_el is not None else title_el)
    )
    raw.language = norm_lang(_lang_of(lang_el if lang_el is not None else item, header_lang))
    return raw


def _raw_dates(item) -> tuple[datetime | None, datetime | None]:
    """An item's (published, updated) exactly as ``_read_item`` would read them, without the
    rest of the item."""
    published = updated = None
    for child in item:
        name = _name(child)
        if len(child):
            _check_nested(name, child)
        if name in _PUBLISHED:
            published = parse_date(_fp_text(_text(child)))
        elif name in _UPDATED:
            updated = parse_date(_fp_text(_text(child)))
    return published, updated


def read_fast(
    data: bytes,
    url: str,
    content_type: str,
    header_lang: str | None,
    max_items: int | None = None,
) -> RawFeed:
    """Read a well-formed RSS/Atom document, or raise Unsure (the caller falls back).
    With ``max_items``, a longer document has only its newest items read (the cap is applied
    on the raw dates first, so a 50,000-item document costs a date scan, not 50,000 items)."""
    if b"xml:base" in data:
        raise Unsure("xml:base")
    _check_encoding(data, content_type)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise Unsure(f"not well-formed: {exc}") from None
    tag = root.tag if isinstance(root.tag, str) else ""
    feed = RawFeed()
    if tag == "rss":
        channel = [c for c in root if c.tag == "channel"]
        if len(channel) != 1:
            raise Unsure("no single channel")
        head = channel[0]
        items = [c for c in head if c.tag == "item"] + [c for c in root if c.tag == "item"]
        atom = False
    elif tag == f"{{{NS_ATOM}}}feed":
        head = root
        items = [c for c in root if c.tag == f"{{{NS_ATOM}}}entry"]
        atom = True
    elif tag == f"{{{NS_RDF}}}RDF":
        channel = [c for c in root if c.tag == f"{{{NS_RSS10}}}channel"]
        if len(channel) != 1:
            raise Unsure("no single RSS 1.0 channel")
        head = channel[0]
        items = [c for c in root if c.tag == f"{{{NS_RSS10}}}item"]
        atom = False
    else:
        raise Unsure(f"root <{tag}>")
    if sum(1 for _ in root.iter("{*}item", "{*}entry")) != len(items):
        raise Unsure("items outside the usual places")
    feed.language = root.get(XML_LANG) or header_lang
    for child in head:
        name = _name(child)
        if name == "title" and not feed.title and not len(child):
            feed.title = _fp_text(child.text or "")
        elif name == "link" and not len(child):
            href = child.get("href")
            if href is None:
                feed.link = fp_urljoin(base=url, uri=(child.text or "").strip())
            elif (child.get("rel") or "alternate").lower() == "alternate":
                feed.link = fp_urljoin(url, href)
        elif name in ("language", "dc_language") and not len(child):
            feed.language = _fp_text(child.text or "")
        elif name == "ttl" and not len(child):
            feed.ttl = (child.text or "").strip()
    feed.language = norm_lang(feed.language)
    if max_items is not None and len(items) > max_items:
        keep = newest([_raw_dates(it) for it in items], max_items)
        items = [items[i] for i in keep]
    feed.items = [_read_item(it, url, atom, header_lang) for it in items]
    return feed
