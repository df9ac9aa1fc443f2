"""Property tests (hypothesis) on the pure parts hostile input reaches first: URL normalisation,
text folding, parsing of damaged real feeds, the HTML sanitiser and rendering. Small example
counts and no deadlines: they hunt for classes of bugs, they are not benchmarks."""

from __future__ import annotations

import html
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from aggregator.errors import ParseError
from aggregator.models import Item, Story
from aggregator.normalize import _tracking, canonical_url
from aggregator.parse import MAX_ITEMS, parse
from aggregator.publish import publish
from aggregator.sanitize import plain_text, safe_url, sanitize_html
from aggregator.settings import OutputSettings
from aggregator.text import fold, words
from aggregator.text import strip_tags as fold_plain_text

try:
    from support.hostile import DANGEROUS_HTML, DANGEROUS_LINKS, html_problems
except ImportError:  # pragma: no cover
    from support.hostile import DANGEROUS_HTML, DANGEROUS_LINKS, html_problems

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REAL = Path(__file__).parent / "data" / "corpus" / "real"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

# --------------------------------------------------------------------------- canonical URLs

TRACKERS = ["utm_source", "utm_medium", "UTM_Campaign", "fbclid", "gclid", "mc_eid", "xtor",
            "at_medium", "_ga", "ref", "igshid", "ocid", "amp", "outputType"]  # fmt: skip
_label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
_host = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join).map(lambda h: h + ".com"),
    st.sampled_from(
        [
            "www.bbc.co.uk",
            "m.lemonde.fr",
            "amp.x.org",
            "127.0.0.1",
            "[::1]",
            "WWW.Example.COM.",
            "xn--mller-kva.de",
            "müller.de",
            "www-x-com.cdn.ampproject.org",
            "l.facebook.com",
            "www.google.com",
            "a..b",
            "",
        ]
    ),
)
_segment = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
    st.sampled_from(
        ["amp", "index.html", "%2F", "%41", "%zz", "..", ".", "", "a b", "é", "%E2%80%AE"]
    ),
)
_param = st.tuples(
    st.one_of(st.sampled_from([*TRACKERS, "id", "p", "q", "page", "u", "url"]), _label),
    st.one_of(st.sampled_from(["", "1", "amp", "https://x.org/a?b=1", "a&b", "%26"]), _label),
)


@st.composite
def urls(draw) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS", "javascript", "ftp", "data", ""]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080", ":0", ":99999", ":x"]))
    path = "/".join(draw(st.lists(_segment, max_size=5)))
    query = "&".join(f"{k}={v}" for k, v in draw(st.lists(_param, max_size=5)))
    frag = draw(st.sampled_from(["", "#top", "#"]))
    url = f"{scheme}://{draw(_host)}{port}/{path}" + (f"?{query}" if query else "") + frag
    if draw(st.booleans()):
        url = draw(st.sampled_from([" ", "\t", "\n", ""])) + url
    return url


@FAST
@given(st.one_of(urls(), st.text(max_size=60)))
@example(
    "https://www.google.com/url?q=https://www.google.com/url?q=https://x.org/a%3Futm_source%3D1"
)
@example("https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.x.com%2Fa%3Ffbclid%3D1")
def test_canonical_url_never_raises_is_idempotent_and_strips_trackers(url):
    out = canonical_url(url)
    if out is None:
        return
    assert out.startswith("https://")
    parts = urlsplit(out)
    assert parts.hostname and not parts.fragment
    assert canonical_url(out) == out, f"{url!r} -> {out!r} -> {canonical_url(out)!r}"
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        assert not _tracking(k, v), (url, out)


@FAST
@given(urls())
def test_safe_url_only_ever_returns_http_urls(url):
    out = safe_url(url, "https://base.example/dir/")
    assert out is None or out.startswith(("http://", "https://"))
    assert out is None or not any(c in out for c in "\t\r\n\x00\u202e")


# --------------------------------------------------------------------------- folding

_text = st.text(
    st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from(list("éÉœŒæßİıŉﬁ’“”–—…\u00a0\u200b\u200d\u202e\u0640ًّأإآىةؤئ٣۳ﻻ&;<>")),
    ),
    max_size=40,
)
_entityish = st.lists(
    st.one_of(
        _text,
        st.sampled_from(
            [
                "&amp;",
                "&amp;amp;",
                "&lt;b&gt;",
                "&#233;",
                "&eacute;",
                "&#x202E;",
                "&nbsp;",
                "<p>",
                "</p>",
            ]
        ),
    ),
    max_size=6,
).map("".join)


@FAST
@given(st.one_of(_text, _entityish))
@example("&amp;amp;amp;")
@example("ŉ İ ﬁ ẞ")
def test_fold_never_raises_and_is_idempotent(text):
    once = fold(text)
    assert isinstance(once, str)
    if html.unescape(once) == once:  # fold decodes two levels of escaping, by design, not three
        assert fold(once) == once, f"{text!r} -> {once!r} -> {fold(once)!r}"
        assert words(text) == words(once)
    assert once == once.strip() and "  " not in once
    assert not any(c in once for c in "\u200b\u202e\u0640")


@FAST
@given(st.one_of(_text, _entityish))
@example("<\u200b?")  # the invisible character went after the markup pass: "<?" came out
@example("<&#8203;?")
def test_plain_text_never_raises_and_never_leaves_markup_or_controls(text):
    for out in (plain_text(text), fold_plain_text(text)):
        assert isinstance(out, str)
    out = plain_text(text)
    assert plain_text(out.replace("&", "&amp;")) == out  # text in, the same text out
    assert not any(c in out for c in "\x00\x1b\u202e\u200b\ufeff")
    assert len(out) <= 1000


# --------------------------------------------------------------------------- damaged real feeds


def _seeds() -> list[bytes]:
    files = sorted(REAL.glob("*.xml"), key=lambda p: p.stat().st_size)[:8]  # the small ones
    return [p.read_bytes() for p in files]


SEEDS = _seeds()


@st.composite
def damaged(draw) -> bytes:
    doc = bytearray(draw(st.sampled_from(SEEDS)))
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "delete", "duplicate", "truncate", "zero"]))
        pos = rng.randrange(len(doc) or 1)
        if op == "flip":  # flip bits in a few bytes
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(doc) or 1)
                if doc:
                    doc[i] ^= 1 << rng.randrange(8)
        elif op == "delete":
            del doc[pos : pos + rng.randint(1, 200)]
        elif op == "duplicate":
            doc[pos:pos] = doc[pos : pos + rng.randint(1, 2000)]
        elif op == "truncate":
            del doc[pos:]
        else:
            doc[pos : pos + 4] = b"\x00\x00\x00\x00"
    return bytes(doc)


@pytest.mark.skipif(not SEEDS, reason="no real feeds in tests/data/real")
@FAST
@given(damaged(), st.sampled_from([None, "text/xml", "text/html; charset=iso-8859-1",
                                   "application/rss+xml; charset=utf-16"]))  # fmt: skip
def test_damaged_real_feeds_raise_only_parse_error(doc, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    try:
        feed = parse(doc, "https://feeds.example.org/rss", headers, "fr", now=NOW)
    except ParseError:
        return
    assert len(feed.items) <= MAX_ITEMS
    for it in feed.items:
        assert it.link is None or it.link.startswith(("http://", "https://"))
        assert not html_problems(it.summary) and not html_problems(it.content)
        assert len(it.title) <= 1000 and "<script" not in it.title.lower()


# --------------------------------------------------------------------------- the sanitiser

_benign = st.sampled_from(["<p>", "</p>", "<b>", "</b>", "text ", "<a href='https://ok.example/'>",
                           "</a>", "<div>", "</div>", "&amp;", "&lt;", "<br>", "<table><tr><td>",
                           "<", ">", "\"", "'", "=", " ", "\t", "\x00", "&#", "<!--", "-->",
                           "<![CDATA[", "]]>", "<?x?>"])  # fmt: skip
_attack_piece = st.sampled_from(DANGEROUS_HTML)
_link_piece = st.sampled_from(DANGEROUS_LINKS).map(lambda u: f'<a href="{u}">x</a>')
_attr_piece = st.tuples(
    st.sampled_from(["a", "img", "div", "svg", "iframe", "form", "p", "math", "object"]),
    st.sampled_from(
        [
            "href",
            "src",
            "onerror",
            "OnClick",
            "style",
            "xlink:href",
            "action",
            "formaction",
            "data",
            "background",
        ]
    ),
    st.sampled_from([*DANGEROUS_LINKS, "expression(alert(1))", "alert(1)", "url(javascript:x)"]),
    st.sampled_from(['"', "'", ""]),
).map(lambda t: f"<{t[0]} {t[1]}={t[3]}{t[2]}{t[3]}>x</{t[0]}>")
_html_doc = st.lists(st.one_of(_benign, _attack_piece, _link_piece, _attr_piece), max_size=12).map(
    "".join
)


@FAST
@given(_html_doc, st.sampled_from([None, "https://news.example.org/a/b", "javascript:alert(1)//"]))
@example(  # svg before noscript: the noscript's text parses as a <p> whose title holds a handler
    """<svg/onload=alert('svg3')><noscript><p title="</noscript><img src=x onerror=alert(1)>">"""
    "</noscript>",
    None,
)
def test_sanitized_html_never_contains_active_content(doc, base):
    out = sanitize_html(doc, base)
    assert not html_problems(out), (doc, out)
    assert sanitize_html(out, base) == out  # stable: sanitising twice changes nothing
    title = plain_text(doc)
    assert "<script" not in title.lower() and "\u202e" not in title


# --------------------------------------------------------------------------- rendering

_render_text = st.text(
    st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(list("<>&\"']]\x00\x0b\x1b\u202e\ufffe\uffff"))),
    max_size=60,
)  # fmt: skip


def _story(n: int, title: str, summary: str, source: str) -> Story:
    when = datetime(2026, 11, 20 + n, 8, 0, tzinfo=UTC)
    item = Item(
        id=n, source=source or "src", key=f"k{n}", guid=None, link=f"https://x.example/{n}",
        canonical_url=None, title=title, summary=summary, content="", authors=(),
        categories=(), language=None, published=when, updated=None, first_seen=when,
        last_seen=when, content_hash=f"h{n}",
    )  # fmt: skip
    return Story(cluster_id=n, item=item, tags=("ai", "africa"), first_seen=when)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(st.tuples(_render_text, st.one_of(_render_text, _html_doc), _render_text),
                min_size=1, max_size=3))  # fmt: skip
def test_publish_renders_any_text_into_valid_feeds(tmp_path, rows):
    out = tmp_path / "out"
    stories = [_story(i, t, s, src) for i, (t, s, src) in enumerate(rows)]
    publish(stories, OutputSettings(dir=out, max_items=10), NOW)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    for name in ("feed.xml", "atom.xml", "tags/ai.xml", "tags/ai.atom"):
        etree.fromstring((out / name).read_bytes(), parser)  # well-formed, or this raises
    doc = json.loads((out / "feed.json").read_text("utf-8"))
    assert len(doc["items"]) == len(rows)
    for it in doc["items"]:
        assert not any(c in it["title"] for c in "\x00\x0b\x1b\u202e")
        assert not html_problems(it.get("content_html", ""))
    assert not html_problems((out / "index.html").read_text("utf-8"))
