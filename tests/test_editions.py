"""Editions: a subscriber who chose topics and languages gets only those sections and stories in
those languages, rendered once per distinct choice, frozen, recorded per delivery; an edition
with nothing in it is skipped and recorded, never sent empty. Real SQLite, real aiosmtpd."""

from __future__ import annotations

from datetime import timedelta

from aggregator import digest as dg
from aggregator.service.sending import build_issue, send_digest

from support.digest import AFTER_W48, W48, add_story, smtp_settings, week_store
from support.smtpserver import Sink

ISSUE = "2026-W48"
#: address -> (topics, languages); the others of PEOPLE chose nothing
CHOICES = {
    "ai@example.org": (("ai",), ()),
    "fr@example.org": ((), ("fr",)),
    "ai-fr@example.org": (("ai",), ("fr",)),
    "ai-fr-2@example.org": (("AI",), ("fr-MA",)),  # the same choice, spelt otherwise
    "ar@example.org": (("africa",), ("ar",)),
    "empty@example.org": (("diplomacy",), ("ar",)),  # nothing in the week matches both
}
EVERYTHING = ("all1@example.org", "all2@example.org")


def _subscribe(store, choices=CHOICES, everything=EVERYTHING):
    for address, (topics, languages) in choices.items():
        store.set_subscriber_status(
            address, "confirmed", "form", W48, topics=topics, languages=languages
        )
    for address in everything:
        store.set_subscriber_status(address, "confirmed", "form", W48)


def _issue(tmp_path, store):
    s = smtp_settings(tmp_path, type("P", (), {"port": 1})(), recipients=())
    _, start, end = dg.resolve_week(ISSUE, s.digest.timezone, AFTER_W48)
    return build_issue(s, store, ISSUE, start, end)[0]


def _titles(digest):
    return {s.item.title for sec in digest.sections for s in sec.stories}


def test_an_edition_keeps_the_chosen_sections_and_languages(tmp_path):
    store = week_store(tmp_path)
    issue = _issue(tmp_path, store)
    every = _titles(issue)
    assert len(every) == 4  # "other" is off: the football story is in no section

    def ed(topics=(), languages=()):
        return dg.edition(issue, dg.choice(topics, languages), subject="{count} stories")

    assert ed() is issue  # no choice: the issue itself, its subject untouched
    ai = ed(("ai",))
    assert [s.key for s in ai.sections] == ["ai-africa", "ai"]  # AI and Africa counts as ai
    assert _titles(ai) == {"L'IA au Maroc : un plan national", "A new model ships"}
    assert ai.subject == "2 stories"  # {count} of the edition
    assert _titles(ed(languages=("fr",))) == {"L'IA au Maroc : un plan national"}
    assert _titles(ed(("africa",), ("ar",))) == {"المغرب يطلق استراتيجية رقمية"}
    assert _titles(ed(("diplomacy",))) == {"Embassy talks in Rabat"}
    assert ed(("diplomacy",), ("ar",)).empty
    # sections keep their order, titles and "more" links
    full = {s.key: s for s in issue.sections}
    for sec in ai.sections:
        assert (sec.title, sec.more, sec.more_url) == (
            full[sec.key].title, full[sec.key].more, full[sec.key].more_url
        )  # fmt: skip


def test_choice_keys_are_normalised():
    assert dg.choice().key == dg.FULL
    assert dg.choice(["Africa", "ai", "ai"], ["fr-MA", "ar"]).key == (
        "topics=africa+ai;languages=ar+fr"
    )
    assert dg.choice(["ai"], ["fr"]) == dg.choice([" AI "], ["fr-FR"])


def test_each_subscriber_gets_their_edition_rendered_once_per_choice(tmp_path, monkeypatch):
    store = week_store(tmp_path)
    _subscribe(store)
    renders = []
    original = dg.Renderer.personaliser

    def counting(self, context):
        renders.append(context["subject"])
        return original(self, context)

    monkeypatch.setattr(dg.Renderer, "personaliser", counting)
    with Sink() as sink:
        s = smtp_settings(tmp_path, sink, recipients=(), subject="Digest: {count} stories")
        report = send_digest(s, store, week=ISSUE, now=AFTER_W48)
        got = {m.rcpt_tos[0]: m.message for m in sink.messages}
    # 8 subscribers, 6 distinct choices (ai-fr twice, everything twice): 6 renderings
    assert report.editions == len(renders) == 6
    assert (report.sent, report.empty_editions, report.failed) == (7, 1, 0)
    assert "empty@example.org" not in got

    def titles(msg):
        text = msg.get_body(("plain",)).get_content()
        return {t for t in _titles(store.frozen_digest(ISSUE)) if t in text}

    assert titles(got["ai@example.org"]) == {"L'IA au Maroc : un plan national",
                                              "A new model ships"}  # fmt: skip
    assert titles(got["fr@example.org"]) == {"L'IA au Maroc : un plan national"}
    assert titles(got["ai-fr@example.org"]) == titles(got["ai-fr-2@example.org"])
    assert titles(got["ar@example.org"]) == {"المغرب يطلق استراتيجية رقمية"}
    assert len(titles(got["all1@example.org"])) == 4
    assert got["ai@example.org"]["Subject"] == "Digest: 2 stories"
    assert got["all1@example.org"]["Subject"] == "Digest: 4 stories"
    assert got["ar@example.org"]["Subject"] == "Digest: 1 stories"
    for msg in got.values():  # every edition carries the list headers and its own links
        assert msg["List-Id"] and "token=" in msg["List-Unsubscribe"]

    # the ledger: one row per (issue, subscriber), with the edition it got
    rows = store.deliveries(ISSUE)
    editions = store.delivery_editions(ISSUE)
    assert len(rows) == 8
    assert (
        editions["ai-fr@example.org"]
        == editions["ai-fr-2@example.org"]
        == ("topics=ai;languages=fr")
    )
    assert editions["all1@example.org"] == dg.FULL
    assert rows["empty@example.org"].status == "skipped"
    assert "empty edition" in (rows["empty@example.org"].last_error or "")
    assert editions["empty@example.org"] == "topics=diplomacy;languages=ar"
    assert {r.status for k, r in rows.items() if k != "empty@example.org"} == {"sent"}
    frozen = store.frozen_edition(ISSUE, "topics=ai")
    assert frozen is not None and frozen.subject == "Digest: 2 stories"


def test_editions_are_frozen_like_the_issue(tmp_path):
    """A rerun (after a failure) sends the edition as first frozen, even when the week gained a
    story since and the subject template changed."""

    def script(stage, rcpt, n):
        return "554 5.7.1 not now" if rcpt == "ai@example.org" else None

    store = week_store(tmp_path)
    _subscribe(store, choices={"ai@example.org": (("ai",), ())}, everything=())
    with Sink(script=script) as sink:
        s = smtp_settings(tmp_path, sink, recipients=(), subject="{count} stories")
        assert send_digest(s, store, week=ISSUE, now=AFTER_W48).failed == 1
    first = store.frozen_edition(ISSUE, "topics=ai")
    add_story(store, "TechCabal", "late", "A late AI story", ("ai",), when=W48 + timedelta(1))
    store.finish_delivery(ISSUE, "ai@example.org", "failed", AFTER_W48, permanent=False)
    with Sink() as sink:
        s = smtp_settings(tmp_path, sink, recipients=(), subject="changed {count}")
        report = send_digest(s, store, week=ISSUE, now=AFTER_W48)
        (msg,) = [m.message for m in sink.messages]
    assert report.sent == 1
    assert store.frozen_edition(ISSUE, "topics=ai") == first
    assert msg["Subject"] == "2 stories"
    assert "A late AI story" not in msg.get_body(("plain",)).get_content()


def test_dry_run_derives_editions_without_freezing(tmp_path):
    store = week_store(tmp_path)
    _subscribe(store)
    s = smtp_settings(tmp_path, type("P", (), {"port": 1})(), recipients=())
    report = send_digest(s, store, week=ISSUE, now=AFTER_W48, mode="dry-run")
    assert (report.sent, report.empty_editions, report.editions) == (7, 1, 6)
    assert store.frozen_edition(ISSUE, "topics=ai") is None
    assert store.deliveries(ISSUE) == {}
    assert len(list((tmp_path / "outbox" / "dry-run" / ISSUE).glob("*.eml"))) == 7
