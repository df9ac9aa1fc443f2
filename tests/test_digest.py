"""The digest: week window, selection and order, rendering, the message, the frozen issue,
unsubscribe tokens and the endpoint. SMTP delivery is in test_mailer.py."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aggregator import digest as dg
from aggregator import unsubscribe as un
from aggregator.errors import ConfigError
from aggregator.mailer import serialise
from aggregator.models import Item, Outlet, Story
from aggregator.service.sending import send_digest
from aggregator.store import Store

from support.digest import AFTER_W48, W48, add_story, settings_for, week_store


def _story(cid: int, tags, sources=("A",), seen=W48) -> Story:
    item = Item(id=cid, source=sources[0], key=str(cid), guid=None, link=None, canonical_url=None,
                title=f"story {cid}", summary="", content="", authors=(), categories=(),
                language="en", published=None, updated=None, first_seen=seen, last_seen=seen,
                content_hash="", cluster_id=cid, tags=tuple(tags))  # fmt: skip
    also = tuple(Outlet(s, None) for s in sources[1:])
    return Story(cluster_id=cid, item=item, also_in=also, tags=tuple(tags), first_seen=seen)


# ---- the week ------------------------------------------------------------------------------


def test_week_spec_is_local_monday_to_monday():
    issue, start, end = dg.resolve_week("2026-W48", "Africa/Casablanca", W48)
    assert issue == "2026-W48"
    # Casablanca is UTC+1 outside Ramadan: local midnight Monday 23 Nov is 23:00 UTC on the 22nd.
    assert start == datetime(2026, 11, 22, 23, tzinfo=UTC)
    assert end - start == timedelta(days=7)


def test_default_week_is_last_complete_week():
    assert dg.resolve_week(None, "UTC", AFTER_W48)[0] == "2026-W48"
    # Monday 00:30 in Casablanca is still Sunday in UTC; the local calendar decides.
    monday = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert dg.resolve_week(None, "Africa/Casablanca", monday)[0] == "2026-W48"
    assert dg.resolve_week(None, "UTC", monday)[0] == "2026-W47"
    assert dg.resolve_week(None, "UTC", datetime(2027, 1, 6, tzinfo=UTC))[0] == "2026-W53"


@pytest.mark.parametrize("spec", ["2026-48", "2026-W5", "2025-W53", "2026-W00", "W48"])
def test_bad_week_is_a_config_error(spec):
    with pytest.raises(ConfigError):
        dg.resolve_week(spec, "UTC", W48)


# ---- selection -----------------------------------------------------------------------------


def test_sections_order_once_each_and_ranked_by_coverage_then_recency():
    stories = [
        _story(1, ["ai"], ("A",)),
        _story(2, ["ai", "africa"], ("A",)),
        _story(3, ["africa", "diplomacy"], ("A", "B")),
        _story(4, ["diplomacy"], ("A",)),
        _story(5, [], ("A",)),
        _story(6, ["ai"], ("A", "B", "C")),
        _story(7, ["ai"], ("A",), seen=W48 + timedelta(hours=1)),
    ]
    sections = dg.select_sections(stories, topics=["diplomacy"], per_section=10,
                                  include_other=True)  # fmt: skip
    got = [(s.key, [x.cluster_id for x in s.stories]) for s in sections]
    assert got == [
        ("ai-africa", [2]),
        ("ai", [6, 7, 1]),  # 3 outlets first, then the newer of the single-outlet ones
        ("africa", [3]),  # appears once, in its first section, not again under diplomacy
        ("diplomacy", [4]),
        ("other", [5]),
    ]
    assert [s.title for s in sections][:3] == ["AI & Africa", "AI", "Africa"]


def test_per_section_limit_and_other_off():
    stories = [_story(i, ["ai"]) for i in range(1, 6)] + [_story(9, [])]
    sections = dg.select_sections(stories, topics=[], per_section=2, include_other=False)
    assert [(s.key, len(s.stories)) for s in sections] == [("ai", 2)]


def test_window_is_by_first_seen(tmp_path):
    store = Store(tmp_path / "agg.db")
    add_story(store, "A", "in", "Inside", ("ai",), when=W48)
    add_story(store, "A", "before", "Before", ("ai",), when=W48 - timedelta(days=7))
    add_story(store, "A", "after", "After", ("ai",), when=AFTER_W48)
    s = settings_for(tmp_path)
    report = send_digest(s, store, mode="preview", preview_path=tmp_path / "p.html",
                         now=AFTER_W48)  # fmt: skip
    html = (tmp_path / "p.html").read_text()
    assert report.issue == "2026-W48" and report.stories == 1
    assert "Inside" in html and "Before" not in html and "After" not in html


# ---- text hygiene --------------------------------------------------------------------------


def test_header_text_drops_line_breaks_controls_and_bidi_overrides():
    assert dg.header_text("a\r\nBcc: x@y\x00\x1b\u2028b\u202ec") == "a Bcc: x@y b c"


# ---- rendering and the message -------------------------------------------------------------


def _render(tmp_path, store, **kw):
    s = settings_for(tmp_path, **kw)
    digest = dg.build_digest("2026-W48", W48 - timedelta(days=2), W48 + timedelta(days=5),
                             store.stories_between(W48 - timedelta(days=2), W48 + timedelta(days=5)),
                             subject=s.digest.subject, topics=["diplomacy"])  # fmt: skip
    r = dg.Renderer(s.digest.templates, "Africa/Casablanca", title="AI & Africa")
    text, html = r.render(r.context(digest), recipient="ana@example.org",
                          unsubscribe_url="https://u.example/unsub?token=T")  # fmt: skip
    return digest, text, html


def test_html_is_escaped_email_safe_and_rtl(tmp_path):
    store = week_store(tmp_path)
    add_story(
        store,
        "Evil",
        "x",
        "<script>alert(1)</script> & <b>bold</b>",
        ("ai",),
        summary='<img src=x onerror=alert(1)>text<a href="javascript:alert(1)">l</a>',
    )
    _, text, html = _render(tmp_path, store)
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert 'width="600"' in html and "<link" not in html and 'name="color-scheme"' in html
    assert 'dir="rtl" lang="ar"' in html and 'dir="ltr" lang="fr"' in html
    assert html.index("AI &amp; Africa</h2>") < html.index("AI</h2>")
    assert "Also in: " in html and "3 outlets" in html
    assert "https://u.example/unsub?token=T" in html and "https://u.example/unsub?token=T" in text
    # the text part carries the same stories
    for title in ("L'IA au Maroc : un plan national", "A new model ships", "Embassy talks"):
        assert title in text
    assert "<b>" not in text.replace("<b>bold</b>", "")


def test_operator_templates_override_and_strict_undefined(tmp_path):
    store = week_store(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "digest.txt.j2").write_text(
        "OPERATOR {{ week }} {{ unsubscribe_url }}"
    )
    _, text, html = _render(tmp_path, store)
    assert text == "OPERATOR 2026-W48 https://u.example/unsub?token=T"
    assert "<table" in html  # the packaged HTML template still applies
    (tmp_path / "templates" / "digest.txt.j2").write_text("{{ wek }}")
    with pytest.raises(ConfigError, match="wek"):
        _render(tmp_path, store)


def _message(digest, recipient="ana@example.org", subject=None, text="text", html="<p>x</p>"):
    if subject is not None:
        digest = replace(digest, subject=subject)
    return dg.compose(digest, text, html, sender="AI & Africa <digest@news.example.org>",
                      recipient=recipient, unsubscribe_https="https://n.example/u?token=abc",
                      unsubscribe_mailto="mailto:digest@news.example.org?subject=unsubscribe",
                      date=W48)  # fmt: skip


def test_message_structure_and_headers(tmp_path):
    digest, _, _ = _render(tmp_path, week_store(tmp_path))
    raw = serialise(_message(digest))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())
    days = dg.date_range(W48 - timedelta(days=2), W48 + timedelta(days=5), "UTC")
    assert msg["To"] == "ana@example.org" and msg["Subject"] == f"AI & Africa — {days}"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Unsubscribe"] == (
        "<mailto:digest@news.example.org?subject=unsubscribe>, <https://n.example/u?token=abc>"
    )
    assert msg["List-Id"] == '"AI & Africa" <digest.news.example.org>'
    assert msg["Date"] and msg["Message-ID"].endswith("@news.example.org>")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998 and raw.isascii()


def test_message_id_is_deterministic_per_issue_and_recipient(tmp_path):
    digest, _, _ = _render(tmp_path, week_store(tmp_path))
    a1, a2 = _message(digest)["Message-ID"], _message(digest, "ANA@example.org")["Message-ID"]
    b = _message(digest, "bob@example.org")["Message-ID"]
    assert a1 == a2 and a1 != b
    assert a1 != _message(replace(digest, issue="2026-W49"))["Message-ID"]


@pytest.mark.parametrize(
    "title",
    [
        "Breaking\r\nBcc: victim@example.org",
        "x\nContent-Type: text/html\n\n<script>",
        "=?utf-8?q?hello=0D=0ABcc=3A_evil=40example=2Eorg?=",  # CVE-2024-6923 style
        "tab\tand\x0bvt\x1b[31m and \u2028 sep",
    ],
)
def test_header_injection_from_titles_is_neutralised(tmp_path, title):
    store = Store(tmp_path / "agg.db")
    add_story(store, "A", "k", title, ("ai",))
    s = settings_for(tmp_path, subject="Week {week}: {top}")
    stories = store.stories_between(W48 - timedelta(days=1), W48 + timedelta(days=1))
    digest = dg.build_digest("2026-W48", W48, W48, stories, subject=s.digest.subject)
    raw = serialise(_message(digest))
    head = raw.split(b"\r\n\r\n")[0]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] is None and msg.get_all("Content-Type") == ["multipart/alternative; "
                                                                  + msg["Content-Type"].split("; ", 1)[1]]  # fmt: skip
    assert len(msg.get_all("Subject")) == 1 and msg["Subject"].startswith("Week 2026-W48: ")
    assert not any(ord(c) < 32 for c in msg["Subject"])
    assert b"\nBcc" not in head and b"\nbcc" not in head.lower().replace(b"list-", b"")


# ---- the frozen issue ----------------------------------------------------------------------


def test_issue_is_frozen_the_first_time(tmp_path):
    store = week_store(tmp_path)
    s = settings_for(tmp_path)
    digest = dg.build_digest("2026-W48", W48, W48, store.stories_between(W48 - timedelta(days=3),
                             W48 + timedelta(days=3)), subject="S")  # fmt: skip
    frozen = store.freeze_digest(digest, W48)
    assert frozen == digest and store.frozen_digest("2026-W48") == digest
    other = replace(digest, subject="changed", sections=())
    assert store.freeze_digest(other, W48) == digest  # the first freeze wins
    # content stays frozen even when the stored item changes later
    add_story(store, "Late", "late", "Arrived late", ("ai",), when=W48)
    report = send_digest(s, store, week="2026-W48", now=AFTER_W48)
    assert report.stories == sum(len(x.stories) for x in digest.sections)
    eml = next((tmp_path / "outbox" / "2026-W48").glob("*.eml")).read_bytes()
    assert b"Arrived late" not in eml and b"Subject: changed" not in eml


def test_empty_week_sends_nothing_unless_configured(tmp_path):
    store = Store(tmp_path / "agg.db")
    report = send_digest(settings_for(tmp_path), store, week="2026-W48", now=AFTER_W48)
    assert report.empty and report.sent == 0 and "nothing sent" in report.summary()
    assert not (tmp_path / "outbox").exists()
    report = send_digest(settings_for(tmp_path, send_empty=True), store, week="2026-W48",
                         now=AFTER_W48)  # fmt: skip
    assert not report.empty and report.sent == 1
    eml = next((tmp_path / "outbox" / "2026-W48").glob("*.eml")).read_bytes()
    assert b"No stories were collected this week." in eml


def test_preview_writes_only_html(tmp_path):
    store = week_store(tmp_path)
    out = tmp_path / "sub" / "preview.html"
    report = send_digest(settings_for(tmp_path), store, week="2026-W48", mode="preview",
                         preview_path=out, now=AFTER_W48)  # fmt: skip
    assert report.preview == out and out.read_text().startswith("<!DOCTYPE html>")
    assert store.frozen_digest("2026-W48") is None and not (tmp_path / "outbox").exists()


# ---- unsubscribe -----------------------------------------------------------------------------


def test_secret_from_env_or_stored_once(tmp_path):
    store = Store(tmp_path / "agg.db")
    assert un.secret_for("SECRET_X", store, {"SECRET_X": "abc"}) == b"abc"
    first = un.secret_for("SECRET_X", store, {})
    store.close()
    store = Store(tmp_path / "agg.db")
    assert un.secret_for("SECRET_X", store, {}) == first and len(first) == 64


# Tokens and the one-click endpoint: tests/test_subscribers.py.


def test_unsubscribed_recipient_is_skipped_by_later_issues(tmp_path):
    store = week_store(tmp_path)
    s = settings_for(tmp_path, recipients=("ana@example.org", "bob@example.org"))
    store.unsubscribe("BOB@example.org", W48)
    report = send_digest(s, store, week="2026-W48", now=AFTER_W48)
    assert (report.sent, report.unsubscribed) == (1, 1)
    assert store.deliveries("2026-W48")["bob@example.org"].status == "skipped"
    files = list((tmp_path / "outbox" / "2026-W48").glob("*.eml"))
    assert len(files) == 1 and b"To: ana@example.org" in files[0].read_bytes()


def test_message_factory_bytes_match_compose(tmp_path):
    digest, text, html = _render(tmp_path, week_store(tmp_path))
    factory = dg.MessageFactory(digest, sender="AI & Africa <digest@news.example.org>", date=W48)
    kw = {"unsubscribe_https": "https://n.example/u?token=abc",
          "unsubscribe_mailto": "mailto:digest@news.example.org?subject=unsubscribe"}  # fmt: skip
    fast = email.message_from_bytes(
        serialise(factory.build("ana@example.org", text, html, **kw)), policy=email.policy.default
    )
    slow = email.message_from_bytes(
        serialise(_message(digest, text=text, html=html)), policy=email.policy.default
    )
    assert fast.keys() == slow.keys()
    for name in ("From", "To", "Subject", "Message-ID", "List-Id", "List-Unsubscribe"):
        assert fast[name] == slow[name]
    for kind, body in (("plain", text), ("html", html)):
        got = fast.get_body((kind,)).get_content()
        assert got == slow.get_body((kind,)).get_content()
        assert got.replace("\r\n", "\n") == body
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in fast.iter_parts())
    # an address the fast path cannot take verbatim goes through the email package
    assert not isinstance(factory.build('"a b"@example.org', text, html, **kw), bytes)


@pytest.mark.parametrize(
    "body", ["", "a", "x\n", "é" * 300 + "\n\n.dot \nend  ", "a=b\r\nc\rd\n" * 3]
)
def test_line_by_line_quoted_printable_equals_whole_body(tmp_path, body):
    digest, _, _ = _render(tmp_path, Store(tmp_path / "agg.db"))
    factory = dg.MessageFactory(digest, sender="d@news.example.org", date=W48)
    assert factory._qp(body) == factory._qp(body) == dg._qp(body)


@pytest.mark.parametrize(
    ("week", "expected"),
    [("2026-W50", "7 to 13 December 2026"), ("2026-W49", "30 November to 6 December 2026"),
     ("2026-W53", "28 December 2026 to 3 January 2027")],
)  # fmt: skip
def test_subject_dates_are_the_weeks_days_in_the_digest_time_zone(week, expected):
    """The default subject reads "AI & Africa — 7 to 13 December 2026", not ISO week jargon; the
    days are the local ones (the window's UTC end is Sunday 23:00 in Casablanca)."""
    issue, start, end = dg.resolve_week(week, "Africa/Casablanca", W48)
    assert dg.date_range(start, end, "Africa/Casablanca") == expected
    digest = dg.build_digest(issue, start, end, [], subject="AI & Africa — {dates} ({week})",
                             timezone="Africa/Casablanca")  # fmt: skip
    assert digest.subject == f"AI & Africa — {expected} ({issue})"


def test_an_empty_preview_says_why_and_what_to_try(tmp_path):
    """Right after set-up the last complete week is empty: the report says which week to try."""
    from aggregator.service.sending import send_digest
    from aggregator.store import Store

    s = settings_for(tmp_path)
    with Store(s.database) as store:
        report = send_digest(s, store, mode="preview", preview_path=tmp_path / "p.html", now=W48)
    assert report.stories == 0 and report.empty
    current, _, _ = dg.resolve_week(None, s.digest.timezone, W48 + timedelta(days=7))
    assert f"try --week {current}" in report.summary()
    assert "first seen" in report.summary()
