"""publish, what readers see of order, links and ids (issue 17): newest first by publication date
in every format, undated and future-dated items on their first-seen time, canonical links for the
story and "also in", ids that survive a change of ``output.base_url``, tag names in categories
and titles. Hand-made stories, a real store through the service layer, and the bundled corpus.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from lxml import etree

from aggregator.cli import demo
from aggregator.models import Item, Outlet, ParsedItem, Story, Tagging
from aggregator.normalize import reader_links
from aggregator.publish import publish
from aggregator.service.pipeline import publish as pipeline_publish
from aggregator.settings import OutputSettings, Settings
from aggregator.store import Store

ATOM = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


def _day(d: int, hour: int = 8) -> datetime:
    return datetime(2026, 3, d, hour, tzinfo=UTC)


def story(
    cid: int,
    *,
    published: datetime | None,
    seen: datetime,
    updated: datetime | None = None,
    source: str = "Le360",
    tags: tuple[str, ...] = ("africa",),
    link: str | None = None,
    canonical: str | None = None,
    also: tuple[Outlet, ...] = (),
) -> Story:
    link = link or f"https://le360.ma/{cid}"
    item = Item(
        id=cid, source=source, key=f"k{cid}", guid=None, link=link,
        canonical_url=canonical or link, title=f"Story {cid}", summary="", content="",
        authors=(), categories=(), language="fr", published=published, updated=updated,
        first_seen=seen, last_seen=seen, content_hash=f"h{cid}",
    )  # fmt: skip
    return Story(cluster_id=cid, item=item, also_in=also, tags=tags, first_seen=seen)


def out_settings(tmp_path: Path, base_url: str = "https://news.example.org/") -> OutputSettings:
    return OutputSettings(dir=tmp_path / "public", base_url=base_url, title="AI & Africa")


def orders(public: Path, stem: str = "") -> dict[str, list[str]]:
    """Entry ids in document order, per format, for the combined feed or tag ``stem``."""
    names = (
        {"rss": f"tags/{stem}.xml", "atom": f"tags/{stem}.atom", "json": f"tags/{stem}.json",
         "html": f"tags/{stem}.html"}
        if stem
        else {"rss": "feed.xml", "atom": "atom.xml", "json": "feed.json", "html": "index.html"}
    )  # fmt: skip
    rss = etree.parse(str(public / names["rss"]))
    atom = etree.parse(str(public / names["atom"]))
    page = etree.parse(str(public / names["html"]), etree.HTMLParser())
    return {
        "rss": [g.text for g in rss.iter("guid")],
        "atom": [e.findtext(f"{ATOM}id") for e in atom.iter(f"{ATOM}entry")],
        "json": [i["id"] for i in json.loads((public / names["json"]).read_text("utf-8"))["items"]],
        "html": [a.get("id").replace("story-", "tag:news.example.org,2025:story/")
                 for a in page.iter("article")],
    }  # fmt: skip


def ids(*cids: int) -> list[str]:
    return [f"tag:news.example.org,2025:story/{c}" for c in cids]


# ---- order ------------------------------------------------------------------------------------


def test_newest_first_by_publication_date_across_fetch_batches(tmp_path: Path) -> None:
    """Two fetch batches: the later batch carries old stories (a backlog), the earlier one new
    stories. Every format, combined and per tag, follows the publication date."""
    batch_old_news = [story(1, published=_day(1), seen=_day(12)),
                      story(2, published=_day(2), seen=_day(12))]  # fmt: skip
    batch_fresh = [story(3, published=_day(8), seen=_day(10)),
                   story(4, published=_day(4), seen=_day(10))]  # fmt: skip
    s = out_settings(tmp_path)
    publish([*batch_old_news, *batch_fresh], s, NOW)
    for stem in ("", "africa"):
        got = orders(s.dir, stem)
        # the front page holds the latest week (2-8 March): story 1 (1 March) is on last week's
        html = got.pop("html")
        assert got == dict.fromkeys(("rss", "atom", "json"), ids(3, 4, 2, 1)), stem
        assert html == ids(3, 4, 2) if not stem else ids(3, 4, 2, 1), stem
    week = etree.parse(str(s.dir / "archive/2026-W09.html"), etree.HTMLParser())
    assert [a.get("id") for a in week.iter("article")] == ["story-1"]


def test_undated_and_future_dates_fall_back_to_first_seen(tmp_path: Path) -> None:
    stories = [
        story(1, published=_day(5), seen=_day(5, 9)),
        story(2, published=None, seen=_day(7)),  # undated: sorts on first seen (day 7)
        story(3, published=_day(30), seen=_day(3)),  # dated in the future of when it was seen
        story(4, published=_day(4, 9) + timedelta(minutes=30), seen=_day(4, 9)),  # clock skew
        story(5, published=None, updated=_day(6), seen=_day(6, 9)),  # only <updated>: dated
    ]
    s = out_settings(tmp_path)
    publish(stories, s, NOW)
    assert orders(s.dir)["json"] == ids(2, 5, 1, 4, 3)
    items = {i["id"]: i for i in json.loads((s.dir / "feed.json").read_text("utf-8"))["items"]}
    # undated or untrustworthy: no publication date is made up
    for cid in (2, 3):
        assert "date_published" not in items[ids(cid)[0]], cid
    assert items[ids(4)[0]]["date_published"] == "2026-03-04T09:30:00Z"  # within the tolerance
    assert items[ids(5)[0]]["date_published"] == "2026-03-06T08:00:00Z"
    rss = {i.findtext("guid"): i for i in etree.parse(str(s.dir / "feed.xml")).iter("item")}
    assert rss[ids(2)[0]].find("pubDate") is None and rss[ids(3)[0]].find("pubDate") is None
    assert rss[ids(1)[0]].findtext("pubDate") == "Thu, 05 Mar 2026 08:00:00 +0000"
    atom = {
        e.findtext(f"{ATOM}id"): e
        for e in etree.parse(str(s.dir / "atom.xml")).iter(f"{ATOM}entry")
    }
    undated = atom[ids(2)[0]]
    assert undated.find(f"{ATOM}published") is None
    assert undated.findtext(f"{ATOM}updated") == "2026-03-07T08:00:00+00:00"  # first seen
    page = (s.dir / "index.html").read_text("utf-8")
    assert page.count(">undated</span>") == 2


def test_feeds_and_digest_share_one_date_rule(tmp_path: Path) -> None:
    """Item.own_date is the one rule: the date a feed publishes is the date the digest shows."""
    from aggregator.digest import story_date

    cases = [
        story(1, published=_day(5), seen=_day(5, 9)),
        story(2, published=None, seen=_day(7)),
        story(3, published=_day(30), seen=_day(3)),
        story(4, published=_day(4, 9) + timedelta(minutes=59), seen=_day(4, 9)),
        story(5, published=_day(4, 10) + timedelta(minutes=1), seen=_day(4, 9)),
        story(6, published=_day(30), updated=_day(2), seen=_day(3)),  # future: <updated> stands in
        story(7, published=datetime(2026, 3, 2, 8), seen=_day(3)),  # naive: read as UTC
    ]
    expected = [_day(5), None, None, _day(4, 9) + timedelta(minutes=59), None, _day(2), _day(2)]
    assert [st.item.own_date for st in cases] == expected
    s = out_settings(tmp_path)
    publish(cases, s, NOW)
    items = {i["id"]: i for i in json.loads((s.dir / "feed.json").read_text("utf-8"))["items"]}
    for st, want in zip(cases, expected, strict=True):
        when, dated = story_date(st)
        assert (when, dated) == ((want, True) if want else (st.first_seen, False))
        published = items[ids(st.cluster_id)[0]].get("date_published")
        assert published == (want.isoformat().replace("+00:00", "Z") if want else None)


def test_ties_are_broken_by_first_seen_then_cluster_id_whatever_the_input_order(
    tmp_path: Path,
) -> None:
    same = _day(5)
    stories = [
        story(10, published=same, seen=_day(6)),
        story(11, published=same, seen=_day(6)),
        story(12, published=same, seen=_day(7)),
        story(13, published=same, seen=_day(5, 9)),
    ]
    a, b = out_settings(tmp_path / "a"), out_settings(tmp_path / "b")
    publish(stories, a, NOW)
    publish(list(reversed(stories)), b, NOW)
    assert orders(a.dir)["json"] == ids(12, 11, 10, 13)
    for name in ("feed.xml", "atom.xml", "feed.json", "index.html", "tags/africa.json"):
        assert (a.dir / name).read_bytes() == (b.dir / name).read_bytes(), name


def test_max_items_keeps_the_newest_by_date(tmp_path: Path) -> None:
    stories = [story(c, published=_day(c), seen=_day(20 - c)) for c in range(1, 6)]
    s = replace(out_settings(tmp_path), max_items=2)
    publish(stories, s, NOW)
    assert orders(s.dir)["json"] == ids(5, 4)


# ---- links ------------------------------------------------------------------------------------


def test_story_link_loses_its_tracking_parameters_and_nothing_else(tmp_path: Path) -> None:
    """Readers follow the outlet's own link (scheme, www., trailing slash kept: the canonical
    form is for matching) without utm_*/fbclid."""
    tracked = "http://www.le360.ma/article-7/?utm_source=rss&id=3&utm_medium=rss&fbclid=abc"
    s = out_settings(tmp_path)
    publish(
        [reader_links(story(7, published=_day(5), seen=_day(5), link=tracked,
                            canonical="https://le360.ma/article-7"))],
        s, NOW,
    )  # fmt: skip
    for name in ("feed.xml", "atom.xml", "feed.json", "index.html"):
        text = (s.dir / name).read_text("utf-8")
        assert "utm_" not in text and "fbclid" not in text, name
        assert "http://www.le360.ma/article-7/?id=3" in text, name


def _add(store: Store, source: str, key: str, link: str, when: datetime, **kw: object) -> int:
    parsed = ParsedItem(guid=key, link=link, title=f"Title {key}", summary="<p>x</p>",
                        language="fr", published=when)  # fmt: skip
    canonical = re.sub(r"\?.*$", "", link).replace("://www.", "://")
    return store.insert_item(
        source, key, canonical, parsed, "h" + key, Tagging(tags=("africa",)), when
    )


def service_settings(tmp_path: Path, base_url: str) -> Settings:
    return Settings(
        path=tmp_path / "config.yaml",
        database=tmp_path / "agg.db",
        sources=(),
        output=out_settings(tmp_path, base_url),
    )


def test_also_in_links_lose_tracking_through_the_service(tmp_path: Path) -> None:
    store = Store(tmp_path / "agg.db")
    store.sync_sources([("Le360", "http://127.0.0.1/a"), ("Hespress", "http://127.0.0.1/b")])
    rep = _add(store, "Le360", "a", "https://le360.ma/ia?utm_source=rss&fbclid=1", _day(5))
    cid = store.new_cluster(rep, _day(5))
    other = _add(store, "Hespress", "b", "https://www.hespress.com/ia?utm_campaign=x", _day(5))
    store.join_cluster(other, cid, _day(5))
    settings = service_settings(tmp_path, "https://news.example.org/")
    pipeline_publish(settings, store, NOW)
    public = settings.output.dir
    (item,) = json.loads((public / "feed.json").read_text("utf-8"))["items"]
    assert item["url"] == "https://le360.ma/ia"
    assert item["_aggregator"]["also_in"] == [
        {"source": "Hespress", "url": "https://www.hespress.com/ia"}
    ]
    for name in ("feed.xml", "atom.xml", "feed.json", "index.html", "tags/africa.xml"):
        text = (public / name).read_text("utf-8")
        assert "utm_" not in text and "fbclid" not in text, name


# ---- stable ids -------------------------------------------------------------------------------


def _all_ids(public: Path) -> tuple[list[str], list[str], list[str]]:
    got = orders(public)
    return got["json"], got["atom"], got["rss"]


def test_ids_survive_a_change_of_base_url(tmp_path: Path) -> None:
    store = Store(tmp_path / "agg.db")
    store.sync_sources([("Le360", "http://127.0.0.1/a")])
    for n in range(3):
        store.new_cluster(_add(store, "Le360", f"s{n}", f"https://le360.ma/{n}", _day(n + 1)), NOW)
    first = service_settings(tmp_path, "https://news.example.org/")
    pipeline_publish(first, store, NOW)
    before = _all_ids(first.output.dir)
    assert before[0] and all(i.startswith("tag:news.example.org,2025:story/") for i in before[0])

    moved = service_settings(tmp_path, "https://aggregator.elsewhere.net/ai/")
    pipeline_publish(moved, store, NOW)
    after = _all_ids(moved.output.dir)
    assert after == before  # JSON Feed id, Atom <id>, RSS <guid>
    # the links did move with the base URL: only the ids stayed
    doc = json.loads((moved.output.dir / "feed.json").read_text("utf-8"))
    assert doc["feed_url"] == "https://aggregator.elsewhere.net/ai/feed.json"
    assert store.meta_setdefault("id_authority", "ignored") == "news.example.org"


def test_publish_takes_the_id_authority_it_is_given(tmp_path: Path) -> None:
    s = out_settings(tmp_path, "https://moved.example.com/")
    publish([story(1, published=_day(1), seen=_day(1))], s, NOW, id_authority="first.example")
    assert orders(s.dir)["json"] == ["tag:first.example,2025:story/1"]


# ---- categories and titles --------------------------------------------------------------------


def test_tag_names_in_categories_and_feed_titles(tmp_path: Path) -> None:
    s = out_settings(tmp_path)
    publish(
        [story(1, published=_day(1), seen=_day(1), tags=("africa", "cote-d-ivoire"))],
        s, NOW, tag_names={"cote-d-ivoire": "Côte d’Ivoire"},
    )  # fmt: skip
    rss = etree.parse(str(s.dir / "tags/cote-d-ivoire.xml")).getroot()
    assert rss.findtext("channel/title") == "AI & Africa — Côte d’Ivoire"
    cats = [(c.text, c.get("domain")) for c in rss.iter("category")]
    assert cats == [("Africa", "africa"), ("Côte d’Ivoire", "cote-d-ivoire")]
    atom = etree.parse(str(s.dir / "tags/cote-d-ivoire.atom")).getroot()
    assert atom.findtext(f"{ATOM}title") == "AI & Africa — Côte d’Ivoire"
    terms = [(c.get("term"), c.get("label")) for c in atom.iter(f"{ATOM}category")]
    assert terms == [("africa", "Africa"), ("cote-d-ivoire", "Côte d’Ivoire")]
    doc = json.loads((s.dir / "tags/africa.json").read_text("utf-8"))
    assert doc["title"] == "AI & Africa — Africa"
    assert "::" not in doc["title"] and doc["title"].count(":") == 0


# ---- the bundled corpus -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_public(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    assert demo.run_demo(root, io.StringIO()) == 0
    return root / "public"


def _when(item: dict) -> str:
    return item.get("date_published") or item["_aggregator"]["first_seen"]


@pytest.mark.parametrize("name", ["feed.json", "tags/africa.json", "tags/ai.json"])
def test_bundled_corpus_is_in_date_order(demo_public: Path, name: str) -> None:
    items = json.loads((demo_public / name).read_text("utf-8"))["items"]
    assert len(items) >= 5
    dates = [datetime.fromisoformat(_when(i).replace("Z", "+00:00")) for i in items]
    inversions = [(a, b) for a, b in pairwise(dates) if a < b]
    assert inversions == []


def test_bundled_corpus_has_no_tracking_links(demo_public: Path) -> None:
    files = [p for p in demo_public.rglob("*") if p.is_file()]
    assert len(files) > 8
    tracked = [p.name for p in files if re.search(r"utm_|fbclid", p.read_text("utf-8"))]
    assert tracked == []
