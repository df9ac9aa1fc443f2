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
    outlines = root.findall("body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [s.url for s in sources]
    assert {o.get("type") for o in outlines} == {"rss"}
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
    assert "0 added, 5 already present, 0 skipped (5 feeds" in report
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
    assert "6 added, 2 already present, 1 skipped (9 feeds" in report


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
    assert exported.count("<outline ") == len(config.load(path).sources)
    (tmp_path / "s.opml").write_text(exported, encoding="utf-8")
    other = tmp_path / "other.yaml"
    other.write_text("sources:\n  - name: Other\n    url: https://other.example/rss\n", "utf-8")
    assert main(["--config", str(other), "opml", "import", str(tmp_path / "s.opml")]) == 0
    assert config.load(other).sources[1:] == config.load(path).sources
    assert f"{len(config.load(path).sources)} added" in capsys.readouterr().out
