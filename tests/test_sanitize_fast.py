"""sanitize_html's shortcut for plain paragraph markup must give exactly what nh3 gives.

The shortcut skips nh3 for text in ``<p>``, ``<strong>``/``<em>`` and absolute-link markup (most
feed bodies); these tests build such documents and near misses, and compare with nh3 itself."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.sanitize import _CLEANER, _SIMPLE_HTML, clean_chars, sanitize_html


def nh3_reading(markup: str) -> str:
    """What sanitize_html returns when nh3 reads the markup (no base URL)."""
    return _CLEANER.clean(clean_chars(markup)).strip()


_WORDS = ["a", "é", " ", "\n", "\t", "\xa0", "ولي", "«\xa0il\xa0»", "x.", '"', "'", "=", "/",
          "\u2028", "\u200b", "\x85", "\ufdd0", "\U0001f600", "\u0301", ";", "&amp;", ">", "\r\n"]  # fmt: skip
_HOSTS = ["x.org", "X.ORG", "a-b.example.com", "xn--abc.com", "a..b.com", "-a.com", "a.b",
          "1.2.3.4", "x.123", "x.co.uk", "www.x.org:80", "x.org:"]  # fmt: skip
_RESTS = ["", "/", "/a/b", "/a?b=1", "/a?b=1;c", "/%7e", "/%zz", "#f", "?q", "/a b", "/a\\b",
          "/[x]", "/é", "/a&b", "/a&amp;b", "/~!$()*+,;=:@", "/a>b"]  # fmt: skip

text = st.lists(st.sampled_from(_WORDS), max_size=4).map("".join)
url = st.builds(
    lambda s, h, r: s + h + r,
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "", "//", "javascript:"]),
    st.sampled_from(_HOSTS),
    st.sampled_from(_RESTS),
)
link = st.builds(
    lambda q, u, extra, t: f"<a href={q}{u}{q}{extra}>{t}</a>",
    st.sampled_from(['"', '"', "'", ""]),
    url,
    st.sampled_from(["", "", ' rel="x"', ' title="t"', " "]),
    text,
)
phrase = st.lists(st.one_of(text, link), max_size=3).map("".join)
inline = st.one_of(
    text,
    link,
    st.builds(
        lambda t, p: f"<{t}>{p}</{t}>", st.sampled_from(["strong", "em", "b", "STRONG"]), phrase
    ),
    st.sampled_from(
        ["<br>", "<img src='https://x.org/a.png'>", "<p>", "</p>", "</em>", "<!-- c -->"]
    ),
)
paragraph = st.lists(inline, max_size=4).map(lambda xs: "<p>" + "".join(xs) + "</p>")
document = st.lists(st.one_of(paragraph, inline, st.sampled_from(["\n", " ", ""])), max_size=6).map(
    "".join
)


@settings(max_examples=600, deadline=None)
@given(document)
def test_shortcut_equals_nh3(markup: str) -> None:
    assert sanitize_html(markup) == nh3_reading(markup)


@pytest.mark.parametrize(
    "markup",
    [
        '<p>Le <a href="https://x.org/tag/1">climat</a> «\xa0il\xa0» change.</p>\n<p>Suite.</p>',
        '<p><strong>Bold.</strong> <em>It <a href="https://a.example.com/?p=1">x</a></em></p>',
        '<p>التي <a href="https://arab-news.example.info/tag/338">المطورين</a></p>',
        "plain <em>inline</em> text",
    ],
)
def test_feed_bodies_take_the_shortcut_and_equal_nh3(markup: str) -> None:
    assert _SIMPLE_HTML.fullmatch(markup)
    assert sanitize_html(markup) == nh3_reading(markup)


@pytest.mark.parametrize(
    "markup",
    [
        '<p><a href="https://xn--80ak6aa92e.com/">punycode</a></p>',  # url may reject it
        '<p><a href="https://x.org/a&b">raw ampersand</a></p>',
        '<p><a href="https://1.2.3.400/">not an IPv4</a></p>',
        "<p><strong>unclosed</p>",
        "<p>a > b</p>",
        '<p><a href="/relative">rel</a></p>',
    ],
)
def test_near_misses_go_through_nh3(markup: str) -> None:
    assert not _SIMPLE_HTML.fullmatch(markup)
    assert sanitize_html(markup) == nh3_reading(markup)
