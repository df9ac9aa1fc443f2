"""OPML export and import: round trip through config.yaml, real reader exports, safety."""

from __future__ import annotations

import difflib
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from aggregator import config
from aggregator.cli import opml
from aggregator.cli.main import main
from aggregator.errors import ConfigError
from aggregator.models import Source
from aggregator.site import tag_name

DATA = Path(__file__).parent / "data" / "opml"
PACKAGED = config.PACKAGED_CONFIG


def _empty_sources_copy(tmp_path: Path) -> Path:
    """The packaged config (comments and all) with its sources list emptied: ``sources: []``."""
    text = PACKAGED.read_text(encoding="utf-8")
    start = text.index("\nsources:\n") + 1
    end = text.index("\n# Operator topics")
    path = tmp_path / "config.yaml"
    path.write_text(text[:start] + "sources: []   # filled by opml import\n" + text[end:], "utf-8")
    return path


def _only_insertions(old: str, new: str) -> list[str]:
    """Lines the change removed or altered (should be none)."""
    sm = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    return [
        line
        for op, i1, i2, _, _ in sm.get_opcodes()
        if op in ("replace", "delete")
        for line in old.splitlines()[i1:i2]
    ]


def test_export_is_opml_2_with_one_rss_outline_per_source():
    sources = [
        Source("Hespress AR", "https://www.hespress.com/feed", "ar", ("africa",)),
        Source("Rest of World", "https://restofworld.org/feed/latest/", "en"),
        Source("R&D <news>", "https://example.org/feed?a=1&b=2"),
    ]
    text = opml.export_opml(sources, "AI & Africa", now=datetime(2026, 11, 30, 7, tzinfo=UTC))
    root = etree.fromstring(text.encode())
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "AI & Africa"
    assert root.findtext("head/dateCreated") == "Mon, 30 Nov 2026 07:00:00 GMT"
    outlines = root.findall(".//outline[@xmlUrl]")
    assert [o.get("xmlUrl") for o in outlines] == [s.url for s in sources]
    assert {o.get("type") for o in outlines} == {"rss"}
    # a tagged source sits in its first tag's folder; the others at the top
    (folder,) = root.findall("body/outline[@text='Africa']")
    assert folder.get("xmlUrl") is None and folder.find("outline") is outlines[0]
    assert [o.get("text") for o in root.findall("body/outline")[1:]] == [
        "Rest of World", "R&D <news>",
    ]  # fmt: skip
    assert outlines[0].get("text") == outlines[0].get("title") == "Hespress AR"
    assert outlines[0].get("language") == "ar"
    assert outlines[0].get("category") == "africa"
    assert outlines[1].get("category") is None
    assert outlines[2].get("text") == "R&D <news>"


def test_round_trip_into_an_empty_config_gives_the_same_sources_and_keeps_comments(tmp_path):
    original = config.load(PACKAGED).sources
    exported = tmp_path / "sources.opml"
    exported.write_text(opml.export_opml(original, "t"), encoding="utf-8")
    path = _empty_sources_copy(tmp_path)
    before = path.read_text(encoding="utf-8")

    out = io.StringIO()
    assert opml.import_into_config(path, exported, out) == 0

    after = path.read_text(encoding="utf-8")
    assert config.load(path).sources == original  # names, URLs, languages, tags, order
    # every comment and line kept in place; only the empty list marker goes
    assert _only_insertions(before, after) == ["sources: []   # filled by opml import"]
    assert "\nsources: # filled by opml import\n  - name: Maroc Diplomatique\n" in after
    assert after.count("\n# ") == before.count("\n# ")
    assert f"{len(original)} added, 0 already present" in out.getvalue()


def test_importing_the_same_file_again_changes_nothing(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(PACKAGED.read_bytes())
    exported = tmp_path / "sources.opml"
    exported.write_text(opml.export_opml(config.load(path).sources, "t"), encoding="utf-8")

    out = io.StringIO()
    assert opml.import_into_config(path, exported, out) == 0

    assert path.read_bytes() == PACKAGED.read_bytes()
    assert "0 added" in out.getvalue() and "unchanged" in out.getvalue()
    assert out.getvalue().count("present  ") == len(config.load(path).sources)


def test_newsboat_export_of_feeds_already_configured_adds_nothing(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(PACKAGED.read_bytes())
    out = io.StringIO()

    opml.import_into_config(path, DATA / "newsboat-export.opml", out)

    report = out.getvalue()
    assert "0 added, 5 already present, 0 skipped (5 outlines" in report
    assert "https://www.hespress.com/feed  (already in config.yaml as 'Hespress AR')" in report
    assert path.read_bytes() == PACKAGED.read_bytes()


def test_newsboat_export_into_a_config_without_those_feeds(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "# my feeds\nsources:\n- name: Other\n  url: https://other.example/rss\n", "utf-8"
    )
    opml.import_into_config(path, DATA / "newsboat-export.opml", io.StringIO())
    sources = config.load(path).sources
    assert [s.name for s in sources] == [
        "Other", "TechCabal", "Rest of World", "هسبريس", "Ars Technica - All content",
        "The Africa Report.com",
    ]  # fmt: skip
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# my feeds\nsources:\n- name: Other\n")  # the operator's style kept
    assert "\n- name: TechCabal\n  url: https://techcabal.com/feed/\n" in text


def test_freshrss_export_nested_folders_duplicates_and_scrapers(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "sources:\n  - name: TechCabal\n    url: https://techcabal.com/feed/\n", encoding="utf-8"
    )
    out = io.StringIO()
    opml.import_into_config(path, DATA / "freshrss-export.opml", out)
    report = out.getvalue()

    by_url = {s.url: s.name for s in config.load(path).sources}
    assert by_url["https://www.jeuneafrique.com/feed/"] == "Jeune Afrique"
    # same name, another URL: added under a unique name, and reported
    assert by_url["https://www.jeuneafrique.com/rubriques/economie-entreprises/feed/"] == (
        "Jeune Afrique (jeuneafrique.com)"
    )
    assert "renamed  'Jeune Afrique' to 'Jeune Afrique (jeuneafrique.com)'" in report
    # trailing-slash variant of a configured URL, and a URL listed twice: present, not added
    assert "https://techcabal.com/feed  (already in config.yaml as 'TechCabal')" in report
    assert "(already in config.yaml as 'Jeune Afrique')" in report
    # a FreshRSS web scraper is not a feed
    assert "https://example.org/ai-africa/" not in by_url
    assert "HTML+XPath scraping source" in report
    assert by_url["https://www.skynewsarabia.com/web/rss"] == "سكاي نيوز عربية"
    assert "6 added, 2 already present, 1 skipped (9 outlines" in report


def test_parse_keeps_folders_and_reads_categories_as_tags():
    feeds = opml.parse_opml((DATA / "freshrss-export.opml").read_bytes())
    assert feeds[0].folder == ("Afrique",) and feeds[0].html_url == "https://www.jeuneafrique.com/"
    exported = opml.export_opml([Source("A", "https://a.example/rss", "fr", ("ai", "africa"))], "t")
    (feed,) = opml.parse_opml(exported.encode())
    assert (feed.name, feed.language, feed.tags, feed.type) == ("A", "fr", ("ai", "africa"), "rss")


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("broken.opml", r"broken\.opml:\d+: not well-formed XML"),
        ("not-opml.xml", r"not-opml\.xml:1: not an OPML file"),
    ],
    ids=["malformed", "rss-not-opml"],
)
def test_bad_opml_is_a_clear_error_and_the_config_is_untouched(tmp_path, name, pattern):
    path = tmp_path / "config.yaml"
    path.write_bytes(PACKAGED.read_bytes())
    with pytest.raises(ConfigError) as err:
        opml.import_into_config(path, DATA / name, io.StringIO())
    assert re.search(pattern, str(err.value))
    assert path.read_bytes() == PACKAGED.read_bytes()


def test_external_entities_are_refused_not_resolved():
    with pytest.raises(ConfigError, match="entity"):
        opml.parse_opml((DATA / "entity.opml").read_bytes(), "entity.opml")


def test_an_import_that_would_leave_the_config_invalid_is_refused(tmp_path):
    path = tmp_path / "config.yaml"
    text = "sources: []\nfetch:\n  intervall: 30m\n"  # a typo the validator reports
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        opml.import_into_config(path, DATA / "newsboat-export.opml", io.StringIO())
    assert any("intervall" in p and str(path) in p for p in err.value.problems)
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temp file left


def test_add_sources_text_follows_the_operators_indentation():
    text = "sources:\n    -   name: A\n        url: https://a.example/   # first\n\n# next\nx: 1\n"
    new = opml.add_sources_text(text, [Source("B: two", "https://b.example/?q=1#x", "fr", ("ai",))])
    assert new == (
        "sources:\n    -   name: A\n        url: https://a.example/   # first\n"
        '    -   name: "B: two"\n        url: "https://b.example/?q=1#x"\n'
        "        language: fr\n        tags: [ai]\n\n# next\nx: 1\n"
    )


def test_cli_export_then_import(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_bytes(PACKAGED.read_bytes())
    assert main(["--config", str(path), "opml", "export"]) == 0
    exported = capsys.readouterr().out
    assert exported.count(" xmlUrl=") == len(config.load(path).sources)
    (tmp_path / "s.opml").write_text(exported, encoding="utf-8")
    other = tmp_path / "other.yaml"
    other.write_text("sources:\n  - name: Other\n    url: https://other.example/rss\n", "utf-8")
    assert main(["--config", str(other), "opml", "import", str(tmp_path / "s.opml")]) == 0
    assert config.load(other).sources[1:] == config.load(path).sources
    assert f"{len(config.load(path).sources)} added" in capsys.readouterr().out


# ---- outlines that are not feeds, folders, names: real exports of newsboat, Miniflux, FreshRSS --

try:
    from support.feedserver import FeedServer
except ImportError:  # pragma: no cover
    from support.feedserver import FeedServer

DEMO_FEEDS = Path(__file__).resolve().parents[1] / "aggregator" / "data" / "demo"
TOPICS = "topics:\n" + "".join(
    f"  {t}:\n    en: [{t.replace('-', ' ')}]\n"
    for t in ("tech", "blogs", "friends", "category-1", "category-2", "my-feeds", "some-category")
)


def _import(tmp_path: Path, fixture: str | Path, head: str = "sources: []\n") -> tuple[str, Path]:
    path = tmp_path / "config.yaml"
    path.write_text(head, encoding="utf-8")
    out = io.StringIO()
    assert opml.import_into_config(path, DATA / fixture, out) == 0
    return out.getvalue(), path


def test_bookmarks_includes_and_notes_are_skipped_with_a_line_each(tmp_path):
    report, path = _import(tmp_path, "bookmarks-and-feeds.opml")
    assert 'skipped  https://au.int/  (a bookmark (type="link"), not a feed)' in report
    assert "skipped  'A reading list' (line 13)  (no xmlUrl: not a feed)" in report
    assert "skipped  'Just a note about the site' (line 14)  (no xmlUrl: not a feed)" in report
    sources = {s.name: s for s in config.load(path).sources}
    assert set(sources) == {"Jeune Afrique", "TechCabal"}
    assert sources["Jeune Afrique"].tags == ("africa",)  # the folder "Africa" names a tag
    assert sources["TechCabal"].tags == ()  # "Tech" does not (no topic of that name) ...
    assert "no tag   'tech' of 'TechCabal'" in report  # ... and the report says so
    assert "2 added, 0 already present, 3 skipped (5 outlines" in report


def test_nested_folders_become_tags_when_the_config_has_them(tmp_path):
    report, path = _import(tmp_path, "newsboat-example.opml", "sources: []\n" + TOPICS)
    tags = {s.name: s.tags for s in config.load(path).sources}
    assert tags["Notes by Mike"] == ("blogs", "friends")  # Blogs / friends
    assert tags["John's musings"] == ("blogs",)
    assert tags["Fred on everything"] == ()
    assert "no tag   'eloquent' of 'Fred on everything'" in report
    assert tags["example.com website"] == ()


def test_newsboat_url_attribute_and_missing_url(tmp_path):
    _report, path = _import(tmp_path, "newsboat-xmlurl-missing-but-url-exists.opml")
    assert [s.url for s in config.load(path).sources] == ["https://example.com/feed.xml"]
    feeds = opml.parse_opml((DATA / "newsboat-xmlurl-and-url-missing.opml").read_bytes())
    assert [(f.url, f.skip) for f in feeds] == [
        ("https://example.com/feed.xml", None), ("", "no xmlUrl: not a feed"),
    ]  # fmt: skip


def test_nameless_outlines_of_real_exports_are_planned_for_naming():
    """newsboat writes title="" for a feed it has no name for; Miniflux's tests import outlines
    with no title at all: neither becomes a source named after its host."""
    for fixture in ("newsboat-category.opml", "miniflux-empty-title.opml"):
        feeds = opml.parse_opml((DATA / fixture).read_bytes())
        plan = opml.plan_import([], feeds, set())
        assert plan.nameless == tuple(f.url for f in feeds) and all(not f.name for f in feeds)
    (bbc,) = opml.parse_opml((DATA / "newsboat-category.opml").read_bytes())
    assert bbc.tags == ()  # "tag one", "tag_two", "tag/three": no slugs, nothing invented


def test_freshrss_scraper_from_its_docs_is_skipped(tmp_path):
    report, _path = _import(
        tmp_path, "freshrss-docs-xpath.opml", "sources:\n  - name: A\n    url: https://a.example/\n"
    )
    assert "skipped  https://www.example.net/page.html  (a HTML+XPath scraping source" in report
    assert "unchanged" in report


def test_a_nameless_feed_is_named_after_its_own_title_fetched_once(tmp_path):
    with FeedServer(root=DEMO_FEEDS) as srv:
        good, bad = srv.url("techcabal-en.xml"), srv.url("_status/500")
        doc = tmp_path / "nameless.opml"
        doc.write_text(
            '<?xml version="1.0"?>\n<opml version="2.0"><head/><body>\n'
            f'<outline type="rss" xmlUrl="{good}" title=""/>\n'
            f'<outline type="rss" xmlUrl="{bad}"/>\n</body></opml>\n',
            encoding="utf-8",
        )
        path = tmp_path / "config.yaml"
        path.write_text("fetch:\n  allow_private: [127.0.0.0/8]\nsources: []\n", "utf-8")
        out = io.StringIO()
        assert opml.import_into_config(path, doc, out) == 0
        fetched = [r.path for r in srv.log]
    names = {s.url: s.name for s in config.load(path).sources}
    assert names[good] == "TechCabal - Article Feed"
    assert (
        f"named    'TechCabal - Article Feed' from the feed's own title  {good}" in out.getvalue()
    )
    host = bad.split("/")[2]
    assert names[bad] == f"{host}/_status/500" and names[bad] != host
    assert "the feed did not give its title: HTTP 500" in out.getvalue()
    assert fetched.count("/techcabal-en.xml") == 1


def test_without_allow_private_the_title_fetch_is_refused_like_any_fetch(tmp_path):
    with FeedServer(root=DEMO_FEEDS) as srv:
        url = srv.url("techcabal-en.xml")
        doc = tmp_path / "n.opml"
        doc.write_text(
            f'<opml version="2.0"><body><outline type="rss" xmlUrl="{url}"/></body></opml>', "utf-8"
        )
        path = tmp_path / "config.yaml"
        path.write_text("sources: []\n", "utf-8")
        out = io.StringIO()
        opml.import_into_config(path, doc, out)
        assert srv.log == []  # nothing reached the private address
    assert "the feed did not give its title" in out.getvalue()


@pytest.mark.parametrize(
    "fixture", ["newsboat-example.opml", "miniflux-export.opml", "freshrss-export.opml"]
)
def test_round_trip_with_reader_exports_keeps_sources_and_folders(tmp_path, fixture):
    """A reader's export imported, exported again and imported into an empty config gives the
    same sources (names, URLs, tags from folders) in the same order; folders are folders."""
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir(), second_dir.mkdir()
    _, first = _import(first_dir, fixture, "sources: []\n" + TOPICS)
    sources = config.load(first).sources
    exported = opml.export_opml(sources, "t")
    root = etree.fromstring(exported.encode())
    for s in sources:
        (outline,) = root.xpath(".//outline[@xmlUrl=$u]", u=s.url)
        parent = outline.getparent()
        if s.tags:
            shown = tag_name(s.tags[0])
            assert parent.get("text") == (
                shown if opml.folder_slug(shown) == s.tags[0] else s.tags[0]
            )
        else:
            assert parent.tag == "body"
    (second_dir / "x.opml").write_text(exported, encoding="utf-8")
    _, second = _import(second_dir, second_dir / "x.opml", "sources: []\n" + TOPICS)
    assert config.load(second).sources == sources
    if fixture == "miniflux-export.opml":
        assert [s.tags for s in sources] == [("category-1",), ("category-1",), ("category-2",)]
