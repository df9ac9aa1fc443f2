"""The worker's fast paths must give exactly what the plain code they replace gave.

Each test keeps the replaced code as a reference implementation and compares it with the
module's on real feed text (tests/data/corpus) and on generated text built to hit the edges:
the tagger's term scan (``\\W``-anchored and ASCII-only regexes vs the ``(?<!\\w)`` lookbehind
scan), clean_text's cheap pre-tests, the cue's substring pre-tests (``context.cue_before``),
``_fp_text``'s skip of the Latin-1 re-decoding, and sanitize_html's ``&nbsp;`` shortcut (vs nh3
itself)."""

from __future__ import annotations

import contextlib
import html
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import tagging
from aggregator.errors import ParseError
from aggregator.parse import parse
from aggregator.parse.fast import _C1, _CP1252, _fp_text
from aggregator.sanitize import _CLEANER, _SIMPLE_HTML, clean_chars, sanitize_html
from aggregator.tagging import _NISBA_SUFFIXES, _PREFIX, Tagger, context, features
from aggregator.text import ARABIC as _ARABIC
from aggregator.text import VARIANTS as _VARIANTS
from aggregator.text import drop_marks as strip_marks
from aggregator.text import fold_keep_case, strip_footer_text

CORPUS = Path(__file__).parent / "data" / "corpus" / "real"

# --- reference implementations (the code before the fast paths) -------------------------------


def ref_trie_regex(keys: list[str]) -> str:
    trie: dict = {}
    for k in keys:
        node = trie
        for ch in k:
            node = node.setdefault(ch, {})
        node[""] = {}

    def piece(ch: str) -> str:
        if ch == " ":
            return "[\\s" + re.escape("".join(sorted(_VARIANTS["-"]))) + "]+"
        if ch == "'":
            return "[\\s" + re.escape("".join(sorted(_VARIANTS["'"]))) + "]\\s*"
        alts = _VARIANTS.get(ch)
        return "[" + re.escape("".join(sorted(alts))) + "]" if alts else re.escape(ch)

    def emit(node: dict) -> str:
        end = "" in node
        alts = [piece(ch) + emit(child) for ch, child in sorted(node.items(), reverse=True) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return "(?:" + body + ")?" if end else body

    return emit(trie)


class RefScan:
    """The lookbehind scans over the whole text, as ``Tagger._scan`` ran them."""

    def __init__(self, tagger: Tagger):
        keys = sorted(set(tagger._by_key))
        latin = [k for k in keys if not _ARABIC.search(k)]
        arabic = [k for k in keys if _ARABIC.search(k)]
        self.latin = re.compile(rf"(?<!\w){ref_trie_regex(latin)}(?!\w)")
        self.arabic = re.compile(
            rf"(?<!\w)(?P<p>{_PREFIX})(?P<t>{ref_trie_regex(arabic)})(?P<s>{_NISBA_SUFFIXES})?(?!\w)"
        )

    def latin_matches(self, low: str) -> list[tuple]:
        return [(m.start(), m.end(), m.group(), "", "") for m in self.latin.finditer(low)]

    def arabic_matches(self, low: str) -> list[tuple]:
        return [
            (m.start(), m.end(), m.group("t"), m.group("p") or "", m.group("s") or "")
            for m in self.arabic.finditer(low)
        ]


def ref_clean_text(text: str) -> str:
    if "<" in text:
        text = tagging._TAGS.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    text = strip_footer_text(text)  # the syndication footer rule is text's (one owner)
    for trigger, _also, pattern in tagging._BOILERPLATE:
        if trigger in text:
            text = pattern.sub(" ", text)
    for t in tagging._TAIL_TRIGGERS:
        if t in text:
            text = tagging._TAIL.sub(" ", text)
            break
    m = tagging._RELATED.search(text) if ("ire " in text or "IRE " in text) else None
    if m:
        rest = text[m.end() :]
        cut = re.search(r"[.!?]\s|\s{2,}", rest[:160])
        text = text[: m.start()] + " " + (rest[cut.end() :] if cut else rest[160:])
    return text


def ref_fp_text(s: str) -> str:
    s = s.strip()
    if not s.isascii():
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            s = s.encode("iso-8859-1").decode("utf-8")
        if _C1.search(s):
            s = s.translate(_CP1252)
    return s


# --- shared data ----------------------------------------------------------------------------------

TAGGER = Tagger.from_settings({}, 1.0)
REF = RefScan(TAGGER)


def low_of(text: str) -> str:
    """The text ``Tagger._scan`` runs its matchers on."""
    folded, _ = strip_marks(text)
    low = folded.lower()
    if len(low) != len(folded):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in folded)
    return low


def assert_same_scan(tagger: Tagger, ref: RefScan, text: str) -> None:
    low = low_of(text)
    assert tagger._latin.finditer(low) == ref.latin_matches(low), text
    if _ARABIC.search(low):
        assert tagger._arabic.finditer(low) == ref.arabic_matches(low), text


def _corpus_texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS.rglob("*.xml"))[::3]:
        try:
            items = parse(path.read_bytes(), "https://example.org/feed").items
        except ParseError:  # not a feed: nothing to tag
            items = ()
        texts += [it.title + "\x00" + (it.summary or it.content) for it in items]
    return texts


CORPUS_TEXTS = _corpus_texts() if CORPUS.is_dir() else []


# --- tagger scan ----------------------------------------------------------------------------------


@pytest.mark.skipif(not CORPUS_TEXTS, reason="corpus copy not found")
def test_scan_same_matches_on_corpus_text() -> None:
    assert len(CORPUS_TEXTS) > 300
    n = 0
    for text in CORPUS_TEXTS:
        for variant in (text, tagging.clean_text(text)):
            assert_same_scan(TAGGER, REF, variant)
            n += len(REF.latin_matches(low_of(variant)))
    assert n > 200  # the corpus does name countries and AI terms


_KEYS = sorted(TAGGER._by_key)
_rng = random.Random(7)
_SAMPLE_KEYS = _rng.sample(_KEYS, 300) + [k for k in _KEYS if len(k) <= 3]


def _respell(key: str, rnd: random.Random) -> str:
    """A spelling of ``key`` the trie accepts (or nearly: a variant letter, a case change)."""
    out = []
    for ch in key:
        alts = sorted(_VARIANTS.get(ch, {ch}) | {ch})
        c = rnd.choice(alts) if rnd.random() < 0.3 else ch
        out.append(c.upper() if rnd.random() < 0.2 else c)
    return "".join(out)


_GLUE = [" ", "", "-", "'", "\u02bc", "\u2019", ".", ",", "\x00", "\n", "é", "x", "3", "_", "  ",
         "ال", "وال", "بال", "ية", "ين", "\u0640", "\u064e", "\u0301", "İ", "(", "«\xa0",
         "\u201c", "\u201d", "\u202f", "\u2013", "\u2014"]  # fmt: skip
_WORDS = ["the", "de", "le", "la", "au", "of", "ai", "ia", "a", "d", "new", "sud", "l'", "al"]

piece = st.one_of(
    st.builds(_respell, st.sampled_from(_SAMPLE_KEYS), st.randoms(use_true_random=False)),
    st.sampled_from(_GLUE),
    st.sampled_from(_WORDS),
)
scan_text = st.lists(piece, max_size=12).map("".join)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(scan_text)
def test_scan_same_matches_on_generated_text(text: str) -> None:
    assert_same_scan(TAGGER, REF, text)


def test_scan_lookbehind_form_for_terms_starting_with_punctuation() -> None:
    tagger = Tagger.from_settings({"dev": {"en": [".net", "c#"]}}, 1.0)
    assert tagger._latin.shift == 0  # the \W form would miss ".net" after a letter
    ref = RefScan(tagger)
    for text in ["ASP.NET and .net", ".net core\x00x.net", "c# and .NET in Morocco", "ai.net"]:
        assert_same_scan(tagger, ref, text)
    assert TAGGER._latin.shift == 1 and TAGGER._arabic.shift == 1


def test_latin1_spelling_with_replacements_and_the_full_one_only_when_needed() -> None:
    """Typographic text (’ – — and letters above U+00FF that fold to a Latin-1 base) reads with
    the Latin-1 spelling; only a class member that cannot be replaced (ʼ is a letter, ' is
    not) needs the full spelling, compiled then. Matches equal the reference's every time."""
    tagger = Tagger.from_settings({}, 1.0)
    ref = RefScan(tagger)
    typographic = ["L’intelligence artificielle au Sénégal — et au Maroc", "Côte d’Ivoire – Mali",
                   "Łódź, Ceaușescu et l’IA générative", "ﾠplain ascii Morocco"]  # fmt: skip
    for text in typographic:
        assert_same_scan(tagger, ref, text)
    assert tagger._latin._full is None
    tagging = tagger.tag("L’IA au Sénégal", "Côte d’Ivoire – Mali")
    assert set(tagging.countries) == {"SN", "CI", "ML"}
    for text in ["Moroccoʼs AI strategy", "Sénégalʼs IA – ā"]:
        assert_same_scan(tagger, ref, text)
    assert tagger._latin._full is not None


def test_latin1_text_read_with_the_ascii_spelling() -> None:
    """Text within Latin-1 has its class members replaced by their ASCII base and reads with
    the ASCII spelling: the same matches, on accents, typographic apostrophes, no-break spaces
    and Latin-1 letters that belong to no class."""
    assert TAGGER._latin.to_ascii is not None
    texts = ["Sénégal, Côte d'Ivoire et Maroc à l'IA générative", "CÔTE D’IVOIRE\xa0: l´IA",
             "ÉGYPTE–Soudan, Øresund, ðingvellir, «\xa0Afrique du\xa0Sud\xa0»", "Dakar×Bamakoé"]  # fmt: skip
    for text in texts:
        assert_same_scan(TAGGER, REF, text)
    assert TAGGER.tag("Sénégal", "").countries == ("SN",)


def test_common_typographic_characters_replaced_before_the_ascii_spelling() -> None:
    """Text that is Latin-1 once ’ ‘ “ ” – — and the narrow no-break space are replaced by
    their folds (no class holds “ ”, nor their fold; the others' fold is their class's base)
    reads with the ASCII spelling and is known to hold no Arabic: the same matches."""
    assert {c for c, _ in TAGGER._latin.common} == set("’‘“”–—\u202f")
    texts = ["« L’IA » au “Sénégal” — Maroc\u202f: Côte d‘Ivoire–Mali", "“Mali”", "l’Egypte”",
             "Afrique\u202fdu\u202fSud", "Afrique du—Sud", "Cote d’\u202fIvoire"]  # fmt: skip
    for text in texts:
        assert_same_scan(TAGGER, REF, text)
        assert TAGGER._latin.scan(low_of(text))[1] is False
    assert TAGGER._latin.scan(low_of("“المغرب” Maroc"))[1] is True


def test_separator_table_and_text_beyond_the_bmp() -> None:
    """The scan's separator is a table of the characters up to U+FFFF that ``\\w`` misses; a
    text holding a character above U+FFFF (an emoji: a separator; a mathematical letter: a word
    character) reads with ``\\W`` itself, so "𝐀maroc" names no country and "🔴Maroc" does."""
    tagger = Tagger.from_settings({}, 1.0)
    ref = RefScan(tagger)
    for text in ["🔴Maroc et l'IA", "𝐀maroc", "𝐀 Maroc – Sénégal", "a\U00010400mali", "x🇲🇦mali"]:
        assert_same_scan(tagger, ref, text)
    assert tagger._latin._wide is not None and tagger._latin._full is None
    assert tagger.tag("🔴Maroc", "").countries == ("MA",)
    assert tagger.tag("𝐀maroc", "").countries == ()


def test_no_evidence_shortcut_gives_the_empty_tagging() -> None:
    t = TAGGER.tag("Rien à signaler", "<p>Une journée calme.</p>", "fr")
    assert (t.tags, t.countries, dict(t.why)) == ((), (), {})
    assert TAGGER.tag("Rien à signaler", "Le Maroc et le Sénégal", "fr").countries


# --- clean_text -----------------------------------------------------------------------------------

_CLEAN_PIECES = ["Lire aussi", "lire également", "À lire aussi :", "A lire aussi", "LIRE AUSSI",
                 "LİRE AUSSI", "lıre aussı", "Lire la suite", "lire ", "IRE ", "ire aussi",
                 "The post", " appeared first on ", "The post X appeared first on Y.",
                 "Cet article", " est apparu en premier sur ",
                 "Cet article X est apparu en premier sur Y", "Continue reading", "BBC Afrique", "À lire sur BBC Afrique :",
                 "Read more", "d'autres épisodes", ". ", "  ", "Maroc", "texte", "<p>", "&amp;",
                 "\n", "ſ", "É"]  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(_CLEAN_PIECES), max_size=8).map("".join))
def test_clean_text_same_as_reference(text: str) -> None:
    assert tagging.clean_text(text) == ref_clean_text(text)


@pytest.mark.skipif(not CORPUS_TEXTS, reason="corpus copy not found")
def test_clean_text_same_on_corpus_text() -> None:
    for text in CORPUS_TEXTS:
        assert tagging.clean_text(text) == ref_clean_text(text)


# --- the learned features' cue before a country ---------------------------------------------------

_CUE_PIECES = ["via", "vi", " ", "la ", "a ", "vers", "sommet tenu a", "au", "en", "forum", ".",
               "comme", "tel que", "tels que", "teles", "fui", "ont fui", "visits", "visit ", "b",
               "near", "neighbouring", "neighboring", "en route vers", "transiting through", "!",
               "عبر", "متجهة الى", "فروا نحو", "قمة", "في", "ب", "مثل", ":", "x" * 12, "dakar"]  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(_CUE_PIECES), max_size=8).map("".join))
def test_cue_needles_rule_out_only_windows_without_a_cue(window: str) -> None:
    assert context.cue_before(window) == (context._CUE_BEFORE.search(window) is not None)


@pytest.mark.skipif(not CORPUS_TEXTS, reason="corpus copy not found")
def test_cue_needles_on_corpus_windows() -> None:
    n = 0
    for text in CORPUS_TEXTS:
        low = fold_keep_case(text)[0].lower()
        for i in range(0, len(low), 5):
            window = low[max(0, i - 40) : i]
            found = context._CUE_BEFORE.search(window) is not None
            assert context.cue_before(window) == found, window
            n += found
    assert n > 20


def ref_in_list(text: str, start: int, end: int, item: bool = True) -> bool:
    near = text[max(0, start - 14) : end + 14]
    if "," not in near and "،" not in near:
        return False
    before = text[max(0, start - 60) : start]
    after = text[end : end + 60]
    if len(features._LIST_SEP.findall(before + " | " + after)) < 2:
        return False
    if not item:
        return True
    ends = [m.end() for m in features._ITEM_END.finditer(before)]
    left = len(before) - ends[-1] if ends else len(before)
    m = features._ITEM_END.search(after)
    right = m.start() if m else len(after)
    return left + right <= features.LIST_ITEM_CHARS


_LIST_PIECES = [",", "،", ";", " et ", " and ", "...", "…", " ou ", "or", "x" * 9, " ", "IA",
                "Maroc", ".", "etc", "andes"]  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(_LIST_PIECES), max_size=14), st.integers(0, 13))
def test_in_list_counts_separators_as_the_regex(pieces: list[str], at: int) -> None:
    start = len("".join(pieces[:at]))
    text = "".join(pieces[:at]) + "Maroc" + "".join(pieces[at:])
    for item in (True, False):
        assert features._in_list(text, start, start + 5, item) == ref_in_list(
            text, start, start + 5, item
        )


def test_needles_of_a_pattern() -> None:
    assert context.needles(re.compile(r"(?:\bvia|fled|tel(?:le)?s? que)[^.]{0,9}$")) == (
        " que", "fled", "via"
    )  # fmt: skip
    assert context.needles(re.compile(r"(?:a|bc)+x")) == ("a", "bc")
    assert context.needles(re.compile(r"a?b*")) is None
    assert context.needles(re.compile("via", re.IGNORECASE)) is None
    assert context._CUE_NEEDLES is not None and "via" in context._CUE_NEEDLES


# --- feedparser's text fix-up ---------------------------------------------------------------------

_FP_ALPHABET = st.sampled_from(
    [
        *"ab \n\t",
        "é",
        "Ã©",
        "Ã",
        "\xa9",
        "\x80",
        "\x93",
        "\x9d",
        "\xbf",
        "\xc0",
        "\xff",
        "’",
        "â€™",
        "ولي",
        "\ud800",
        "😀",
        "«\xa0",
        "\xa0",
        "ß",
    ]
)


@settings(max_examples=800, deadline=None)
@given(st.lists(_FP_ALPHABET, max_size=8).map("".join))
def test_fp_text_same_as_reference(text: str) -> None:
    assert _fp_text(text) == ref_fp_text(text)


# --- sanitize_html: &nbsp; in the shortcut ------------------------------------------------------

_SAN_WORDS = ["a", "é", " ", "\n", "\xa0", "&nbsp;", "&nbsp", "&NBSP;", "&&nbsp;", "&nbsp;nbsp;",
              "&amp;", "&#160;", ">", "\r", "x.", '"', "ولي"]  # fmt: skip
_san_text = st.lists(st.sampled_from(_SAN_WORDS), max_size=4).map("".join)
_IMG_SRC = ["https://x.org/a.jpg", "http://x.org/w p.jpg", "/rel.jpg", "https://x.org/a&b.jpg",
            "https://xn--a.org/a.jpg", "javascript:alert(1)", "https://x.org/a\"b", ""]  # fmt: skip
_IMG_ALT = ["", "Une photo", 'a "q"', "a&amp;b", "a\xa0b", "l'été", "<b>", "x\ny", "&nbsp;"]
_IMG_END = ['"/>', '" />', '">', '"/ >', '"/></img>']
_san_img = st.builds(
    lambda src, alt, w, end, tag: f'<{tag} src="{src}" alt="{alt}" width="{w}" height="360{end}',
    st.sampled_from(_IMG_SRC),
    st.sampled_from(_IMG_ALT),
    st.sampled_from(["640", "0", "123456", "6a"]),
    st.sampled_from(_IMG_END),
    st.sampled_from(["img", "img", "IMG"]),
)
_san_inline = st.one_of(
    _san_text,
    _san_img,
    st.builds(lambda t: f'<a href="https://x.org/a">{t}</a>', _san_text),
    st.builds(lambda t: f'<a href="https://x.org/a&nbsp;b">{t}</a>', _san_text),
    st.builds(lambda t, p: f"<{t}>{p}</{t}>", st.sampled_from(["strong", "em", "b"]), _san_text),
)
_san_doc = st.lists(
    st.one_of(
        _san_inline, st.lists(_san_inline, max_size=3).map(lambda xs: "<p>" + "".join(xs) + "</p>")
    ),
    max_size=4,
).map("".join)


@settings(max_examples=800, deadline=None)
@given(_san_doc)
def test_sanitize_nbsp_shortcut_equals_nh3(markup: str) -> None:
    assert sanitize_html(markup) == _CLEANER.clean(clean_chars(markup)).strip()


def test_sanitize_nbsp_example() -> None:
    body = '<p>Un texte&nbsp;: <strong>gras</strong> et <a href="https://x.org/a">lien</a></p>'
    expected = _CLEANER.clean(body).strip()
    assert sanitize_html(body) == expected
    assert "&nbsp;" in expected and 'rel="noopener noreferrer nofollow"' in expected
    img = '<p>Texte.</p>\n<p><img src="https://x.org/i.jpg" alt="" width="640" height="360"/></p>'
    assert _SIMPLE_HTML.fullmatch(img) and _SIMPLE_HTML.fullmatch(body.replace("&nbsp;", "\xa0"))
    assert sanitize_html(img) == _CLEANER.clean(img).strip()
    assert sanitize_html(img).endswith('height="360"></p>')


# --- character-class shortcuts -----------------------------------------------------------------


def test_shortcut_character_classes() -> None:
    """clean_chars skips printable text, strip_marks skips ASCII text: sound only while no
    invisible character is printable and no dropped mark is ASCII."""
    from aggregator.sanitize import _INVISIBLE
    from aggregator.text import _POSITION_WORK as _DROP

    chars = [chr(i) for i in range(0x110000)]
    assert not [c for c in chars if _INVISIBLE.match(c) and c.isprintable()]
    assert not [c for c in chars[:128] if _DROP.match(c)]
    assert clean_chars("a\u200bb\x07") == "ab" and clean_chars("") == ""
    assert strip_marks("ma\u0640rocain")[0] == "marocain"
