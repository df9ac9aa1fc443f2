"""A source's ``tags:`` applied to every item (``tagging.apply_source_tags``), its ``prior:``
kept for the tagger, and both carried through OPML."""

from __future__ import annotations

import io

import pytest

from aggregator import config
from aggregator.cli import opml
from aggregator.models import Source, Tagging
from aggregator.tagging import COUNTRY_CODES, apply_source_tags, default_tagger

CODES = {"morocco": "MA", "senegal": "SN", "kenya": "KE"}


def test_no_source_tags_return_the_tagging_itself():
    t = Tagging(("ai",), (), {"ai": ("title:IA",)})
    assert apply_source_tags(t, (), CODES) is t


def test_a_topic_on_an_untagged_item_is_added_with_its_reason():
    out = apply_source_tags(Tagging(), ("africa",), CODES)
    assert out == Tagging(("africa",), (), {"africa": ("source:africa",)})


def test_a_country_adds_its_code_and_implies_africa():
    out = apply_source_tags(Tagging(), ("morocco",), CODES)
    assert out.tags == ("africa", "morocco")
    assert out.countries == ("MA",)
    assert out.why == {"africa": ("source:morocco",), "morocco": ("source:morocco",)}


def test_order_is_builtin_then_topics_then_countries():
    scored = Tagging(
        tags=("africa", "diplomacy", "senegal"),
        countries=("SN",),
        why={
            "africa": ("title:Sénégal",),
            "diplomacy": ("summary:ambassade",),
            "senegal": ("title:Sénégal",),
        },
    )
    out = apply_source_tags(scored, ("kenya", "economy", "ai"), CODES)
    assert out.tags == ("ai", "africa", "diplomacy", "economy", "senegal", "kenya")
    assert out.countries == ("SN", "KE")  # the same order as the country slugs
    assert list(out.why) == list(out.tags)
    assert scored.tags == ("africa", "diplomacy", "senegal")  # the input is unchanged


def test_a_tag_the_scorer_set_keeps_its_reasons_and_gains_the_source():
    scored = Tagging(
        ("ai", "africa", "morocco"),
        ("MA",),
        {
            "ai": ("title:IA",),
            "africa": ("title:Maroc",),
            "morocco": ("title:Maroc",),
        },
    )
    out = apply_source_tags(scored, ("morocco", "ai"), CODES)
    assert out.tags == scored.tags and out.countries == ("MA",)
    assert out.why == {
        "ai": ("title:IA", "source:ai"),
        "africa": ("title:Maroc", "source:morocco"),
        "morocco": ("title:Maroc", "source:morocco"),
    }


def test_duplicates_count_once_and_a_reason_is_not_repeated():
    prior_seen = Tagging(("africa",), (), {"africa": ("summary:Afrique", "source:africa")})
    out = apply_source_tags(prior_seen, ("africa", "morocco", "africa", "morocco"), CODES)
    assert out.tags == ("africa", "morocco") and out.countries == ("MA",)
    assert out.why["africa"] == ("summary:Afrique", "source:africa", "source:morocco")
    assert out.why["morocco"] == ("source:morocco",)


def test_on_the_real_tagger_the_scorer_reasons_come_first():
    tagger = default_tagger()
    scored = tagger.tag(
        "Le Maroc lance sa stratégie nationale d'intelligence artificielle", "", "fr"
    )
    assert "morocco" in scored.tags and "ai" in scored.tags  # the scorer's own evidence
    out = apply_source_tags(scored, ("morocco", "kenya"), COUNTRY_CODES)
    assert out.tags[: len(scored.tags)] == scored.tags
    assert out.tags[-1] == "kenya" and out.countries[-1] == "KE"
    assert out.why["morocco"] == (*scored.why["morocco"], "source:morocco")
    # a weak item: the prior alone tags nothing, the source tag does
    weak = ("Résultats du week-end", "Tous les scores du championnat.", "fr")
    assert tagger.tag(*weak, source_tags=("africa",)).tags == ()
    assert apply_source_tags(tagger.tag(*weak), ("africa",), COUNTRY_CODES).tags == ("africa",)


# ---- OPML carries the prior as the category /prior/<tag>


def test_opml_export_writes_tags_as_categories_and_prior_as_a_path():
    sources = [Source("A", "https://a.example/rss", "fr", ("africa",), ("ai", "morocco"))]
    text = opml.export_opml(sources, "t")
    assert 'category="africa,/prior/ai,/prior/morocco"' in text
    (feed,) = opml.parse_opml(text.encode())
    assert (feed.tags, feed.prior) == (("africa",), ("ai", "morocco"))


def test_opml_import_keeps_known_tags_and_lists_the_others(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "sources:\n  - name: Old\n    url: https://old.example/rss\n"
        "topics:\n  diplomacy:\n    en: [embassy]\n",
        encoding="utf-8",
    )
    exported = tmp_path / "in.opml"
    exported.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head/><body>'
        '<outline type="rss" text="New" xmlUrl="https://new.example/rss"'
        ' category="africa,news,/prior/diplomacy,/prior/tech,/Folder/x"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    out = io.StringIO()
    assert opml.import_into_config(path, exported, out) == 0
    assert "'news', 'tech' of 'New'" in out.getvalue()
    assert config.problems(path) == []
    new = config.load(path).sources[1]
    assert (new.name, new.tags, new.prior) == ("New", ("africa",), ("diplomacy",))
    assert "    tags: [africa]\n    prior: [diplomacy]\n" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("key", ["tags", "prior"])
def test_check_reports_an_unknown_tag_of_either_key(tmp_path, key, capsys):
    from aggregator.cli.main import main

    path = tmp_path / "config.yaml"
    path.write_text(
        f"sources:\n  - name: A\n    url: https://a.example/rss\n    {key}: [africa, sahel]\n",
        encoding="utf-8",
    )
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4: sources[0].{key}[1]: unknown tag 'sahel'" in err
