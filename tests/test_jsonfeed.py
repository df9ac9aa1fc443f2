"""JSON Feed as input: real feeds (tests/data/jsonfeed/, origins in its README), hostile ones
(huge, deeply nested, wrong types, broken), dispatch by body and Content-Type, a JSON Feed source
followed through the pipeline on the loopback server, and our own feed.json read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.config import load
from aggregator.errors import ParseError
from aggregator.models import Enclosure
from aggregator.parse import MAX_ITEMS, parse
from aggregator.parse.jsonfeed import MAX_JSON_ITEMS
from aggregator.sanitize import MAX_HTML, MAX_TITLE
from aggregator.service.pipeline import Pipeline, publish
from aggregator.store import Store
from aggregator.text import plain_text

DATA = Path(__file__).parent / "data" / "jsonfeed"
DEMO = Path(__file__).resolve().parents[1] / "aggregator" / "data" / "demo"
URL = "https://example.org/feed.json"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
JSON_TYPE = {"Content-Type": "application/feed+json"}
V11 = "https://jsonfeed.org/version/1.1"


def read(name: str, **kw):
    return parse((DATA / name).read_bytes(), URL, JSON_TYPE, now=NOW, **kw)


def doc(items: object, **feed: object) -> bytes:
    return json.dumps({"version": V11, "title": "T", **feed, "items": items}).encode()


# ---------------------------------------------------------------- real feeds

REAL = {
    # file: (feed title, feed link, number of items, first item's title)
    "daringfireball-1.1.json": ("Daring Fireball", "https://daringfireball.net/", 48,
                                "MailTrackerBlocker for Apple Mail on MacOS"),
    "daringfireball-1.0.json": ("Daring Fireball", "https://daringfireball.net/", 48,
                                "‘Spectre’ Trailer Re-Cut to With Roger Moore as Bond"),
    "timetable-podcast-1.0.json": ("Timetable", "http://timetable.manton.org/", 45,
                                   "Episode 45: Launch week"),
    "maybepizza-1.0.json": ("Maybe Pizza?", "http://maybepizza.com/", 10,
                            "GE's Monogram Pizza Oven Is Probably a Bad Idea"),
    "jsonfeed-blog-1.0.json": ("JSON Feed", "https://jsonfeed.org/", 1, "Announcing JSON Feed"),
    "simple-bom.json": ("My Example Feed", "https://example.org/", 2, ""),
    "feedparser-example-1.0.json": ("My Example Feed", "https://example.org/", 2, "post 2"),
    "spec-1.1-simple.json": ("My Example Feed", "https://example.org/", 2, ""),
    "spec-1.1-podcast.json": ("The Record", "http://therecord.co/", 1,
                              "Special #1 - Chris Parrish"),
    "spec-1.1-microblog.json": ("Brent Simmons’s Microblog", "https://example.org/", 1, ""),
}  # fmt: skip


def test_every_fixture_is_listed_with_its_origin():
    files = {p.name for p in DATA.glob("*.json")}
    assert files == set(REAL)
    readme = (DATA / "README.md").read_text("utf-8")
    assert all(f"`{name}`" in readme for name in files)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_json_feeds_are_read(name):
    title, link, count, first = REAL[name]
    feed = read(name)
    assert (feed.title, feed.link, len(feed.items), feed.warning) == (title, link, count, None)
    assert feed.items[0].title.startswith(first)
    for it in feed.items:
        assert it.guid and it.link and it.link.startswith("http")
        assert it.summary or it.content
        assert "<script" not in it.content and "<script" not in it.summary


def test_daring_fireball_dates_authors_and_links():
    new, old = read("daringfireball-1.1.json").items[0], read("daringfireball-1.0.json").items[0]
    assert new.published == datetime(2021, 2, 27, 1, 6, 30, tzinfo=UTC)
    assert new.updated == datetime(2021, 2, 27, 1, 9, 39, tzinfo=UTC)
    assert new.authors == ("John Gruber",)  # 1.1: "authors": [{...}]
    assert old.authors == ("John Gruber",)  # 1.0: "author": {...}
    # "url" is the item's own page; "external_url" (the linked article) only stands in for it
    assert new.link == "https://daringfireball.net/linked/2021/02/26/mailtrackerblocker"
    assert new.guid == new.link
    assert "<blockquote>" in new.content and new.summary == new.content


def test_podcast_attachments_become_enclosures_and_summary_is_kept_apart():
    (ep,) = read("spec-1.1-podcast.json").items
    assert ep.enclosures == (
        Enclosure(
            "http://therecord.co/downloads/The-Record-sp1e1-ChrisParrish.m4a",
            "audio/x-m4a",
            89970236,
        ),
    )
    assert ep.summary.startswith("Brent interviews Chris Parrish")
    assert '<a href="http://adobe.com/"' in ep.content  # content_html wins over content_text
    assert ep.published == datetime(2014, 5, 9, 21, 4, tzinfo=UTC)  # -07:00 to UTC
    first = read("timetable-podcast-1.0.json").items[0]
    assert first.enclosures[0].type == "audio/mpeg" and first.enclosures[0].length == 5236920


def test_plain_text_content_feed_authors_and_untitled_items():
    (post,) = read("spec-1.1-microblog.json").items
    assert post.title == "" and post.authors == ("Brent Simmons",)  # the feed's authors
    assert plain_text(post.content) == "Cats are neat. https://example.org/cats"
    assert "<" not in post.content.replace("<br", "").replace("<p", "").replace("</p", "")
    example = read("feedparser-example-1.0.json")
    second, first = example.items
    assert second.categories == ("test", "JSON")
    assert second.authors == ("me",) and first.authors == ("you",)
    assert plain_text(first.content) == "Hello, world!"  # its <script> is gone


# ---------------------------------------------------------------- dispatch and fields


def test_dispatch_by_body_and_by_content_type():
    body = doc([{"id": "1", "url": "https://example.org/1", "title": "One"}])
    for ctype in ("application/feed+json", "application/json", "text/html", "text/plain"):
        assert parse(body, URL, {"Content-Type": ctype}, now=NOW).items[0].title == "One"
    assert parse(body, URL, now=NOW).items[0].title == "One"  # no Content-Type at all
    utf16 = body.decode().encode("utf-16")
    assert parse(utf16, URL, now=NOW).items[0].title == "One"
    # an XML feed labelled JSON is read as XML; JSON content type, junk body: a clear error
    rss = (DEMO / "techcabal-en.xml").read_bytes()
    assert len(parse(rss, URL, {"Content-Type": "application/json"}, now=NOW).items) == 10
    with pytest.raises(ParseError, match=r"not a feed: broken JSON at line 1, column 1"):
        parse(b"nope", URL, {"Content-Type": "application/feed+json"}, now=NOW)


def test_fields_follow_the_specification():
    item = {
        "id": 42,
        "external_url": "https://elsewhere.example/story",
        "title": "AT&T&#8217;s <buys>things",
        "summary": "Short & plain",
        "content_text": "Line one\n\nLine <two>",
        "date_published": "2026-12-01T10:00:00.123+01:00",
        "date_modified": "2026-12-02T10:00:00Z",
        "authors": [{"name": "A. Writer"}, {"url": "https://x.example/"}, "bob", {"name": 3}],
        "tags": ["IA", 7, "Afrique"],
        "language": "fr_FR",
        "attachments": [
            {"url": "/media/a.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 10},
            {"url": "javascript:alert(1)"},
            {"url": "https://x.example/b.pdf", "size_in_bytes": "many"},
        ],
    }
    feed = parse(doc([item], language="en", home_page_url="/"), URL, now=NOW)
    (it,) = feed.items
    assert it.guid == "42" and it.link == "https://elsewhere.example/story"
    assert it.title == "AT&T’s things"  # entities decoded once, tag-shaped text dropped
    assert plain_text(it.summary) == "Short & plain"
    assert "Line one" in it.content and "Line &lt;two&gt;" in it.content  # text, not markup
    assert it.published == datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
    assert it.updated == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert it.authors == ("A. Writer",) and it.categories == ("IA", "Afrique")
    assert it.language == "fr-fr" and feed.language == "en" and feed.link == "https://example.org/"
    assert it.enclosures == (
        Enclosure("https://example.org/media/a.mp3", "audio/mpeg", 10),
        Enclosure("https://x.example/b.pdf", None, None),
    )
    # the source's configured language wins, as for XML feeds
    assert parse(doc([item]), URL, language_hint="ar", now=NOW).items[0].language == "fr-fr"
    assert parse(doc([item]), URL, language_hint="en", now=NOW).items[0].language == "en"


def test_dates_outside_the_plausible_window_are_dropped():
    items = [
        {"id": "a", "url": "https://e.org/a", "date_published": "2099-01-01T00:00:00Z"},
        {"id": "b", "url": "https://e.org/b", "date_published": "1970-01-01T00:00:00Z"},
        {"id": "c", "url": "https://e.org/c", "date_published": "Tue, 01 Dec 2026 10:00:00 GMT"},
        {"id": "d", "url": "https://e.org/d", "date_published": 1764583200},
    ]
    got = [i.published for i in parse(doc(items), URL, now=NOW).items]
    assert got == [None, None, datetime(2026, 12, 1, 10, 0, tzinfo=UTC), None]


def test_an_empty_json_feed_is_a_feed():
    feed = parse(doc([]), URL, now=NOW)
    assert feed.items == () and feed.title == "T" and feed.warning is None


# ---------------------------------------------------------------- hostile documents

BROKEN = {
    "truncated": (doc([{"id": "1"}])[:-7], r"broken JSON at line 1, column \d+"),
    "trailing-comma": (b'{"version": "x",\n "items": [1,]}', r"broken JSON at line 2, column 14"),
    "array": (b'[{"title": "x"}]', r"a JSON list, not a JSON Feed object"),
    "not-a-feed": (b'{"error": "rate limited"}', r"a JSON body that is not a JSON Feed"),
    "items-not-list": (doc({"id": "1"}), r"a JSON Feed with 'items' is a dict"),
    "no-items": (json.dumps({"version": V11}).encode(), r"a JSON Feed with no items list"),
    "deep": (b'{"version": "%s", "items": [' % V11.encode() + b"[" * 200_000 + b"]" * 200_000
             + b"]}", r"JSON nested too deeply"),
    "huge-int": (b'{"version": "x", "items": [{"id": ' + b"9" * 10_000 + b"}]}",
                 r"unreadable JSON|broken JSON"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_json_is_a_clear_parse_error(name):
    body, message = BROKEN[name]
    with pytest.raises(ParseError) as info:
        parse(body, URL, JSON_TYPE, now=NOW)
    assert info.value.url == URL
    assert info.value.message.startswith("not a feed: ")
    assert __import__("re").search(message, info.value.message), info.value.message


WRONG_TYPES = [
    {"id": {"a": "b"}, "url": "https://e.org/1", "title": [1, 2, 3]},
    {"id": float("nan"), "url": 7, "external_url": "https://e.org/2", "title": None},
    {"id": True, "url": "https://e.org/3", "authors": 5, "author": "x", "tags": "ai"},
    {"id": "4", "url": "https://e.org/4", "content_html": {"x": 1}, "summary": ["s"]},
    {"id": "5", "url": "https://e.org/5", "attachments": {"url": "https://e.org/a"}},
    {"id": "6", "url": "https://e.org/6", "date_published": ["2026"], "language": 12},
    "not an object",
    None,
    {},
]


def test_wrong_types_are_ignored_field_by_field():
    body = json.dumps({"version": V11, "title": ["x"], "author": [1], "items": WRONG_TYPES})
    feed = parse(body.encode(), URL, now=NOW)
    assert feed.title == "" and feed.warning == "3 items with nothing usable skipped"
    links = [i.link for i in feed.items]
    assert links == [f"https://e.org/{n}" for n in range(1, 7)]
    first, second, third, fourth, fifth, sixth = feed.items
    assert first.guid is None and first.title == ""
    assert second.guid is None and third.guid is None  # NaN and true are no ids
    assert third.authors == () and third.categories == ()
    assert fourth.content == "" and fourth.summary == ""
    assert fifth.enclosures == () and sixth.published is None and sixth.language is None


def test_huge_documents_are_capped():
    many = [{"id": str(n), "url": f"https://e.org/{n}",
             "date_published": f"2026-{n % 12 + 1:02d}-01T00:00:00Z"}
            for n in range(MAX_JSON_ITEMS + 500)]  # fmt: skip
    feed = parse(doc(many), URL, now=NOW)
    assert len(feed.items) == MAX_ITEMS
    assert feed.warning == f"only the first {MAX_JSON_ITEMS} of {MAX_JSON_ITEMS + 500} items read"
    kept = sorted(i.published for i in feed.items if i.published)
    assert len(kept) == MAX_ITEMS and kept[0] >= datetime(2026, 11, 1, tzinfo=UTC)  # the newest
    big = [{"id": "1", "url": "https://e.org/1", "title": "T " * 400_000,
            "content_html": "<p>" + "word " * 400_000 + "</p>"}]  # fmt: skip
    (it,) = parse(doc(big), URL, now=NOW).items
    assert len(it.title) <= MAX_TITLE and len(it.content) <= MAX_HTML + 100


def test_markup_is_sanitised_and_links_limited_to_http():
    item = {
        "id": "1",
        "url": "javascript:alert(1)",
        "title": "<img src=x onerror=alert(1)>Title",
        "content_html": '<p onclick="x()">Hi<script>alert(1)</script>'
        '<a href="javascript:alert(1)">j</a><iframe src="https://e.org"></iframe></p>',
    }
    (it,) = parse(doc([item]), URL, now=NOW).items
    assert it.link is None
    assert "onerror" not in it.title and "Title" in it.title
    for bad in ("<script", "onclick", "javascript:", "<iframe"):
        assert bad not in it.content and bad not in it.summary


# ---------------------------------------------------------------- the pipeline


def _config(tmp_path: Path, sources: list[tuple[str, str]]) -> Path:
    path = tmp_path / "config.yaml"
    entries = "".join(f"  - name: {n}\n    url: {u}\n" for n, u in sources)
    path.write_text(
        "database: agg.db\n"
        "output: {dir: public, base_url: 'https://news.example.org/'}\n"
        "fetch: {timeout: 10s, allow_private: ['127.0.0.0/8']}\n"
        "sources:\n" + entries,
        encoding="utf-8",
    )
    return path


def test_our_feed_json_round_trips_and_can_be_followed(tmp_path, feed_server_factory):
    """Publish the demo feeds, read public/feed.json back: the same items. Then follow it (and
    a broken JSON Feed) as sources: stored, and the broken one recorded with its error."""
    demo = feed_server_factory(DEMO)
    first = _config(tmp_path, [("TechCabal", demo.url("techcabal-en.xml")),
                               ("Hespress", demo.url("hespress-ar.xml")),
                               ("JA", demo.url("jeune-afrique-fr.xml"))])  # fmt: skip
    settings = load(first)
    with Store(settings.database) as store, Pipeline(settings, store) as pipe:
        assert pipe.refresh().count("ok") == 3
        publish(settings, store)
    body = (tmp_path / "public" / "feed.json").read_bytes()
    published = json.loads(body)["items"]
    feed = parse(body, "https://news.example.org/feed.json", JSON_TYPE)
    assert feed.title == json.loads(body)["title"] and feed.warning is None
    assert len(feed.items) == len(published) >= 20
    for out, back in zip(published, feed.items, strict=True):
        assert back.guid == out["id"] and back.link == out.get("url")
        assert back.title == out["title"]
        assert back.published == (
            datetime.fromisoformat(out["date_published"]) if "date_published" in out else None
        )
        modified = out.get("date_modified")
        assert back.updated == (datetime.fromisoformat(modified) if modified else None)
        assert back.categories == tuple(out.get("tags", ()))
        assert back.language == out.get("language")
        assert back.authors == (out["authors"][0]["name"],)
        assert plain_text(back.summary) == out.get("summary", plain_text(out["content_html"]))
        assert plain_text(back.content) == plain_text(out["content_html"])
    assert {i.language for i in feed.items} >= {"ar", "en"}

    site = feed_server_factory(tmp_path / "public")
    broken = feed_server_factory(None)
    broken.put("/feed.json", body[: len(body) // 2], "application/feed+json")
    path = _config(tmp_path / "public", [("Ourselves", site.url("feed.json")),
                                         ("Broken", broken.url("feed.json"))])  # fmt: skip
    settings = load(path)
    with Store(settings.database) as store, Pipeline(settings, store) as pipe:
        report = pipe.refresh()
        states = {s.name: s for s in store.source_states()}
    assert states["Ourselves"].state == "ok" and states["Ourselves"].items == len(published)
    assert states["Broken"].state in ("error", "backing-off")
    assert (states["Broken"].last_error or "").startswith("not a feed: broken JSON at line ")
    assert {o.name for o in report.outcomes if o.error} == {"Broken"}
