"""The learned tagging model: the shipped weights, deterministic training, grouped CV, --explain."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.cli.tag_jsonl import explain
from aggregator.tagging import Tagger
from aggregator.tagging.features import FEATURES
from aggregator.tagging.model import WEIGHTS, Logistic, from_json

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
EVAL = ROOT.parent / "shared" / "eval"
sys.path.insert(0, str(SCRIPTS))


def test_shipped_weights_load_and_name_only_computed_features() -> None:
    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    model = from_json(data)
    for family, names in FEATURES.items():
        weights = data["models"][family]["weights"]
        assert weights and set(weights) <= set(names)
        assert 0.0 < data["models"][family]["threshold"] < 1.0
        assert model.family(family).weights == pytest.approx(weights)
    bad = json.loads(json.dumps(data))
    bad["models"]["country"]["weights"]["no_such_feature"] = 1.0
    with pytest.raises(ValueError, match="no_such_feature"):
        from_json(bad)


def test_every_computed_feature_has_a_weight() -> None:
    tagger = Tagger.from_settings({}, 1.0)
    model = tagger.learned
    assert model is not None
    cand = tagger.candidates(
        "Le Sénégal et le Mali signent un accord sur l'IA", "L'Afrique de l'Ouest suit.", "fr"
    )
    assert cand is not None and cand.africa is not None
    assert set(cand.countries) == {"SN", "ML"} and "ai" in cand.topics
    # every weight names a computed feature; only the per-language biases are left unfitted
    unfitted = {f"{p}lang_{x}" for p in ("", "term_") for x in ("fr", "en", "ar")}
    for computed, weights in (
        (cand.countries["SN"], model.country.weights),
        (cand.topics["ai"], model.ai.weights),
        (cand.africa, model.africa.weights),
    ):
        assert set(weights) <= set(computed)
        assert set(computed) - set(weights) <= unfitted


@pytest.mark.skipif(not (EVAL / "tagging_dev.jsonl").exists(), reason="needs ../shared/eval")
def test_training_is_deterministic(tmp_path: Path) -> None:
    outs = []
    for name in ("a.json", "b.json"):
        out = tmp_path / name
        subprocess.run(
            [
                sys.executable,
                str(SCRIPTS / "train_tagging.py"),
                "--limit",
                "400",
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert json.loads(outs[0])["trained_on"] == 400


@pytest.mark.skipif(not (EVAL / "tagging_dev.jsonl").exists(), reason="needs ../shared/eval")
def test_cv_never_puts_one_outlet_in_train_and_test() -> None:
    import cv_tagging
    import train_tagging

    items = train_tagging.load()
    groups = {it.group for it in items}
    assert len(groups) >= 10
    seen = []
    for group, train, test in cv_tagging.folds(items):
        assert {items[i].group for i in test} == {group}
        assert group not in {items[i].group for i in train}
        assert sorted(train + test) == list(range(len(items)))
        seen.append(group)
    assert sorted(seen) == sorted(groups)


def test_outlet_groups_feeds_of_one_brand() -> None:
    from train_tagging import outlet

    assert outlet("more/fr/flux-rss-bfmtv-afrique.xml") == outlet("more/fr/flux-rss-bfm-tech.xml")
    assert outlet("more/ar/aitnews@001ce66.xml") == outlet("more/ar/aitnews@e60becb.xml")
    assert outlet("datasets/masakhanews-fra-bbc-afrique/dev.tsv") == outlet(
        "datasets/masakhanews-fra-bbc-afrique/test.tsv"
    )
    assert outlet("real/reuters/a.xml") != outlet("real/nyt-world/a.xml")


def test_explain_prints_features_and_decision() -> None:
    tagger = Tagger.from_settings({}, 1.0)
    line = json.dumps({"id": "x1", "title": "Kenya votes", "summary": "", "language": "en"})
    out = io.StringIO()
    assert explain(io.StringIO(line + "\n"), out, tagger) == 0
    text = out.getvalue()
    assert "== x1: Kenya votes" in text
    assert "kenya [country] -> TAG" in text
    assert "title = 1" in text and "threshold" in text
    empty = io.StringIO()
    explain(io.StringIO('{"id": 2, "title": "Weather"}\n'), empty, tagger)
    assert "no candidate tag" in empty.getvalue()


def test_cli_explain_with_a_title() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aggregator.cli.main", "tag", "--explain", "Kenya votes"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "kenya [country] -> TAG" in proc.stdout


def test_a_learned_decision_follows_its_weights() -> None:
    tagger = Tagger.from_settings({}, 1.0)
    assert tagger.learned is not None
    everything = frozenset(("ai", "africa", "countries"))
    tagger.model = dataclasses.replace(tagger.learned, active=everything)
    assert tagger.tag("Kenya votes", "", "en").countries == ("KE",)
    country = tagger.learned.country
    sunk = Logistic(country.name, {**country.weights, "title_ev": -20.0}, country.threshold)
    tagger.model = dataclasses.replace(tagger.learned, country=sunk, active=everything)
    assert tagger.tag("Kenya votes", "", "en").countries == ()
    # Only for the tags it is active for: the hand-set scorer keeps Kenya.
    tagger.model = dataclasses.replace(tagger.learned, country=sunk, active=frozenset({"ai"}))
    assert tagger.tag("Kenya votes", "", "en").countries == ("KE",)
    ai = tagger.learned.ai
    sunk_ai = Logistic(ai.name, {**ai.weights, "bias": -20.0}, ai.threshold)
    tagger.model = dataclasses.replace(tagger.learned, ai=sunk_ai, active=frozenset({"ai"}))
    t = tagger.tag("OpenAI releases a new AI model in Kenya", "A chatbot for everyone.", "en")
    assert "ai" not in t.tags and t.countries == ("KE",)
    # ai: the learned path keeps the output format (reasons are "field:term").
    tagger.model = dataclasses.replace(tagger.learned, active=everything)
    t = tagger.tag("OpenAI releases a new AI model", "A chatbot for everyone.", "en")
    assert "ai" in t.tags and all(r.split(":", 1)[0] in ("title", "summary") for r in t.why["ai"])


def test_active_names_the_tags_the_model_decides() -> None:
    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    for raw, want in (
        (True, {"ai", "africa", "countries"}),
        (False, set()),
        (["ai"], {"ai"}),
        (["countries", "africa"], {"africa", "countries"}),
    ):
        assert from_json({**data, "active": raw}).active == want
    with pytest.raises(ValueError, match="active"):
        from_json({**data, "active": ["country"]})
