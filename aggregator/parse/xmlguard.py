"""The byte-level guard every document passes before any XML parser sees it.

Every DOCTYPE before the root element is removed, so no entity can be declared, expanded or
fetched (feedparser's loose parser expands internal entities: a "quadratic blowup" feed would
fill memory). UTF-16/32 is re-encoded as UTF-8 first so the scan reads every document; bodies
that are plainly not feeds (empty, JSON, no feed element anywhere) are refused here, and
character references feedparser crashes on become U+FFFD.
"""

from __future__ import annotations

import codecs
import re

from ..errors import ParseError

__all__ = ["guard"]

_WS = rb" \t\r\n"
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_DOCTYPE_DELIMS = re.compile(rb"[\"'\[\]>]")
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_XML_DECL = re.compile(rb"^<\?xml[^>]*\?>")
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["'][^"']*["']""")
# A character reference to a lone surrogate (U+D800-DFFF) or beyond U+10FFFF: feedparser crashes
# on it (it cannot encode or even create the character) and the whole feed would be lost.
# Rewritten to U+FFFD. The pattern only matches candidates (4+ significant hex digits starting
# D8-DF, 6+ hex digits, 5+ decimal digits); the callback decides.
_BAD_CHAR_REF = re.compile(
    rb"&#(?:[xX]0*([dD][89a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{5,})(?![0-9a-fA-F])"
    rb"|0*([1-9][0-9]{4,})(?![0-9]));?"
)


# Without one of these anywhere, feedparser can find no item and no feed version: the document
# is refused at once instead of after its loose parser walked all of it (slow on tag soup).
_FEED_MARKER = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:rss|feed|channel|rdf|item|entry)[\s/>]"
    rb"|purl\.org/rss/1\.0|w3\.org/2005/atom|my\.netscape\.com/rdf",
    re.IGNORECASE,
)
_EBCDIC = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC: feedparser reads it, our byte scan cannot


def _bad_char_ref(m: re.Match[bytes]) -> bytes:
    hexa, dec = m.groups()
    digits = hexa or dec
    value = int(digits, 16 if hexa else 10) if len(digits) <= 8 else 0x110000
    if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
        return b"&#xFFFD;"
    return m.group(0)


def _to_utf8_if_wide(data: bytes) -> bytes:
    """UTF-16/32 documents (BOM or a ``<`` padded with zero bytes) re-encoded as UTF-8, so the
    DOCTYPE scan below sees every document as bytes it can read."""
    enc = None
    for bom, name in (
        (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF16_LE, "utf-16"),
    ):  # fmt: skip
        if data.startswith(bom):
            enc = name
            break
    else:
        head = data[:4]
        if head == b"\x00\x00\x00<":
            enc = "utf-32-be"
        elif head == b"<\x00\x00\x00":
            enc = "utf-32-le"
        elif head[:2] == b"\x00<":
            enc = "utf-16-be"
        elif head[:2] == b"<\x00":
            enc = "utf-16-le"
    if enc is None:
        return data
    try:
        text = data.decode(enc)
    except UnicodeDecodeError:
        text = data.decode(enc, "replace")
    out = text.lstrip("\ufeff").encode("utf-8")
    m = _XML_DECL.match(out)
    if m:
        out = _DECL_ENCODING.sub(b'encoding="utf-8"', m.group(0)) + out[m.end() :]
    return out


def _prolog_end(data: bytes) -> int:
    """Index where the root element starts (or len(data)), skipping the XML declaration,
    comments, processing instructions and DOCTYPEs (with their internal subset)."""
    i, n = 0, len(data)
    while i < n:
        c = data[i : i + 1]
        if c in (b" ", b"\t", b"\r", b"\n") or data.startswith(codecs.BOM_UTF8, i):
            i += 3 if data.startswith(codecs.BOM_UTF8, i) else 1
        elif data.startswith(b"<?", i):
            j = data.find(b"?>", i + 2)
            i = n if j < 0 else j + 2
        elif data.startswith(b"<!--", i):
            j = data.find(b"-->", i + 4)
            i = n if j < 0 else j + 3
        elif data[i : i + 9].upper() == b"<!DOCTYPE":
            i = _doctype_end(data, i)
        else:
            return i
    return n


def _doctype_end(data: bytes, start: int) -> int:
    """End of the DOCTYPE at ``start``: the ``>`` after its internal subset, quotes respected."""
    depth, quote = 0, None
    for m in _DOCTYPE_DELIMS.finditer(data, start + 9):
        c = m.group()
        if quote is not None:
            if c == quote:
                quote = None
        elif c in (b'"', b"'"):
            quote = c
        elif c == b"[":
            depth += 1
        elif c == b"]":
            depth -= 1
        elif depth <= 0:  # ">"
            return m.end()
    return len(data)


def guard(content: bytes, url: str) -> tuple[bytes, str | None]:
    """Make ``content`` safe for any XML parser: UTF-16/32 re-encoded as UTF-8, every DOCTYPE
    before the root element removed (so no entity can be declared, expanded or fetched).
    Returns the bytes and a warning when a DOCTYPE declared entities or an external DTD.
    Raises ParseError for bodies that are plainly not feeds (empty, JSON)."""
    data = _to_utf8_if_wide(content)
    stripped = data.lstrip(_WS).removeprefix(codecs.BOM_UTF8).lstrip(_WS)
    if not stripped:
        raise ParseError(url, "not a feed: empty body")
    if stripped[:1] in (b"{", b"["):
        raise ParseError(url, "not a feed: a JSON body")
    if not _FEED_MARKER.search(data) and not stripped.startswith(_EBCDIC):
        raise ParseError(url, "not a feed: no feed elements found")
    end = _prolog_end(data)
    if _ENTITY_DECL.search(data, end) and _DOCTYPE.search(data, end):
        # a DOCTYPE after leading junk: no parser we use would honour it, but refuse anyway
        raise ParseError(url, "not a feed: entity declarations outside the prolog")
    if b"&#" in data:
        data = _BAD_CHAR_REF.sub(_bad_char_ref, data)
    if not _DOCTYPE.search(data, 0, end + 9):
        return data, None
    head, body = data[:end], data[end:]
    warning = None
    out, i = bytearray(), 0
    for m in _DOCTYPE.finditer(head):
        if m.start() < i:
            continue
        stop = _doctype_end(head, m.start())
        decl = head[m.start() : stop]
        if b"<!ENTITY" in decl.upper() or b"SYSTEM" in decl.upper() or b"PUBLIC" in decl.upper():
            warning = "DOCTYPE with entity declarations or an external DTD removed"
        out += head[i : m.start()]
        i = stop
    out += head[i:]
    return bytes(out) + body, warning
