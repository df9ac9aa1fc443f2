"""The published site and the subscribe pages in the operator's language (``output.locale``,
default ``digest.locale``): no English chrome on a French site, dates from CLDR, and a digest
issue's page in the language it was sent in, even after the site's locale changes."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from aggregator.digest import build_digest
from aggregator.models import Digest, DigestSection
from aggregator.service.pipeline import publish as pipeline_publish
from aggregator.service.subscribe import Request, SubscribePages
from aggregator.settings import Settings
from aggregator.store import Store

from support.site import NOW, site_settings, site_store

#: The English words of the pages' chrome that a French site must not show.
ENGLISH_CHROME = [
    "Latest week", "More tags", "Past weeks", "Weekly issues", "Weekly issue", "Feeds:",
    "weekly issues (RSS)", "Get the weekly digest", "newest first", "Newest first",
    "the whole week on one page", "updated", "Week of", "week of", "Earlier:", "undated",
    "first seen", "Also in:", "more in", "Published by", "Times are", "Other stories",
    "No stories", "every issue by RSS", "None yet", "Dec 2026", "December",
]  # fmt: skip
ENGLISH_LABELS = {"Tags", "Archive", "Sections", "Weeks", "Issues"}
PAGES = ["index.html", "tags/africa.html", "tags/morocco.html", "archive/2026-W50.html",
         "archive/2026-W51.html", "issues/2026-W51.html"]  # fmt: skip
W51 = datetime(2026, 12, 13, 23, tzinfo=UTC)  # Monday 14 December, 00:00 in Casablanca


def _settings(root: Path, output_locale: str = "", digest_locale: str = "en") -> Settings:
    s = site_settings(root)
    return replace(
        s,
        output=replace(s.output, locale=output_locale),
        digest=replace(s.digest, locale=digest_locale),
    )


def _freeze_french_issue(store: Store) -> Digest:
    """The issue of 2026-W51 as a French digest freezes it (``digest.locale: fr``)."""
    stories = store.stories_between(W51, W51 + timedelta(days=7))
    digest = build_digest(
        "2026-W51", W51, W51 + timedelta(days=7), stories, subject="IA & Afrique — {dates}",
        timezone="Africa/Casablanca", locale="fr", base_url="https://news.example.org/",
        per_section=2,
    )  # fmt: skip
    assert digest.locale == "fr" and digest.subject == "IA & Afrique — 14 au 20 décembre 2026"
    return store.freeze_digest(digest, W51 + timedelta(days=7, hours=8))


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("db")
    store = site_store(root / "agg.db")
    _freeze_french_issue(store)
    store.close()
    return root / "agg.db"


def _publish(root: Path, store_path: Path, **locales: str) -> Path:
    settings = replace(_settings(root, **locales), database=store_path)
    store = Store(store_path)
    try:
        pipeline_publish(settings, store, NOW)
    finally:
        store.close()
    return settings.output.dir


def _doc(path: Path) -> etree._Element:
    return etree.parse(str(path), etree.HTMLParser()).getroot()


def _chrome_text(doc: etree._Element, issue: bool = False) -> str:
    """The page's own words: everything but the stories' titles, excerpts, outlets and tag
    names (they are the outlets' words), and the frozen issues' subjects and intro (the
    subjects also name the links to the issues before and after)."""
    doc = etree.fromstring(etree.tostring(doc), etree.HTMLParser())
    drop = (
        "//article//h2 | //article//h3 | //p[@class='excerpt'] | //bdi | //div[@class='intro']"
        " | //ul[@class='chips'] | //ul[@class='issues'] | //h1 | //head"
    )
    if issue:
        drop += " | //nav[@class='pager']"  # fmt: skip
    for el in doc.xpath(drop):
        el.getparent().remove(el)
    return " ".join("".join(doc.itertext()).split())


def test_a_french_site_shows_no_english_chrome(tmp_path: Path, store_path: Path) -> None:
    public = _publish(tmp_path, store_path, digest_locale="fr")  # output.locale: from digest
    for name in PAGES:
        doc = _doc(public / name)
        assert doc.get("lang") == "fr" and doc.get("dir") == "ltr", name
        words = _chrome_text(doc, issue=name.startswith("issues/"))
        found = [w for w in ENGLISH_CHROME if re.search(rf"\b{re.escape(w)}", words)]
        assert not found, (name, found, words)
        labels = set(doc.xpath("//@aria-label"))
        assert not labels & ENGLISH_LABELS, (name, labels)
    front = _doc(public / "index.html")
    assert "Dernière semaine" in front.findtext(".//nav[@class='tags']//a/bdi")
    assert front.xpath("//main/h1/span/text()") == ["14 au 20 décembre 2026"]
    assert front.xpath("//section[@id='weeks']//a/bdi/text()")[:2] == [
        "14–20 déc. 2026",
        "7–13 déc. 2026",
    ]
    assert "ven. 18 déc. 2026" in _chrome_text(front)  # stories' dates, from CLDR
    assert "Maroc" in front.xpath("//aside//section[@id='tags']//bdi/text()")  # country: CLDR
    assert front.xpath("//li[@class='moretags']/a/text()") == ["Autres thèmes\xa0↓"]
    # the front page links to the form of ``serve``, beside digest.unsubscribe_url
    assert front.xpath("//header//a[@class='join']/@href") == ["https://news.example.org/subscribe"]
    feed = etree.parse(str(public / "issues.xml")).getroot()
    assert feed.findtext("channel/language") == "fr"
    assert feed.findtext("channel/title") == "AI & Africa — lettres hebdomadaires"


def test_the_english_site_keeps_its_words(tmp_path: Path, store_path: Path) -> None:
    """The control: the same check finds the English words on an English site."""
    public = _publish(tmp_path, store_path)
    words = _chrome_text(_doc(public / "index.html"))
    assert {"More tags", "Past weeks", "updated", "Published by", "newest first"} <= {
        w for w in ENGLISH_CHROME if w in words
    }


def test_an_issue_frozen_in_french_stays_french_when_the_site_turns_english(
    tmp_path: Path, store_path: Path
) -> None:
    fr = _publish(tmp_path / "fr", store_path, digest_locale="fr")
    en = _publish(tmp_path / "en", store_path, output_locale="en", digest_locale="fr")
    for public in (fr, en):
        issue = _doc(public / "issues/2026-W51.html")
        assert issue.get("lang") == "fr"
        lede = " ".join("".join(issue.xpath("//p[@class='lede']")[0].itertext()).split())
        assert lede == "Lettre hebdomadaire · 14 au 20 décembre 2026 · toutes les lettres en RSS"
        assert issue.xpath("//main//section[@class='part']/h2/text()")[0] == "IA & Afrique"
        assert "Semaines passées" in issue.xpath("//aside//h2/text()")
    front = _doc(en / "index.html")
    assert front.get("lang") == "en" and "Past weeks" in front.xpath("//aside//h2/text()")
    # the older issue recorded no locale: its English section titles say how it was sent
    legacy = _doc(en / "issues/2026-W50.html")
    assert legacy.get("lang") == "en"
    assert _doc(fr / "issues/2026-W50.html").get("lang") == "en"
    # issues.xml: the channel in the site's language, each issue's summary in its own
    feed = etree.parse(str(en / "issues.xml")).getroot()
    assert feed.findtext("channel/language") == "en"
    items = {i.findtext("guid").rsplit("/", 1)[1]: i.findtext("description") for i in
             feed.iter("item")}  # fmt: skip
    assert "Lire cette lettre sur le web" in items["2026-W51"]
    assert "Read this issue on the web" in items["2026-W50"]


def test_the_frozen_issue_keeps_its_locale(tmp_path: Path) -> None:
    store = Store(tmp_path / "agg.db")
    try:
        start = datetime(2026, 12, 6, 23, tzinfo=UTC)
        digest = Digest("2026-W50", start, start + timedelta(days=7), "Sujet",
                        (DigestSection("ai", "IA", ()),), locale="fr")  # fmt: skip
        store.freeze_digest(digest, start)
        assert [d.locale for d in store.frozen_digests()] == ["fr"]
    finally:
        store.close()


def test_arabic_site_is_right_to_left(tmp_path: Path, store_path: Path) -> None:
    public = _publish(tmp_path, store_path, output_locale="ar")
    front = _doc(public / "index.html")
    assert front.get("lang") == "ar" and front.get("dir") == "rtl"
    assert "الأسبوع الأخير" in front.xpath("//nav[@class='tags']//bdi/text()")
    # an English story keeps its own direction inside the right-to-left page
    assert front.xpath("//article[.//a[text()='Chips and more chips']]/@dir") == ["ltr"]


def _page(settings: Settings, path: str) -> tuple[int, str]:
    store = Store(settings.database)
    try:
        status, _, body = SubscribePages(settings, store, b"k" * 32).handle(Request("GET", path))
    finally:
        store.close()
    return status, body.decode("utf-8")


def test_subscribe_pages_speak_the_site_language_with_its_header(tmp_path: Path) -> None:
    settings = _settings(tmp_path, digest_locale="fr")
    status, html = _page(settings, "/subscribe")
    doc = etree.fromstring(html, etree.HTMLParser())
    assert status == 200 and doc.get("lang") == "fr"
    assert doc.findtext(".//title") == "S’abonner · AI & Africa"
    assert doc.xpath("//main/h1/text()") == ["Recevoir la lettre hebdomadaire par e-mail"]
    # the published site's header: its title linking home, its chips, its feeds
    assert doc.xpath("//header//p[@class='brand']/a/@href") == ["https://news.example.org/"]
    assert doc.xpath("//nav[@class='tags']//bdi/text()")[:4] == [
        "Dernière semaine", "IA & Afrique", "IA", "Afrique"]  # fmt: skip
    assert doc.xpath("//header//a[text()='RSS']/@href") == ["https://news.example.org/feed.xml"]
    words = _chrome_text(doc)
    for english in (
        "Email address",
        "Your name",
        "Topics",
        "Languages",
        "Subscribe",
        "We will send",
    ):
        assert english not in words, english
    assert "Adresse e-mail" in words and "Thèmes" in words
    # the optional name (the joining mails greet by it) is labelled in French too
    assert doc.xpath("//label[@for='name']/text()") == ["Votre nom "]
    assert doc.xpath("//input[@id='name']/@name") == ["name"]
    status, html = _page(settings, "/nowhere")
    assert status == 404 and "Page introuvable" in html
    # English by default, and the same header as the front page
    status, html = _page(_settings(tmp_path / "en"), "/subscribe")
    assert status == 200 and 'lang="en"' in html and "Email address" in html
    assert 'class="brand"' in html and "Latest week" in html
