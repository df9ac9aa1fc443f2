"""Feed discovery from a home page, over the real fetcher and the loopback feed server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.cli.main import main
from aggregator.fetch import Fetcher, discover, feed_kind
from aggregator.fetch.discover import feed_links
from aggregator.settings import FetchSettings

DEMO = Path(__file__).resolve().parents[1] / "aggregator" / "data" / "demo"
RSS = (DEMO / "techcabal-en.xml").read_bytes()
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<!-- generated -->
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom site</title><id>urn:x</id>
<updated>2026-12-01T00:00:00Z</updated><entry><title>One</title><id>urn:1</id>
<link href="https://example.org/1"/><updated>2026-12-01T00:00:00Z</updated></entry></feed>"""
JSON_FEED = json.dumps({
    "version": "https://jsonfeed.org/version/1.1", "title": "JSON site",
    "items": [{"id": "1", "url": "https://example.org/1", "title": "One"}],
}).encode()  # fmt: skip
LOOPBACK = FetchSettings(timeout=10, allow_private=("127.0.0.0/8",))


def page(*links: str, base: str = "") -> bytes:
    head = "".join(links) + (f'<base href="{base}">' if base else "")
    return f"<!doctype html><html><head><title>Home</title>{head}</head><body>Hi</body></html>".encode()


def test_feed_kind_sniffs_the_three_formats_and_nothing_else():
    assert feed_kind(RSS) == "RSS"
    assert feed_kind(ATOM) == "Atom"
    assert feed_kind(JSON_FEED) == "JSON Feed"
    assert feed_kind(b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="x"></rdf:RDF>') == "RSS"
    assert feed_kind(page()) is None
    assert feed_kind(b'{"version": "1"}') is None
    assert feed_kind(b"") is None


def test_links_of_feed_types_resolved_against_base_and_page():
    html = page(
        '<link rel="alternate" type="application/rss+xml" title="Main  feed" href="/feed/">',
        '<link rel="Alternate" type="application/atom+xml" href="atom.xml">',
        '<link rel="alternate" type="application/feed+json" href="https://cdn.example/f.json">',
        '<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">',
        '<link rel="stylesheet" type="text/css" href="/s.css">',
        '<link rel="alternate" type="application/rss+xml" href="/feed/">',  # repeated
    )
    assert feed_links(html, "https://site.example/blog/") == [
        ("https://site.example/feed/", "RSS", "Main feed"),
        ("https://site.example/blog/atom.xml", "Atom", ""),
        ("https://cdn.example/f.json", "JSON Feed", ""),
    ]
    based = page('<link rel="alternate" type="application/rss+xml" href="rss">',
                 base="https://other.example/news/")  # fmt: skip
    assert feed_links(based, "https://site.example/") == [
        ("https://other.example/news/rss", "RSS", "")
    ]


def test_a_home_page_gives_its_linked_feeds_with_their_bytes(feed_server):
    feed_server.put("/", page(
        '<link rel="alternate" type="application/rss+xml" title="Posts" href="/feed/">',
        '<link rel="alternate" type="application/atom+xml" title="Atom" href="atom.xml">',
        '<link rel="alternate" type="application/rss+xml" title="Broken" href="/missing.xml">',
    ), "text/html; charset=utf-8")  # fmt: skip
    feed_server.put("/feed/", RSS)
    feed_server.put("/atom.xml", ATOM, "application/atom+xml")
    with Fetcher(LOOPBACK) as f:
        found = discover(f, feed_server.url(""))
    assert [(c.url, c.kind, c.title) for c in found.candidates] == [
        (feed_server.url("feed/"), "RSS", "Posts"),
        (feed_server.url("atom.xml"), "Atom", "Atom"),
    ]
    assert all(c.found == "linked from the page" for c in found.candidates)
    assert found.candidates[0].result is not None and found.candidates[0].result.content == RSS
    assert found.tried == ((feed_server.url("missing.xml"), "HTTP 404 Not Found"),)
    assert not feed_server.requests_for("/rss.xml")  # links found: no guessing


def test_without_links_the_usual_paths_are_tried(feed_server):
    feed_server.put("/", page(), "text/html")
    feed_server.put("/index.xml", RSS)
    feed_server.put("/feed.json", JSON_FEED, "application/feed+json")
    feed_server.put("/rss.xml", page(), "text/html")  # a soft 404: a page, not a feed
    with Fetcher(LOOPBACK) as f:
        found = discover(f, feed_server.url(""))
    assert [(c.url, c.kind, c.found) for c in found.candidates] == [
        (feed_server.url("index.xml"), "RSS", "common path"),
        (feed_server.url("feed.json"), "JSON Feed", "common path"),
    ]
    assert (feed_server.url("rss.xml"), "not a feed") in found.tried


def test_a_feed_address_is_its_own_only_candidate(feed_server):
    url = feed_server.put("/only.xml", ATOM, "application/atom+xml")
    with Fetcher(LOOPBACK) as f:
        found = discover(f, url)
    assert [(c.url, c.found) for c in found.candidates] == [(url, "the address itself")]
    assert len(feed_server.log) == 1


def test_discovery_goes_through_the_guard(feed_server):
    """A page on a private address is refused unless fetch.allow_private lets it through."""
    from aggregator.errors import FetchError

    feed_server.put("/", page(), "text/html")
    with Fetcher(FetchSettings(timeout=10)) as f, pytest.raises(FetchError, match="private"):
        discover(f, feed_server.url(""))
    assert not feed_server.log


def test_discovery_respects_the_size_cap(feed_server):
    from aggregator.errors import FetchError

    small = FetchSettings(timeout=10, allow_private=("127.0.0.0/8",), max_bytes=1000)
    with Fetcher(small) as f, pytest.raises(FetchError, match="larger than"):
        discover(f, feed_server.url("_big?bytes=5000"))


def test_check_discover_lists_the_candidates_with_titles(
    tmp_path, feed_server, feed_server_factory, capsys
):
    feed_server.put("/", page(
        '<link rel="alternate" type="application/rss+xml" title="Posts" href="/feed/">',
        '<link rel="alternate" type="application/feed+json" href="/feed.json">',
    ), "text/html")  # fmt: skip
    feed_server.put("/feed/", RSS)
    feed_server.put("/feed.json", JSON_FEED, "application/feed+json")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "fetch: {allow_private: ['127.0.0.0/8']}\n"
        f"sources:\n  - name: TC\n    url: {feed_server.url('feed/')}\n",
        encoding="utf-8",
    )
    assert main(["--config", str(cfg), "check", "--discover", feed_server.url("")]) == 0
    out = capsys.readouterr().out
    assert f"2 feeds found at {feed_server.url('')}:" in out
    assert f"1. TechCabal - Article Feed [en]  {feed_server.url('feed/')}" in out
    assert "RSS, 10 items, linked from the page; configured already as 'TC'" in out
    # A JSON Feed is read like the others, and offered.
    assert f"2. JSON site  {feed_server.url('feed.json')}" in out
    assert "JSON Feed, 1 item, linked from the page\n" in out
    assert "not readable here" not in out
    # A candidate that sniffs as a feed but does not parse is named, not offered.
    feed_server.put("/feed.json", b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}',
                    "application/feed+json")  # fmt: skip
    assert main(["--config", str(cfg), "check", "--discover", feed_server.url("")]) == 0
    out = capsys.readouterr().out
    assert f"1 feed found at {feed_server.url('')}:" in out
    assert (
        f"not readable here: {feed_server.url('feed.json')} "
        "(JSON Feed: not a feed: a JSON Feed with 'items' is a int)"
    ) in out

    bare = feed_server_factory(None)  # a site without any feed
    bare.put("/", page(), "text/html")
    assert main(["--config", str(cfg), "check", "--discover", bare.url("")]) == 1
    assert "no feed found" in capsys.readouterr().out
