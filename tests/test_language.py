"""An item's language: the source's configured ``language`` wins over what the feed declares
(``<language>``, ``xml:lang``, Content-Language); an item whose text is clearly in another script
is read as if nothing were configured; without a configured language, the declared one corrected
by the script. Both readers, the worker path (the tagger sees the same language) and a whole
refresh from a loopback server into a real store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aggregator.config import load
from aggregator.parse import parse, parse_fast, parse_feedparser
from aggregator.service.pipeline import Pipeline
from aggregator.store import Store

NOW = datetime(2026, 9, 1, tzinfo=UTC)
URL = "https://news.example.org/feed"
READERS = {"fast": parse_fast, "feedparser": parse_feedparser, "parse": parse}

FRENCH = (
    "Le Maroc et le Sénégal lancent un centre de recherche en intelligence artificielle",
    "Les deux pays ouvriront à Rabat un laboratoire commun consacré aux modèles de langue.",
)
ARABIC = (
    "المغرب والسنغال يطلقان مركزا للبحث في الذكاء الاصطناعي",
    "سيفتتح البلدان في الرباط مختبرا مشتركا مخصصا لنماذج اللغة.",
)
ENGLISH = (
    "Morocco and Senegal open an artificial intelligence research centre",
    "The two countries will open a joint laboratory in Rabat devoted to language models.",
)


def rss(*items: tuple[str, str], channel_lang: str | None = "en") -> bytes:
    lang = f"<language>{channel_lang}</language>" if channel_lang else ""
    body = "".join(
        f"<item><title>{t}</title><link>https://news.example.org/{i}</link>"
        f"<guid>https://news.example.org/{i}</guid><description>{d}</description></item>"
        for i, (t, d) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://news.example.org/</link><description>d</description>{lang}{body}"
        "</channel></rss>"
    ).encode()


def languages(reader: str, doc: bytes, configured: str | None, headers=None) -> list[str | None]:
    feed = READERS[reader](doc, URL, headers, configured, now=NOW)
    assert feed is not None, "the fast path must read these documents"
    return [it.language for it in feed.items]


@pytest.mark.parametrize("reader", READERS)
def test_configured_language_beats_the_feeds_language(reader):
    """The bundled French feeds say <language>en</language>: their items are French."""
    assert languages(reader, rss(FRENCH), "fr") == ["fr"]
    feed = READERS[reader](rss(FRENCH), URL, None, "fr", now=NOW)
    assert feed is not None and feed.language == "fr"


@pytest.mark.parametrize("reader", READERS)
def test_configured_language_beats_header_and_item_xml_lang(reader):
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xml:lang="en"><title>A</title><id>urn:a</id><updated>2026-08-30T10:00:00Z</updated>'
        '<entry xml:lang="en-US"><id>urn:a:1</id><title>' + FRENCH[0] + "</title>"
        "<updated>2026-08-30T10:00:00Z</updated><summary>" + FRENCH[1] + "</summary></entry></feed>"
    ).encode()
    assert languages(reader, atom, "fr") == ["fr"]
    assert languages(reader, atom, None) == ["en-us"]
    headers = {"Content-Language": "de"}
    assert languages(reader, rss(FRENCH, channel_lang=None), "fr", headers) == ["fr"]
    assert languages(reader, rss(FRENCH, channel_lang=None), None, headers) == ["de"]


@pytest.mark.parametrize("reader", READERS)
def test_without_a_configured_language_the_feed_and_the_script_decide(reader):
    """Today's rule, unchanged: the declared language unless the script contradicts it."""
    assert languages(reader, rss(FRENCH, ARABIC), None) == ["en", "ar"]
    assert languages(reader, rss(ENGLISH, channel_lang="ar"), None) == [None]
    assert languages(reader, rss(FRENCH, channel_lang=None), None) == [None]


@pytest.mark.parametrize("reader", READERS)
def test_arabic_items_of_a_source_configured_ar_whose_feed_says_en(reader):
    assert languages(reader, rss(ARABIC, ARABIC), "ar") == ["ar", "ar"]


@pytest.mark.parametrize("reader", READERS)
def test_an_item_in_another_script_is_read_as_if_nothing_were_configured(reader):
    """A multilingual outlet's Arabic story in a source configured fr is not published as
    French left-to-right text, nor tagged with French lexicons; the same for Latin in ar."""
    assert languages(reader, rss(FRENCH, ARABIC), "fr") == ["fr", "ar"]
    assert languages(reader, rss(ENGLISH, ARABIC), "ar") == ["en", "ar"]  # the feed says en
    assert languages(reader, rss(ENGLISH, channel_lang=None), "ar") == [None]
    # a few Arabic letters quoted in French text do not contradict fr
    quoted = (FRENCH[0] + " (المغرب)", FRENCH[1])
    assert languages(reader, rss(quoted), "fr") == ["fr"]


def test_the_tagger_reads_the_language_the_item_is_stored_with():
    from aggregator.service.workers import Job, prepare_feed
    from aggregator.tagging import Tagger

    seen: list[str | None] = []

    class Recording(Tagger):
        def tag(self, title, summary="", language=None, source_tags=()):
            seen.append(language)
            return super().tag(title, summary, language, source_tags)

    tagger = Recording.from_settings({}, 1.0)
    job = Job(rss(FRENCH, ARABIC), URL, {}, "fr", (), {})
    prepared = prepare_feed(job, tagger)
    assert not isinstance(prepared, Exception)
    stored = [parsed.language for _key, _hash, parsed, _prep in prepared.items]
    assert stored == ["fr", "ar"]
    assert seen == stored


def test_a_refresh_stores_the_configured_language(tmp_path, feed_server):
    """Three sources on a real loopback server, read into a real store: a French feed that says
    en (configured fr, and the same feed unconfigured) and an Arabic one that says en."""
    feed_server.put("fr.xml", rss(FRENCH), "application/rss+xml; charset=utf-8")
    feed_server.put("ar.xml", rss(ARABIC), "application/rss+xml; charset=utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: agg.db\n"
        "output: {dir: public, base_url: 'https://news.example.org/'}\n"
        "fetch: {timeout: 10s, allow_private: ['127.0.0.0/8'], workers: 8}\n"
        "digest: {outbox: outbox, recipients: [reader@example.org]}\n"
        "sources:\n"
        f"  - {{name: configured, url: '{feed_server.url('fr.xml')}', language: fr}}\n"
        f"  - {{name: unconfigured, url: '{feed_server.url('fr.xml')}?copy'}}\n"
        f"  - {{name: arabic, url: '{feed_server.url('ar.xml')}', language: ar}}\n",
        encoding="utf-8",
    )
    settings = load(config)
    with Store(settings.database) as store:
        Pipeline(settings, store, clock=lambda: NOW).refresh()
        got = {s.name: [it.language for it in store.items(s.name)] for s in settings.sources}
    assert got == {"configured": ["fr"], "unconfigured": ["en"], "arabic": ["ar"]}
