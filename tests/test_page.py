"""The web pages of issue 17: the front page (the latest week in sections), a page per week with
stories, the tag pages, past digest issues as pages with their feed (issues.xml). A real store
through the service layer (tests/support/site.py), and hand-made stories through publish().
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from aggregator.cli import demo
from aggregator.models import Item, Story
from aggregator.publish import PublishReport, archive_weeks, publish
from aggregator.service.pipeline import publish as pipeline_publish
from aggregator.settings import OutputSettings

from support.site import BOUNDARY, NOW, TZ, site_settings, site_store

VALIDATE = Path(
    os.environ.get(
        "AGGREGATOR_VALIDATE_TOOLS",
        Path(__file__).resolve().parents[2] / "shared" / "tools" / "validate",
    )
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PublishReport]:
    root = tmp_path_factory.mktemp("site")
    settings = site_settings(root)
    store = site_store(settings.database)
    report = pipeline_publish(settings, store, NOW)
    store.close()
    return settings.output.dir, report


def page(public: Path, name: str) -> etree._Element:
    return etree.parse(str(public / name), etree.HTMLParser()).getroot()


def text(el: etree._Element) -> str:
    return " ".join("".join(el.itertext()).split())


def section_ids(doc: etree._Element) -> list[str]:
    return [s.get("id") for s in doc.xpath("//main//section[@class='part']")]


def titles(doc: etree._Element, section: str) -> list[str]:
    return [text(h) for h in doc.xpath(f"//section[@id='{section}']//article/h3")]


# ---- the front page ---------------------------------------------------------------------------


def test_front_page_is_the_latest_week_in_sections(site: tuple[Path, PublishReport]) -> None:
    public, report = site
    assert report.weeks == ("2026-W51", "2026-W50", "2026-W48")
    doc = page(public, "index.html")
    assert "14 to 20 December 2026" in text(doc.xpath("//main/h1")[0])
    # AI & Africa, AI, Africa, then the operator's topics in config order, then the rest;
    # "energy" has no story this week: no empty section
    assert section_ids(doc) == ["s-ai-africa", "s-ai", "s-africa", "s-diplomacy", "s-other"]
    assert [text(h) for h in doc.xpath("//section[@class='part']/h2")] == [
        "AI & Africa", "AI", "Africa", "Diplomacy", "Other stories"
    ]  # fmt: skip
    assert titles(doc, "s-ai-africa") == [
        "الذكاء الاصطناعي في أفريقيا",  # 18 December
        "Kenya's AI policy, explained",  # 16 December
    ]
    assert titles(doc, "s-ai") == ["Chips and more chips"]  # the AI & Africa ones are not repeated
    assert titles(doc, "s-diplomacy") == ["Embassy talks in Rabat"]
    # each story once on the page; nothing of earlier weeks
    ids = doc.xpath("//main//article/@id")
    assert len(ids) == len(set(ids))
    assert "A new model ships" not in text(doc.xpath("//main")[0])


def test_front_page_caps_a_section_and_links_the_rest(site: tuple[Path, PublishReport]) -> None:
    public, _ = site
    doc = page(public, "index.html")
    africa = titles(doc, "s-africa")
    assert len(africa) == 12
    (more,) = doc.xpath("//section[@id='s-africa']/p[@class='more']/a")
    assert text(more) == "and 2 more in Africa →"
    assert more.get("href") == "archive/2026-W51.html#s-africa"
    week = page(public, "archive/2026-W51.html")
    assert len(titles(week, "s-africa")) == 14  # the week's page has them all
    assert africa == titles(week, "s-africa")[:12]  # newest first, the same order
    assert not week.xpath("//p[@class='more']")


def test_story_outlet_also_in_tags_and_date(site: tuple[Path, PublishReport]) -> None:
    public, _ = site
    doc = page(public, "index.html")
    (kenya,) = doc.xpath("//article[h3/a[contains(., 'Kenya')]]")
    assert text(kenya.xpath(".//p[@class='meta']")[0]) == "TechCabal · Wed 16 Dec 2026, 10:00"
    assert kenya.xpath(".//p[@class='meta']//time/@datetime") == ["2026-12-16T09:00:00Z"]
    also = kenya.xpath(".//p[@class='also']//a")
    assert [(a.text, a.get("href")) for a in also] == [
        ("Rest of World", "https://news.example.net/w51-both-0")  # tracking parameter gone
    ]
    chips = kenya.xpath(".//ul[@class='chips']//a")
    assert [(a.text, a.get("href")) for a in chips] == [
        ("AI", "tags/ai.html"), ("Africa", "tags/africa.html"), ("Kenya", "tags/kenya.html")
    ]  # fmt: skip
    undated = doc.xpath("//article[h3/a[contains(., 'Sans date')]]//p[@class='meta']")[0]
    assert text(undated) == "Jeune Afrique · undated, first seen Wed 16 Dec 2026, 08:00"


def test_language_and_direction(site: tuple[Path, PublishReport]) -> None:
    public, _ = site
    for name in ("index.html", "archive/2026-W50.html", "issues/2026-W50.html"):
        doc = page(public, name)
        arabic = doc.xpath("//article[h3/a[contains(., 'الذكاء') or contains(., 'المغرب')]]")
        assert arabic and all(a.get("dir") == "rtl" and a.get("lang") == "ar" for a in arabic)
        french = doc.xpath("//article[h3/a[contains(., 'IA au Maroc') or contains(., 'brève')]]")
        assert french and all(a.get("dir") == "ltr" and a.get("lang") == "fr" for a in french)
        # our own words around a story are marked English, whatever the story's language
        assert {m.get("lang") for m in doc.xpath("//article/p[@class='meta']")} == {"en"}


def test_dates_and_weeks_follow_the_time_zone(site: tuple[Path, PublishReport]) -> None:
    """Sunday 23:30 UTC is Monday 00:30 in Casablanca: the story opens the next week."""
    public, _ = site
    w51 = page(public, "archive/2026-W51.html")
    (minuit,) = w51.xpath("//article[h3/a[contains(., 'Minuit')]]")
    assert minuit.xpath(".//time/@datetime") == ["2026-12-13T23:30:00Z"]
    assert text(minuit.xpath(".//time")[0]) == "Mon 14 Dec 2026, 00:30"
    assert "Minuit" not in text(page(public, "archive/2026-W50.html"))
    # the same story in UTC belongs to the week before
    story = _story(1, BOUNDARY)
    assert archive_weeks([_times(story)], "UTC") == {"2026-W50": [1]}
    assert archive_weeks([_times(story)], TZ) == {"2026-W51": [1]}


def _story(cid: int, published: datetime | None, seen: datetime | None = None) -> Story:
    seen = seen or (published or NOW)
    item = Item(
        id=cid, source="Le360", key=f"k{cid}", guid=None, link=f"https://le360.ma/{cid}",
        canonical_url=None, title=f"Story {cid}", summary="", content="", authors=(),
        categories=(), language="fr", published=published, updated=None, first_seen=seen,
        last_seen=seen, content_hash=f"h{cid}",
    )  # fmt: skip
    return Story(cluster_id=cid, item=item, tags=("africa",), first_seen=seen)


def _times(s: Story) -> tuple:
    it = s.item
    return (s.cluster_id, it.published, it.updated, it.first_seen, it.last_seen, s.first_seen)


def test_publish_without_the_store_uses_the_stories_weeks(tmp_path: Path) -> None:
    """publish() alone (no archive from the store) pages the weeks of the stories it is given,
    in its time zone; a story dated in the future of when it was seen goes by first seen."""
    s = OutputSettings(dir=tmp_path / "public", base_url="https://news.example.org/")
    stories = [
        _story(1, BOUNDARY),
        _story(2, datetime(2026, 12, 2, tzinfo=UTC)),
        _story(3, datetime(2027, 6, 1, tzinfo=UTC), seen=datetime(2026, 12, 3, tzinfo=UTC)),
    ]
    report = publish(stories, s, NOW, timezone=TZ)
    assert report.weeks == ("2026-W51", "2026-W49")
    assert (s.dir / "archive/2026-W49.html").is_file()
    w49 = page(s.dir, "archive/2026-W49.html")
    assert w49.xpath("//article/@id") == ["story-3", "story-2"]
    utc = publish(stories, OutputSettings(dir=tmp_path / "utc"), NOW)  # default: UTC
    assert utc.weeks == ("2026-W50", "2026-W49")


# ---- the weeks --------------------------------------------------------------------------------


def test_a_page_per_week_with_stories_linked_both_ways(site: tuple[Path, PublishReport]) -> None:
    public, _ = site
    assert sorted(p.name for p in (public / "archive").iterdir()) == [
        "2026-W48.html",
        "2026-W50.html",
        "2026-W51.html",
    ]  # fmt: skip  (no page for W49: no story)

    def pager(name: str) -> dict[str, str]:
        doc = page(public, name)
        navs = doc.xpath("//nav[@class='pager']")
        assert navs, name
        return {a.get("rel"): a.get("href") for a in navs[0].xpath("a")}

    assert pager("archive/2026-W51.html") == {"prev": "2026-W50.html"}
    assert pager("archive/2026-W50.html") == {"prev": "2026-W48.html", "next": "2026-W51.html"}
    assert pager("archive/2026-W48.html") == {"next": "2026-W50.html"}
    front = page(public, "index.html")
    weeks = front.xpath("//section[@id='weeks']//a")
    assert [(a.findtext("bdi"), a.findtext("span"), a.get("href")) for a in weeks] == [
        ("14–20 Dec 2026", "19", "archive/2026-W51.html"),
        ("7–13 Dec 2026", "3", "archive/2026-W50.html"),
        ("23–29 Nov 2026", "1", "archive/2026-W48.html"),
    ]
    assert front.xpath("//nav[@class='pager']/a/@href") == ["archive/2026-W50.html"]
    w50 = page(public, "archive/2026-W50.html")
    assert text(w50.xpath("//main/h1")[0]) == "Week of 7 to 13 December 2026"
    assert w50.findtext(".//title") == "AI & Africa — week of 7 to 13 December 2026"


def test_every_link_between_pages_resolves(site: tuple[Path, PublishReport]) -> None:
    public, _ = site
    pages = sorted(p.relative_to(public).as_posix() for p in public.rglob("*.html"))
    assert {"index.html", "tags/kenya.html", "issues/2026-W50.html"} <= set(pages)
    checked = 0
    for name in pages:
        doc = page(public, name)
        for href in doc.xpath("//a/@href | //link/@href"):
            if "://" in href:
                continue
            path, _, anchor = href.partition("#")
            target = (
                posixpath.normpath(posixpath.join(posixpath.dirname(name), path)) if path else name
            )
            assert (public / target).is_file(), f"{name}: {href}"
            if anchor:
                assert page(public, target).xpath(f"//*[@id='{anchor}']"), f"{name}: {href}"
            checked += 1
    assert checked > 200


def test_tag_pages_stay_lists_newest_first(site: tuple[Path, PublishReport]) -> None:
    public, _ = site
    doc = page(public, "tags/morocco.html")
    assert [text(h) for h in doc.xpath("//main//article/h2")] == [
        "المغرب يطلق استراتيجية رقمية",  # 10 December
        "L'IA au Maroc : un plan national",  # 8 December
    ]
    # Morocco sits under "More tags" (the side column); the top says where the reader is
    assert doc.xpath("//aside//section[@id='tags']//a[@aria-current='page']/@href") == [
        "morocco.html"
    ]
    assert text(doc.xpath("//li[@class='moretags']/a")[0]) == "Morocco ↓"


def test_pages_are_rewritten_only_when_they_change(tmp_path: Path) -> None:
    settings = site_settings(tmp_path)
    store = site_store(settings.database)
    first = pipeline_publish(settings, store, NOW)
    assert {"archive/2026-W48.html", "issues/2026-W50.html", "issues.xml"} <= {
        p.as_posix() for p in first.written
    }
    again = pipeline_publish(settings, store, datetime(2027, 1, 1, tzinfo=UTC))
    assert again.written == ()


# ---- past digest issues -----------------------------------------------------------------------


def test_issue_page_shows_the_frozen_issue(site: tuple[Path, PublishReport]) -> None:
    public, report = site
    assert report.issues == ("2026-W50",)
    doc = page(public, "issues/2026-W50.html")
    assert text(doc.xpath("//main/h1")[0]) == "AI & Africa — 7 to 13 December 2026"
    assert [text(p) for p in doc.xpath("//div[@class='intro']/p")] == [
        "Morocco's national AI plan leads this week.",
        "Also: a new model, and a digital strategy in Arabic.",
    ]
    assert [text(h) for h in doc.xpath("//section[@class='part']/h2")] == [
        "AI & Africa", "AI", "Africa"
    ]  # fmt: skip
    (more,) = doc.xpath("//section[@id='s-africa']/p[@class='more']/a")
    assert text(more) == "and 5 more in Africa →"
    assert more.get("href") == "https://news.example.org/tags/africa.html"
    # the same look as the front page: the shared base (header, tag chips, side column)
    for name in ("index.html", "issues/2026-W50.html"):
        d = page(public, name)
        assert d.xpath("//header[@class='site']") and d.xpath("//nav[@class='tags']")
        assert d.xpath("//aside[@class='side']//section[@id='weeks']")
    # linked from the front page, and every story link without its tracking parameters
    front = page(public, "index.html")
    assert front.xpath("//section[@id='issues']//a/@href") == ["issues/2026-W50.html"]
    assert "utm_" not in (public / "issues/2026-W50.html").read_text("utf-8")


def test_issues_feed(site: tuple[Path, PublishReport]) -> None:
    public, _ = site
    root = etree.parse(str(public / "issues.xml")).getroot()
    assert root.tag == "rss" and root.get("version") == "2.0"
    (item,) = root.findall("channel/item")
    assert item.findtext("title") == "AI & Africa — 7 to 13 December 2026"
    assert item.findtext("link") == "https://news.example.org/issues/2026-W50.html"
    assert item.findtext("guid") == "tag:news.example.org,2025:issue/2026-W50"
    assert item.findtext("pubDate") == "Sun, 13 Dec 2026 23:00:00 +0000"  # the week's end
    body = etree.fromstring(f"<x>{item.findtext('description')}</x>", etree.HTMLParser())
    assert "Morocco's national AI plan leads this week." in text(body)
    assert body.xpath("//a/@href")[-1] == "https://news.example.org/issues/2026-W50.html"
    assert "and 5 more in Africa" in text(body) and "utm_" not in item.findtext("description")


def _validate_rss(path: Path) -> str:
    tool = VALIDATE / "validate_rss.py"
    if not tool.exists() or not (VALIDATE / ".venv").exists():
        pytest.skip(f"validators not found in {VALIDATE} (run its install.sh)")
    proc = subprocess.run(
        [sys.executable, str(tool), str(path)], capture_output=True, text=True, timeout=120
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    return output


def test_issues_feed_validates(site: tuple[Path, PublishReport], tmp_path: Path) -> None:
    output = _validate_rss(site[0] / "issues.xml")
    assert [ln for ln in output.splitlines() if ln.startswith(("WARNING", "ERROR"))] == []
    # before any issue was sent: an empty but valid feed, which the pages already link to
    s = OutputSettings(dir=tmp_path / "public", base_url="https://news.example.org/")
    publish([], s, NOW)
    empty = s.dir / "issues.xml"
    channel = etree.parse(str(empty)).getroot().find("channel")
    assert channel.findall("item") == []
    # no clock in the bytes: the date of an empty site is fixed, so the file is never rewritten
    assert channel.findtext("lastBuildDate") == "Thu, 01 Jan 1970 00:00:00 +0000"
    _validate_rss(empty)


# ---- the bundled demo -------------------------------------------------------------------------


@pytest.mark.slow
def test_bundled_demo_puts_every_story_on_one_week_page(tmp_path: Path) -> None:
    out = io.StringIO()
    assert demo.run_demo(tmp_path, out) == 0
    public = tmp_path / "public"
    front = page(public, "index.html")
    assert section_ids(front) and front.xpath("//main//article")
    weeks = front.xpath("//section[@id='weeks']//a/@href")
    assert len(weeks) >= 3
    assert sorted(p.name for p in (public / "archive").iterdir()) == sorted(
        Path(h).name for h in weeks
    )
    assert f"({len(weeks)} pages)" in out.getvalue()
    ids: list[str] = []
    for href in weeks:
        doc = page(public, href)
        ids += doc.xpath("//main//article/@id")
        for art in doc.xpath("//main//article[@lang='ar']"):
            assert art.get("dir") == "rtl"
    assert len(ids) == len(set(ids)) == 70  # 70 stories in the sample, each in exactly one week
    feed = json.loads((public / "feed.json").read_text("utf-8"))
    assert {f"story-{i['_aggregator']['cluster']}" for i in feed["items"]} <= set(ids)


@pytest.mark.slow
def test_sending_an_issue_publishes_its_page_and_feed(tmp_path: Path) -> None:
    """`digest --send` publishes at once: the issue's page and its item in issues.xml, without
    waiting for the next refresh that changes something."""
    from aggregator.cli.main import main

    assert demo.run_demo(tmp_path, io.StringIO()) == 0
    public = tmp_path / "public"
    week = demo.current_week(datetime.now(UTC))
    assert not (public / "issues" / f"{week}.html").exists()  # a dry run freezes nothing
    assert (
        main(["--config", str(tmp_path / "config.yaml"), "digest", "--send", "--week", week]) == 0
    )
    doc = page(public, f"issues/{week}.html")
    assert doc.xpath("//main//article"), "the issue page lists the issue's stories"
    items = etree.parse(str(public / "issues.xml")).xpath("//item/link/text()")
    assert [link for link in items if link.endswith(f"issues/{week}.html")]
