"""One owner per text rule: the examples where copies of a rule used to disagree, seen from the
stages that use them (dedupe, tagging, publish, digest)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator import digest as dg
from aggregator import publish, text
from aggregator.models import DigestSection, Item, Story
from aggregator.tagging import Tagger

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


# ---- folding: dedupe's matching form and the tagger's agree --------------------------------


@pytest.mark.parametrize(
    ("written", "folded"),
    [("Straße", "strasse"), ("STRASSE", "strasse"), ("Œuvre", "oeuvre"), ("œuvre", "oeuvre"),
     ("Cœur", "coeur"), ("Ægypte", "aegypte"), ("Côte d’Ivoire", "cote d'ivoire"),
     ("الجزائر", "الجزاير"), ("إفريقيا", "افريقيا"), ("مُحَمَّد", "محمد"), ("٢٠٢٦", "2026")],
)  # fmt: skip
def test_fold(written: str, folded: str) -> None:
    assert text.fold(written) == folded


@pytest.mark.parametrize("written", ["Straße", "Œuvre", "Cœur", "Côte d’Ivoire", "الجزائر"])
def test_tagger_and_dedupe_fold_alike(written: str) -> None:
    """The case-keeping fold of the tagger, lower-cased, is dedupe's fold of the same word."""
    kept, _ = text.fold_keep_case(written)
    assert kept.lower() == text.fold(written)


@pytest.mark.parametrize(
    ("term", "title"),
    [("strasse", "Neue Straße für Rabat"), ("oeuvre", "Une Œuvre majeure à Dakar"),
     ("Straße", "The STRASSE project"), ("œuvre", "Main-d'oeuvre au Maroc")],
)  # fmt: skip
def test_operator_topic_matches_whatever_the_spelling(term: str, title: str) -> None:
    tagger = Tagger.from_settings({"topic": {"en": (term,)}})
    tagging = tagger.tag(title, "", "fr")
    assert "topic" in tagging.tags, tagging
    # the reason quotes the original words, expanded letters and all
    assert tagging.why["topic"][0].split(":", 1)[1] in title, tagging.why


def test_positions_map_back_through_expansions_and_drops() -> None:
    folded, index = text.fold_keep_case("Œu\u064bvre")
    assert folded == "OEuvre"
    assert index is not None and [index[i] for i in range(len(folded))] == [0, 0, 1, 3, 4, 5]


@pytest.mark.parametrize(
    "written",
    ["Sœur", "Straße", "Æsir", "co\xadopération", "été", "Côte d’Ivoire", "الْمَغْرِب", "ß\xad",
     "plain", "Łódź", "e\u0301", "\xe6", "Ÿ"],
)  # fmt: skip
def test_drop_marks_same_on_latin1_and_wider_text(written: str) -> None:
    # Latin-1 text is tested for its four position-changing characters by single-character
    # searches, other text by the class's search: the same result as a full pass
    parts: list[str] = []
    index: list[int] = []
    for i, c in enumerate(written):
        if text._POSITION_WORK.match(c):
            out = text.EXPANSIONS.get(ord(c), "")
            parts.append(out)
            index.extend([i] * len(out))
        else:
            parts.append(c)
            index.append(i)
    index.append(len(written))
    changed = "".join(parts) != written or len(index) != len(written) + 1
    assert text.drop_marks(written) == ("".join(parts), index if changed else None)


def test_lower_by_the_latin1_table_as_str_lower() -> None:
    for written in ["Sénégal", "ÀÉÎÕÜÝÞ ß µ ÿ", "ASCII Only", "L’État", "İstanbul", "المغرب KSA",
                    "".join(map(chr, range(256)))]:  # fmt: skip
        assert text.lower(written) == written.lower()


# ---- plain text: one result for one body ---------------------------------------------------

BODY = (
    "<p>Rabat accueille <b>le sommet</b> &amp; ses invités.</p><p>Suite&nbsp;ici"
    "<script>alert(1)</script></p><style>p{}</style>"
)


def _story(title: str, summary: str, language: str | None) -> Story:
    item = Item(
        id=1, source="Hespress", key="k1", guid=None, link="https://example.org/a",
        canonical_url="https://example.org/a", title=title, summary=summary, content="",
        authors=(), categories=(), language=language, published=NOW, updated=None,
        first_seen=NOW, last_seen=NOW, content_hash="h", cluster_id=1, tags=("africa",),
    )  # fmt: skip
    return Story(cluster_id=1, item=item, also_in=(), tags=("africa",), first_seen=NOW)


def test_page_and_digest_show_the_same_excerpt_text() -> None:
    story = _story("Sommet", BODY, "fr")
    on_page = publish._entry(story, "example.org").excerpt
    in_mail = dg.entries(DigestSection("africa", "Africa", (story,)), ZoneInfo("UTC"))[0].excerpt
    assert on_page == in_mail == text.plain_text(BODY)
    assert on_page == "Rabat accueille le sommet & ses invités. Suite ici"


def test_plain_text_is_safe_for_any_input() -> None:
    assert text.plain_text("&lt;script&gt;x&lt;/script&gt;Titre") == "Titre"
    assert text.plain_text("a\u202eb\u200bc\x00d") == "abcd"
    assert text.plain_text("mot " * 10, max_chars=12) == "mot mot mot…"
    assert text.strip_tags("<p>a</p>&amp;amp;") == "a &"


def test_excerpt_cuts_at_a_word_and_drops_scripts() -> None:
    html = "<p>Hello <b>world</b> &amp; more</p><script>alert('x')</script><style>p{}</style>"
    assert text.excerpt(html, 280) == "Hello world & more"
    out = text.excerpt("<p>" + "word " * 200 + "</p>", 50)
    assert len(out) <= 51 and out.endswith("…") and "<" not in out and not out.endswith(" …")


def test_one_line_drops_line_breaks_controls_and_bidi_overrides() -> None:
    assert text.one_line("a\r\nBcc: x@y\x00\x1b\u2028b\u202ec") == "a Bcc: x@y b c"
    assert text.one_line("x" * 10, 5) == "xxxx…"


# ---- direction: one rule for the page and the email ----------------------------------------


@pytest.mark.parametrize(
    ("title", "language", "rtl"),
    [("المغرب يستضيف قمة AI Africa", None, True), ("AI Africa: المغرب يستضيف", None, False),
     ("« مرحبا » world", None, True), ("2026: hello مرحبا", None, False),
     ("x", "ar", True), ("مرحبا", "fr", False), ("שלום", None, True), ("x", "fa-IR", True)],
)  # fmt: skip
def test_is_rtl(title: str, language: str | None, rtl: bool) -> None:
    assert text.is_rtl(title, language) is rtl


def test_arabic_first_mixed_title_is_rtl_on_the_page_and_in_the_email() -> None:
    story = _story("الذكاء الاصطناعي في Morocco and Nigeria: AI summit opens", "", None)
    assert publish._entry(story, "example.org").rtl
    assert dg.entries(DigestSection("africa", "Africa", (story,)), ZoneInfo("UTC"))[0].dir == "rtl"


# ---- boilerplate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["Le texte. Cet article Sommet de Rabat est apparu en premier sur Maroc Diplomatique.",
     "Le texte. L’article Sommet est apparu en premier sur Hespress FR.",
     "Le texte. The post Rabat summit appeared first on TechCabal.",
     "Le texte. ظهرت المقالة قمة الرباط أولاً على هسبريس."],
)  # fmt: skip
def test_syndication_footer_is_dropped_from_plain_and_folded_text(body: str) -> None:
    assert text.strip_footer_text(body).strip() == "Le texte."
    assert text.strip_footer_text(text.fold(body)).strip() == "le texte."


def test_footer_is_dropped_from_sanitised_html() -> None:
    html = '<p>Body.</p><p>The post <a href="https://x.org/a">A</a> appeared first on <a href="https://x.org">X</a>.</p>'
    assert text.strip_footer(html) == "<p>Body.</p>"


# ---- photo captions taken as summaries (issue 17) -------------------------------------------

DEMO = Path(__file__).resolve().parents[1] / "aggregator" / "data" / "demo"


def _rest_of_world() -> dict[str, str]:
    """Title -> summary (plain text) of the bundled Rest of World feed, a real one whose
    <description> is often the lead photo's caption."""
    from aggregator.parse import parse

    feed = parse((DEMO / "rest-of-world-en.xml").read_bytes(), "https://restofworld.org/feed/")
    return {i.title: text.plain_text(i.summary) for i in feed.items}


def test_captions_of_the_real_rest_of_world_feed_are_not_shown() -> None:
    summaries = _rest_of_world()
    captions = {
        "Iran’s internet blackout may become permanent, with access for elites only":
            "(Photo by Morteza Nikoubazl/NurPhoto via Getty Images)",
        "Is AI a bubble? Davos leaders say no":
            "Photographer: Krisztian Bocsi/Bloomberg via Getty Images",
        "Death of an Indian tech worker": "Photographer : Sameer Raichur for Rest of World",
    }  # fmt: skip
    for title, credit in captions.items():
        assert summaries[title].endswith(credit)
        assert text.strip_caption(summaries[title]) == ""
    # the feed's real summaries stay, word for word
    kept = [s for t, s in summaries.items() if t not in captions]
    assert len(kept) >= 5 and all(text.strip_caption(s) == s for s in kept)
    assert "Politicians' spouses and children are buying and selling stocks" in " ".join(kept)


@pytest.mark.parametrize(
    ("summary", "shown"),
    [("Photo: AFP", ""),
     ("© Reuters", ""),
     ("الصورة: هسبريس", ""),
     ("Le président en visite à Dakar. Photo : MAP", ""),
     ("(Crédit photo : AFP) Le président a annoncé mardi un plan.",
      "Le président a annoncé mardi un plan."),
     ("[Photo : DR] Le roi a reçu l'ambassadeur.", "Le roi a reçu l'ambassadeur."),
     ("A long text. " * 40 + "(Photo: AFP)", ("A long text. " * 40).strip()),
     # not captions: words that only look like credits
     ("The image: a bold new look for Windows.", None),
     ("Apple's new image: how the company rebrands.", None),
     ("Crédit : les taux baissent en mai", None),
     ("Crédits d'impôt : ce qui change en 2026", None),
     ("Il a confié à l'AFP que le sommet aura lieu.", None),
     ("Le ministre a déclaré : « nous allons investir ».", None)],
)  # fmt: skip
def test_strip_caption(summary: str, shown: str | None) -> None:
    assert text.strip_caption(summary) == (summary if shown is None else shown)


def test_a_caption_summary_gives_way_to_the_content_on_the_page_and_in_the_email() -> None:
    caption = "<p>Elon Musk in Davos. Photographer: Krisztian Bocsi/Bloomberg via Getty Images</p>"
    story = _story("Is AI a bubble?", caption, "en")
    for content, shown in (("", ""), ("<p>Davos leaders say no.</p>", "Davos leaders say no.")):
        story = Story(1, replace(story.item, content=content), (), ("africa",), NOW)
        on_page = publish._entry(story, "example.org").excerpt
        section = DigestSection("africa", "Africa", (story,))
        in_mail = dg.entries(section, ZoneInfo("UTC"))[0].excerpt
        assert on_page == in_mail == shown
    # matching still reads the whole summary (the caption names places and people)
    assert story.item.summary == caption
